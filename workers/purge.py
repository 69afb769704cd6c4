"""Purging personal data after polling day (``retention_days`` later, default 30).

The keys come from bot/store/keys.py (every key declared ``purge``); this module adds what
only a worker can do: clear failed jobs.

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

from workers.queues import QUEUES
from workers.runtime import Runtime, runtime

log = logging.getLogger(__name__)
JOB_ID = "pollday-purge"


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
    """What a purge would remove: keys by declared pattern, and failed jobs (a dry run)."""
    found = {k: n for k, n in rt.store.purge_plan().items() if n}
    found["failed jobs"] = sum(len(FailedJobRegistry(q, connection=rt.redis)) for q in QUEUES)
    return found


def run(dry_run: bool = False) -> dict[str, int]:
    """RQ job and command: remove personal data; returns what was (or would be) removed."""
    return purge(runtime(), dry_run)


def purge(rt: Runtime, dry_run: bool = False) -> dict[str, int]:
    """Remove personal data (see module docstring); the counts from :func:`plan`."""
    found = plan(rt)
    if dry_run:
        return found
    r = rt.redis
    rt.store.purge()  # reminders and held-back replies too: they are timed events
    for q in QUEUES:
        registry = FailedJobRegistry(q, connection=r)
        for job_id in registry.get_job_ids():
            registry.remove(job_id, delete_job=True)
    log.info("purged personal data: %s", found)
    return found
