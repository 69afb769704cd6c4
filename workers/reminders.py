"""Polling-day reminders: timed events kept for the person when a pledge is made.

Each reminder is a ``reminder`` system event (bot/store/timed.py) that reaches the
person's inbox when due and is handled in order with what they wrote (handlers/done.py):
it is sent only if the pledge it names still stands and they have not said STOP, so STOP
and CHANGE cancel it by what it finds, and DELETE and the purge remove it with the
person. The event's id derives from the person, pledge and reminder, so scheduling it
again (a turn replayed after a crash) keeps one, and a replayed turn sends it once.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta

from bot import daytime
from bot.campaign import chases, due_reminders, vote_message_at
from bot.model.message import Inbound
from bot.model.person import Pledge
from workers.runtime import Runtime

REMINDER = "reminder"  # the event's name (bot/conversation.py's EVENTS)
ATTENDANCE = "attendance"  # after a shift starts: on your way? then a no-show (handlers/)
VOTE = "vote"  # as the polls open: have you voted? (handlers/vote.py)
# Timed events go to the front of their reply lane, so one vote message per supporter all
# at 07:00 would hold up everyone who writes then (40,000 on Telegram at 30/s: 22 minutes).
# Each person's goes at a fixed point of the hour after, from their one-way id: about 11 a
# second for 40,000, well inside every channel's rate.
VOTE_SPREAD = 3600  # seconds
# Reminders likewise: everyone on the morning shift would be reminded at 06:00 at once (and
# everyone at 18:00 the evening before). Each person's come at their own point of the
# quarter hour before, never later than the time set.
REMINDER_SPREAD = 900  # seconds


def schedule(rt: Runtime, address: str, pledge: Pledge, now: datetime | None = None) -> int:
    """Keep this pledge's reminders for their times (those still in the future), the
    checks after each shift starts (on your way? then a no-show), and the "have you
    voted?" message as the polls open; how many reminders."""
    c = rt.settings.campaign
    now = now or daytime.now_dt()
    point = int(rt.store.suppression.hid(address)[:8], 16)  # this person's, every time
    early = timedelta(seconds=point % REMINDER_SPREAD)
    due = due_reminders(c.polling_day, c.timezone, c.shifts, pledge.shifts, c.reminders, now)
    for d in due:
        about = {"name": d.spec.name, "about": list(d.shift_ids)}
        at = max(d.at - early, now)
        _keep(rt, address, pledge, REMINDER, about, d.spec.name, d.shift_ids, at)
    wait = timedelta(minutes=c.no_show_wait_minutes)
    for shift, step, at in chases(c.polling_day, c.timezone, c.shifts, pledge.shifts, wait, now):
        _keep(rt, address, pledge, ATTENDANCE, {"shift": shift, "step": step}, step, (shift,), at)
    spread = timedelta(seconds=point % VOTE_SPREAD)
    if (vote_at := vote_message_at(c.polling_day, c.timezone) + spread) > now:
        _keep(rt, address, pledge, VOTE, {}, VOTE, (), vote_at)
    return len(due)


def _keep(
    rt: Runtime, address: str, pledge: Pledge, event: str, about: dict[str, object],
    name: str, shifts: Sequence[str], at: datetime,
) -> None:  # fmt: skip
    """Keep one timed event about this pledge until ``at``; its place in the send line is
    when it falls due, and its id derives from the person, pledge and ``name``."""
    payload = {"room": pledge.room_id, "shifts": list(pledge.shifts), **about}
    rt.store.timed.add(
        Inbound(
            address,
            event=event,
            payload=json.dumps(payload, separators=(",", ":")),
            external_id=_event_id(rt, address, pledge, name, shifts),
            received_at=at.timestamp(),
        ),
        at.timestamp(),
    )


def reschedule_all(rt: Runtime, now: datetime | None = None) -> int:
    """The polling day moved: every pledge's reminders again, from the new day; how many
    people have reminders now."""
    moved = 0
    for address, (room_id, shifts) in rt.store.places.pledges().items():
        rt.store.timed.drop(address, REMINDER)
        rt.store.timed.drop(address, ATTENDANCE)
        rt.store.timed.drop(address, VOTE)
        moved += bool(schedule(rt, address, Pledge(room_id, shifts), now))
    return moved


def _event_id(rt: Runtime, address: str, pledge: Pledge, name: str, about: Sequence[str]) -> str:
    """The same id for the same reminder of the same pledge; no address in it."""
    what = f"{address}|{pledge.room_id}|{','.join(pledge.shifts)}|{name}|{','.join(about)}"
    return "remind-" + rt.store.suppression.hid(what)
