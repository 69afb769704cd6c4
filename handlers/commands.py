"""Fallbacks that work in every state: STOP, START, HELP, CHANGE, DELETE."""

from __future__ import annotations

from bot.model.message import Inbound
from bot.model.person import WITHDRAWN_BY_STOP, Consent, Conversation, State
from bot.model.turn import Erase, Forget, Release, SetStopped, Turn, World
from handlers import done, new, say, standby
from handlers.words import Command


def stop(conv: Conversation, msg: Inbound, world: World) -> Turn:
    """Confirm once, release the pledge, withdraw consent to updates (the ledger records
    it), then stay silent until START."""
    room = world.directory.rooms.get(conv.pledge.room_id) if conv.pledge else None
    reply = (
        say.say(conv, "stop_released", room=room.name) if room else say.say(conv, "stop_confirm")
    )
    consent = conv.consent
    if consent is not None and consent.granted:
        consent = Consent(False, say.stamp(world), conv.channel, WITHDRAWN_BY_STOP)
    stopped = conv.evolve(
        state=State.STOPPED,
        pledge=None,
        offers=(),
        offer_index=0,
        shifts=(),
        consent=consent,
        held=None,
        held_until=0,
    )
    effects = [Release(conv.address), SetStopped(conv.address, True), Forget(conv.address)]
    return Turn(stopped, [reply], effects)


def resume(conv: Conversation, msg: Inbound, world: World) -> Turn:
    """START after STOP: welcome back and begin again (asked about updates again, if STOP
    withdrew their yes)."""
    withdrawn = conv.consent is not None and conv.consent.version == WITHDRAWN_BY_STOP
    conv = conv.evolve(state=State.ASK_LOCATION, consent=None if withdrawn else conv.consent)
    reply = say.ask_location(conv, say.text(conv, "welcome_back"))
    return Turn(conv, [reply], [SetStopped(conv.address, False)])


def restart(conv: Conversation, msg: Inbound, world: World) -> Turn:
    """START (or /start) mid-journey: show the pledge (or the standby lists) if there is
    one, else welcome again."""
    if conv.pledge:
        return done.done(conv.evolve(state=State.DONE), msg, world)
    if conv.state is State.STANDBY:  # still waiting for a place: say so
        return Turn(conv, [standby.status(conv, world)])
    conv = conv.evolve(state=State.ASK_LOCATION, offers=(), offer_index=0)
    return Turn(conv, new.welcome(conv, world))


def help_(conv: Conversation, msg: Inbound, world: World) -> Turn:
    """What the bot does and how to reach organisers."""
    c = world.campaign
    return Turn(
        conv,
        [say.say(conv, "help", polling_day=say.day(c.polling_day), contact=c.organiser_contact)],
    )


def change(conv: Conversation, msg: Inbound, world: World) -> Turn:
    """Start over: release the pledge and ask where they are."""
    conv = conv.evolve(
        state=State.ASK_LOCATION,
        postcode=None,
        location=None,
        shifts=(),
        offers=(),
        offer_index=0,
        pledge=None,
        held=None,
        held_until=0,
    )
    reply = say.ask_location(conv, say.text(conv, "change"))
    return Turn(conv, [reply], [Release(conv.address)])


def delete(conv: Conversation, msg: Inbound, world: World) -> Turn:
    """Erase everything except the suppression record, and confirm."""
    reply = say.say(conv, "deleted", id_kind=say.text(conv, "id_kind"))
    return Turn(None, [reply], [Erase(conv.address)])


FALLBACKS = {
    Command.STOP: stop,
    Command.START: restart,
    Command.HELP: help_,
    Command.CHANGE: change,
    Command.DELETE: delete,
}
