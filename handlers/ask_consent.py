"""ASK_CONSENT: record the answer to the updates question, then send the share message."""

from __future__ import annotations

from bot.model.message import Button, Inbound, Outbound
from bot.model.person import Consent, Conversation, State
from bot.model.turn import Turn, World
from handlers import say
from handlers.answers import says_no, says_yes
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
    if msg.payload == "consent:yes" or answer.strip() == "1" or says_yes(answer):
        granted = True
    elif msg.payload == "consent:no" or answer.strip() == "2" or says_no(answer):
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
            Outbound(conv.address, share_text(conv, world), alone=True),
        ],
    )


def share_text(conv: Conversation, world: World) -> str:
    """The share message with this person's personal links."""
    c = world.campaign
    assert conv.code and conv.pledge
    room = world.directory.rooms.get(conv.pledge.room_id)
    return share_message(
        conv.code,
        telegram=c.telegram_username,
        whatsapp=c.whatsapp_number,
        sms=c.sms_number,
        campaign=c.name,
        constituency=room.seat_name if room else "",
        polling_day=say.day(c.polling_day),
        imprint=c.imprint,
    )
