"""Polling-day reminders: scheduled with RQ when a pledge is made, checked when they fire.

A reminder is cancelled by STOP, CHANGE or DELETE simply by no longer matching the
person's pledge when it fires; DELETE also removes the scheduled jobs, which name the
person. Each (person, pledge, reminder) is sent once, guarded by a Redis key.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime

from rq import Queue
from rq.job import Job

from bot.campaign import due_reminders
from bot.model.message import Outbound
from bot.model.person import Pledge, State
from bot.store import keys
from handlers import say
from workers import outbound
from workers.queues import BROADCAST, JOB_TTLS, cancel_tracked, track
from workers.runtime import Runtime, runtime

log = logging.getLogger(__name__)


def _jobs_key(rt: Runtime, address: str) -> str:
    return keys.REMINDERS(rt.store.p, address=address)


def schedule(rt: Runtime, address: str, pledge: Pledge, now: datetime | None = None) -> list[Job]:
    """Queue this pledge's reminders at their times (those still in the future)."""
    c = rt.settings.campaign
    due = due_reminders(
        c.polling_day, c.timezone, c.shifts, pledge.shifts, c.reminders, now or datetime.now(UTC)
    )
    q = Queue(BROADCAST, connection=rt.redis)
    jobs = [
        q.enqueue_at(
            d.at,
            remind,
            address,
            pledge.room_id,
            list(pledge.shifts),
            d.spec.name,
            list(d.shift_ids),
            job_id=_job_id(rt, address, pledge, d.spec.name, d.shift_ids),
            **JOB_TTLS,
        )  # fmt: skip
        for d in due
    ]
    track(rt.redis, _jobs_key(rt, address), (j.id for j in jobs))
    return jobs


def _job_id(rt: Runtime, address: str, pledge: Pledge, name: str, about: Sequence[str]) -> str:
    """The same id for the same reminder of the same pledge, so scheduling it again (a turn
    replayed after a crash) replaces the job instead of adding a second; no address in it."""
    what = f"{address}|{pledge.room_id}|{','.join(pledge.shifts)}|{name}|{','.join(about)}"
    return "remind-" + rt.store.suppression.hid(what)


def cancel_all(rt: Runtime, address: str) -> int:
    """Remove every scheduled reminder for an address (STOP, DELETE, the purge)."""
    return cancel_tracked(rt.redis, _jobs_key(rt, address))


def remind(address: str, room_id: str, shifts: list[str], name: str, about: list[str]) -> str:
    """RQ job: send one reminder if the pledge still stands; what happened, for the log."""
    rt = runtime()
    store = rt.store
    conv = store.people.load(address)
    if conv is None or conv.state is State.STOPPED or conv.pledge != Pledge(room_id, tuple(shifts)):
        return "cancelled"
    if store.suppression.was_stopped(address) or store.people.unreachable(address):
        return "unreachable"
    room = rt.world.directory.rooms.get(room_id)
    if room is None:
        return "room gone"
    once = keys.REMINDED(store.p, hid=store.suppression.hid(address), room=room_id,
                         shifts=",".join(shifts), name=name, about=",".join(about))  # fmt: skip
    if not rt.redis.set(once, 1, nx=True, ex=keys.REMINDED.ttl):
        return "already sent"
    text = say.text(conv, "reminder", **say.pledge_values(rt.settings.campaign, room, about))
    channel, chat = address.split(":", 1)
    while not rt.pacer.acquire(channel, chat, timeout=5.0):
        pass  # reminders are bulk: they wait their turn behind the rate limit
    # In the person's outbox, sent in order with their replies (never racing their turn).
    outbound.queue(rt, address, [Outbound(address, text)])
    return "sent"
