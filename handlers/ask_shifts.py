"""ASK_SHIFTS: which polling-day shifts the person can do."""

from __future__ import annotations

from bot.model.message import Inbound
from bot.model.person import Conversation
from bot.model.turn import Turn, World
from handlers import offer, say, standby
from handlers.answers import Unsure, asks_for_standby, read_shift_reply


def ask_shifts(conv: Conversation, msg: Inbound, world: World) -> Turn:
    """Take the times as people write them (numbers, names, "after work", "from 4", ALL
    DAY) or a button; then make an offer. An answer that could mean two things gets a
    question back, and one we cannot use gets the choices again: never a dead end. When
    every room was full, STANDBY waits for a place (handlers/standby.py)."""
    campaign = world.campaign
    if msg.payload == "standby" or asks_for_standby(msg.text):
        return standby.join(conv, world)
    shifts = read_shift_reply(msg.text, msg.payload, campaign.shifts)
    if isinstance(shifts, Unsure):
        question = say.text(conv, "shifts_which_hour", hour=shifts.hour)
        return Turn(conv, [say.ask_shifts(conv, campaign, question)])
    if not shifts:
        key = "unsupported" if msg.unsupported else "shifts_unclear"
        return Turn(conv, [say.ask_shifts(conv, campaign, say.text(conv, key))])
    return offer.first_offer(conv.evolve(shifts=shifts), world)
