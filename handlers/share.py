"""ASK_CONSENT and after: record consent to updates, then send the forwardable share message."""

from __future__ import annotations

from bot.model import Button, Inbound, Outbound
from bot.state import Consent, Conversation, State, Turn, World
from handlers import say
from handlers.words import is_no, is_yes
from messages import catalogue
from messages.share import share_message


def ask_consent(conv: Conversation) -> Outbound:
    """The one-time question about polling-day updates."""
    return say.say(
        conv,
        "ask_consent",
        Button(say.text(conv, "yes_updates_button"), "consent:yes"),
        Button(say.text(conv, "no_updates_button"), "consent:no"),
    )


def consent(conv: Conversation, msg: Inbound, world: World) -> Turn:
    """Record YES/NO with time, channel and wording version; then the share message."""
    answer = msg.payload or msg.text
    if msg.payload == "consent:yes" or answer.strip() == "1" or is_yes(answer):
        granted = True
    elif msg.payload == "consent:no" or answer.strip() == "2" or is_no(answer):
        granted = False
    else:
        return Turn(conv, [say.say(conv, "consent_unclear")])
    record = Consent(
        granted,
        say.stamp(world),
        conv.channel,
        catalogue()["consent_version"],
    )
    code = conv.code or world.code_for(conv.address)
    conv = conv.evolve(state=State.DONE, consent=record, code=code)
    return Turn(
        conv,
        [
            say.say(conv, "consent_yes" if granted else "consent_no"),
            say.say(conv, "share_intro"),
            Outbound(conv.address, share_text(conv, world)),
        ],
    )


def share_text(conv: Conversation, world: World) -> str:
    """The share message with this person's personal links."""
    c = world.campaign
    assert conv.code and conv.pledge
    room = world.directory.rooms.get(conv.pledge.room_id)
    return share_message(
        c.telegram_username,
        c.whatsapp_number,
        conv.code,
        constituency=room.constituency if room else "",
        polling_day=say.day(c.polling_day),
    )


def status(conv: Conversation, world: World) -> Outbound:
    """Where the person is down to help, and what they can do next."""
    assert conv.pledge
    room = world.directory.rooms[conv.pledge.room_id]
    values = say.pledge_values(world.campaign, room, conv.pledge.shifts)
    return say.say(conv, "status", **values)


def done(conv: Conversation, msg: Inbound, world: World) -> Turn:
    """DONE: anything they send gets a reminder of their pledge and the commands."""
    if not conv.pledge or conv.pledge.room_id not in world.directory.rooms:
        conv = conv.evolve(state=State.ASK_LOCATION, pledge=None)  # nothing to show: start again
        return Turn(conv, [say.ask_location(conv)])
    return Turn(conv, [status(conv, world)])
