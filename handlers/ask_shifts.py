"""ASK_SHIFTS: which polling-day shifts the person can do."""

from __future__ import annotations

from bot.model.message import Inbound
from bot.model.person import Conversation
from bot.model.turn import Turn, World
from handlers import offer, say
from handlers.words import parse_shifts


def ask_shifts(conv: Conversation, msg: Inbound, world: World) -> Turn:
    """Take shift numbers, ids, label words or ALL DAY (or a button); then make an offer."""
    campaign = world.campaign
    # A button's payload is "shift:<id>" or "shift:all": the same words a person could type.
    pressed = msg.payload.removeprefix("shift:") if msg.payload else None
    shifts = parse_shifts(pressed or msg.text, campaign.shifts)
    if not shifts:
        key = "unsupported" if msg.unsupported else "shifts_unclear"
        return Turn(conv, [say.ask_shifts(conv, campaign, say.text(conv, key))])
    return offer.first_offer(conv.evolve(shifts=shifts), world)
