"""ASK_SHIFTS: which polling-day shifts the person can do."""

from __future__ import annotations

from bot.model import Inbound
from bot.state import Conversation, Turn, World
from handlers import offer, say
from handlers.words import parse_shifts


def ask_shifts(conv: Conversation, msg: Inbound, world: World) -> Turn:
    """Take shift numbers, ids, label words or ALL DAY (or a button); then make an offer."""
    campaign = world.campaign
    if msg.payload and msg.payload.startswith("shift:"):
        choice = msg.payload.removeprefix("shift:")
        shifts = (
            campaign.shift_ids
            if choice == "all"
            else ((choice,) if choice in campaign.shift_ids else None)
        )
    else:
        shifts = parse_shifts(msg.text, campaign.shifts)
    if not shifts:
        key = "unsupported" if msg.unsupported else "shifts_unclear"
        return Turn(conv, [say.ask_shifts(conv, campaign, say.text(conv, key))])
    return offer.first_offer(conv.evolve(shifts=shifts), world)
