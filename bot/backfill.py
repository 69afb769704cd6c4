"""Backfill, the pure part: which shifts are filled on the day, who is free to be asked, and
the pledge a YES makes.

A person keeps one pledge (one room), so someone is free for a gap at a room if they have
no pledge, are pledged at that room for other shifts (the shift is added), or every shift
they pledged elsewhere is over (their place moves, as their day there is done). Someone
pledged at another room for a shift still to come, or mid-way through the journey, is not
asked: the answer would take them from one room to fill another.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.campaign import Campaign, Shift, shift_window
from bot.model.person import Conversation, Pledge, State

ASKABLE = (State.DONE, State.ASK_SHIFTS)  # pledged, or told us they can't and are free
LEAD = timedelta(minutes=90)  # the next shift is filled from this long before it starts


def shifts_to_fill(
    polling_day: date, tz: ZoneInfo, shifts: Sequence[Shift], now: datetime
) -> tuple[str, ...]:
    """The shifts a short room is backfilled for at ``now``: those under way and the next
    to start. Between shifts (and before the first) the next one only from ``LEAD`` before
    it starts, so nobody is asked in the night, and nobody is used up before the day."""
    windows = [(s.id, *shift_window(polling_day, tz, s)) for s in shifts]
    under_way = [sid for sid, start, end in windows if start <= now < end]
    to_come = sorted((start, sid) for sid, start, _ in windows if start > now)[:1]
    if not under_way and (not to_come or to_come[0][0] - now > LEAD):
        return ()
    return (*under_way, *(sid for _, sid in to_come))


def shifts_over(
    polling_day: date, tz: ZoneInfo, shifts: Sequence[Shift], now: datetime
) -> frozenset[str]:
    """The shifts that have ended by ``now``."""
    return frozenset(s.id for s in shifts if shift_window(polling_day, tz, s)[1] <= now)


def free_for(conv: Conversation | None, room: str, shift: str, over: frozenset[str]) -> bool:
    """May this person be asked to come to ``room`` for ``shift``? (Consent and STOP are
    checked here too, as well as by the index they were found in.)"""
    if conv is None or conv.state not in ASKABLE or shift in over:
        return False
    if conv.consent is None or not conv.consent.granted:
        return False
    p = conv.pledge
    if p is None:
        return True
    if shift in p.shifts:
        return False
    return p.room_id == room or all(s in over for s in p.shifts)


def pledge_after_yes(conv: Conversation, room: str, shift: str, c: Campaign) -> Pledge:
    """Their pledge once they take the place: the shift added at the same room, else the
    new room for that shift alone (``free_for`` said their other shifts are over)."""
    p = conv.pledge
    shifts = {shift, *(p.shifts if p and p.room_id == room else ())}
    return Pledge(room, tuple(s for s in c.shift_ids if s in shifts))
