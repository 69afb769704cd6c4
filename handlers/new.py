"""First contact: welcome, privacy notice, referral credit, then the location question."""

from __future__ import annotations

import re

from bot.model.message import Inbound, Outbound
from bot.model.person import Conversation, State
from bot.model.turn import FirstContact, Turn, World
from handlers import say

# "/start CODE" from a t.me link, "(ref CODE)" from the prefilled WhatsApp text, or a text
# "ref CODE" as the share message tells people without a smartphone (any case).
CODE = re.compile(
    r"^/start(?:@\w+)?\s+([A-Za-z0-9_-]{4,64})\s*$|\b(?i:ref)[:\s]+([A-Za-z0-9]{4,16})\b"
)


def referral_code(text: str) -> str | None:
    """The sharer's code carried by a first message, if any."""
    match = CODE.search(text.strip())
    return (match[1] or match[2]).upper() if match else None


def first_contact(msg: Inbound, world: World) -> Turn:
    """Someone new (or newly erased): welcome them, credit their sharer, ask where they are."""
    conv = Conversation(msg.address, State.ASK_LOCATION)
    code = referral_code(msg.text)
    sharer = world.sharer_of(code) if code else None
    if sharer == msg.address:
        sharer = None
    # Seen, and their sharer credited (and told) if this address was never seen before.
    return Turn(conv, welcome(conv, world), [FirstContact(msg.address, sharer)])


def welcome(conv: Conversation, world: World) -> list[Outbound]:
    """Welcome, privacy notice and the location question."""
    c = world.campaign
    hello = say.text(conv, "welcome", campaign=c.name, polling_day=say.day(c.polling_day))
    privacy = say.text(
        conv, "privacy", id_kind=say.text(conv, "id_kind"), retention_days=c.retention_days
    )
    return [Outbound(conv.address, f"{hello}\n\n{privacy}"), say.ask_location(conv)]
