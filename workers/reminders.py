"""Polling-day reminders: scheduled with RQ when a pledge is made, checked when they fire.

A reminder is cancelled by STOP, CHANGE or DELETE simply by no longer matching the
person's pledge when it fires; DELETE also removes the scheduled jobs, which name the
person. Each (person, pledge, reminder) is sent once, guarded by a Redis key.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime

from rq import Queue
from rq.job import Job

from bot.campaign import due_reminders
from bot.model import Outbound
from bot.state import Pledge, State
from handlers import say
from workers import outbound
from workers.queues import BROADCAST, JOB_TTLS, cancel_tracked, track
from workers.runtime import Runtime, runtime

log = logging.getLogger(__name__)
SENT_TTL = 60 * 24 * 3600


def _jobs_key(rt: Runtime, address: str) -> str:
    return rt.store.key("remjobs", address)


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
            **JOB_TTLS,
        )  # fmt: skip
        for d in due
    ]
    track(rt.redis, _jobs_key(rt, address), (j.id for j in jobs))
    return jobs


def cancel_all(rt: Runtime, address: str) -> int:
    """Remove every scheduled reminder for an address (STOP, DELETE, the purge)."""
    return cancel_tracked(rt.redis, _jobs_key(rt, address))


def remind(address: str, room_id: str, shifts: list[str], name: str, about: list[str]) -> str:
    """RQ job: send one reminder if the pledge still stands; what happened, for the log."""
    rt = runtime()
    store = rt.store
    conv = store.load(address)
    if conv is None or conv.state is State.STOPPED or conv.pledge != Pledge(room_id, tuple(shifts)):
        return "cancelled"
    if store.was_stopped(address) or store.unreachable(address):
        return "unreachable"
    room = rt.world.directory.rooms.get(room_id)
    if room is None:
        return "room gone"
    person = hashlib.sha256(address.encode()).hexdigest()[:24]
    once = store.key("reminded", person, room_id, ",".join(shifts), name, ",".join(about))
    if not rt.redis.set(once, 1, nx=True, ex=SENT_TTL):
        return "already sent"
    text = say.text(conv, "reminder", **say.pledge_values(rt.settings.campaign, room, about))
    channel, chat = address.split(":", 1)
    while not rt.pacer.acquire(channel, chat, timeout=5.0):
        pass  # reminders are bulk: they wait their turn behind the rate limit
    outbound.deliver(rt, [Outbound(address, text)], record=False)
    return "sent"
