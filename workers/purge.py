"""Purging personal data after polling day (``retention_days`` later, default 30).

What goes: conversations, pledges, referral codes and counts, consent and window indexes,
inboxes, broadcast recipient lists and ledgers, scheduled reminders, failed jobs (which
name people). What stays: the suppression records (a one-way id of each address: seen,
STOP, and the consent evidence: answer, time, channel, wording version), the rooms and
targets, and totals that name no one (supporters per channel, broadcast counts).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, time, timedelta

from rq import Queue
from rq.registry import FailedJobRegistry

from workers import reminders
from workers.queues import QUEUES
from workers.runtime import Runtime, runtime

log = logging.getLogger(__name__)
JOB_ID = "pollday-purge"
# Key patterns holding personal data, beyond what erasing each person removes.
PATTERNS = ("inbox:*", "sched:*", "lock:*", "bc:*:to", "bc:*:ledger", "bc:*:lease:*",
            "remjobs:*", "deferred:*", "reminded:*", "console:*", "quota:*", "ready",
            "delivered:*")  # fmt: skip
HASHES_AND_SETS = ("people", "consented", "lastin", "unreachable", "referrals", "pledge", "codes")


def due_at(rt: Runtime) -> datetime:
    """Midnight (campaign time) ``retention_days`` after polling day, in UTC."""
    c = rt.settings.campaign
    day = c.polling_day + timedelta(days=c.retention_days)
    return datetime.combine(day, time(0), tzinfo=c.timezone).astimezone(UTC)


def schedule(rt: Runtime) -> None:
    """Make sure the purge is scheduled (idempotent: one job id)."""
    q = Queue(QUEUES[-1], connection=rt.redis)
    q.enqueue_at(due_at(rt), run, job_id=JOB_ID, job_timeout=-1)  # may take a while: no limit


def plan(rt: Runtime) -> dict[str, int]:
    """What a purge would remove, by kind of key (a dry run)."""
    store, r = rt.store, rt.redis
    found = {"conversations": sum(1 for _ in r.scan_iter(store.key("conv", "*"), count=1000))}
    for pattern in PATTERNS:
        found[pattern] = sum(1 for _ in r.scan_iter(store.key(pattern), count=1000))
    for name in HASHES_AND_SETS:
        kind = r.type(store.key(name)).decode()
        size = {"set": r.scard, "hash": r.hlen}.get(kind)
        found[name] = int(size(store.key(name))) if size else 0
    found["failed jobs"] = sum(len(FailedJobRegistry(q, connection=r)) for q in QUEUES)
    return found


def run(dry_run: bool = False) -> dict[str, int]:
    """RQ job and command: remove personal data; returns what was (or would be) removed."""
    return purge(runtime(), dry_run)


def purge(rt: Runtime, dry_run: bool = False) -> dict[str, int]:
    """Remove personal data (see module docstring); the counts from :func:`plan`."""
    found = plan(rt)
    if dry_run:
        return found
    store, r = rt.store, rt.redis
    totals = r.hgetall(store.key("supporters"))  # counts that name no one: kept as they were
    for key in r.scan_iter(store.key("conv", "*"), count=1000):
        address = key.decode().split(":", 2)[2]
        store.erase(address)  # keeps the suppression record
        reminders.cancel_all(rt, address)
    for pattern in PATTERNS:
        for key in r.scan_iter(store.key(pattern), count=1000):
            r.delete(key)
    r.delete(*(store.key(name) for name in HASHES_AND_SETS))
    if totals:
        r.hset(store.key("supporters"), mapping=totals)
    for q in QUEUES:
        registry = FailedJobRegistry(q, connection=r)
        for job_id in registry.get_job_ids():
            registry.remove(job_id, delete_job=True)
    log.info("purged personal data: %s", found)
    return found
