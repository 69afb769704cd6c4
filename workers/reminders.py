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
from datetime import UTC, datetime, timedelta

from bot.campaign import chases, due_reminders
from bot.model.message import Inbound
from bot.model.person import Pledge
from workers.runtime import Runtime

REMINDER = "reminder"  # the event's name (bot/conversation.py's EVENTS)
ATTENDANCE = "attendance"  # after a shift starts: on your way? then a no-show (handlers/)


def schedule(rt: Runtime, address: str, pledge: Pledge, now: datetime | None = None) -> int:
    """Keep this pledge's reminders for their times (those still in the future), and the
    checks after each shift starts (on your way? then a no-show); how many reminders."""
    c = rt.settings.campaign
    now = now or datetime.now(UTC)
    due = due_reminders(c.polling_day, c.timezone, c.shifts, pledge.shifts, c.reminders, now)
    for d in due:
        about = {"room": pledge.room_id, "shifts": list(pledge.shifts), "name": d.spec.name,
                 "about": list(d.shift_ids)}  # fmt: skip
        event = Inbound(
            address,
            event=REMINDER,
            payload=json.dumps(about, separators=(",", ":")),
            external_id=_event_id(rt, address, pledge, d.spec.name, d.shift_ids),
            received_at=d.at.timestamp(),  # its place in the send line: when it falls due
        )
        rt.store.timed.add(event, d.at.timestamp())
    wait = timedelta(minutes=c.no_show_wait_minutes)
    for shift, step, at in chases(c.polling_day, c.timezone, c.shifts, pledge.shifts, wait, now):
        about = {"room": pledge.room_id, "shifts": list(pledge.shifts), "shift": shift,
                 "step": step}  # fmt: skip
        event = Inbound(
            address,
            event=ATTENDANCE,
            payload=json.dumps(about, separators=(",", ":")),
            external_id=_event_id(rt, address, pledge, step, (shift,)),
            received_at=at.timestamp(),
        )
        rt.store.timed.add(event, at.timestamp())
    return len(due)


def reschedule_all(rt: Runtime, now: datetime | None = None) -> int:
    """The polling day moved: every pledge's reminders again, from the new day; how many
    people have reminders now."""
    moved = 0
    for address, (room_id, shifts) in rt.store.places.pledges().items():
        rt.store.timed.drop(address, REMINDER)
        rt.store.timed.drop(address, ATTENDANCE)
        moved += bool(schedule(rt, address, Pledge(room_id, shifts), now))
    return moved


def _event_id(rt: Runtime, address: str, pledge: Pledge, name: str, about: Sequence[str]) -> str:
    """The same id for the same reminder of the same pledge; no address in it."""
    what = f"{address}|{pledge.room_id}|{','.join(pledge.shifts)}|{name}|{','.join(about)}"
    return "remind-" + rt.store.suppression.hid(what)
