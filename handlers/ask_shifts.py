"""ASK_SHIFTS: which polling-day shifts the person can do."""

from __future__ import annotations

from bot.model.message import Inbound
from bot.model.person import Conversation
from bot.model.turn import Turn, World
from handlers import offer, say
from handlers.answers import Unsure, read_shifts


def ask_shifts(conv: Conversation, msg: Inbound, world: World) -> Turn:
    """Take the times as people write them (numbers, names, "after work", "from 4", ALL
    DAY) or a button; then make an offer. An answer that could mean two things gets a
    question back, and one we cannot use gets the choices again: never a dead end."""
    campaign = world.campaign
    # A button's payload is "shift:<id>" or "shift:all": the same words a person could type.
    pressed = msg.payload.removeprefix("shift:") if msg.payload else None
    if pressed is not None:  # a button: exactly a shift, or all (an old button may name none)
        ids = campaign.shift_ids
        shifts = ids if pressed == "all" else (pressed,) if pressed in ids else None
    else:
        shifts = read_shifts(msg.text, campaign.shifts)
    if isinstance(shifts, Unsure):
        question = say.text(conv, "shifts_which_hour", hour=shifts.hour)
        return Turn(conv, [say.ask_shifts(conv, campaign, question)])
    if not shifts:
        key = "unsupported" if msg.unsupported else "shifts_unclear"
        return Turn(conv, [say.ask_shifts(conv, campaign, say.text(conv, key))])
    return offer.first_offer(conv.evolve(shifts=shifts), world)
