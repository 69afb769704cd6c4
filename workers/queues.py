"""Queue names and enqueueing for the workers (bot/ asks for jobs through bot/store/jobs.py)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

import redis
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job

TURNS = "turns"  # people talking to the bot: always first
OUTBOUND = "outbound"  # delayed retries of sends
BROADCAST = "broadcast"  # broadcasts and reminders: only when no one is waiting for a reply
QUEUES = (TURNS, OUTBOUND, BROADCAST)
# Jobs carry addresses (and deferred sends carry texts): keep no results, and failures
# only long enough to investigate, not RQ's default of a year.
JOB_TTLS = {"result_ttl": 0, "failure_ttl": 7 * 24 * 3600}


def enqueue_drainer(r: redis.Redis) -> None:
    """Queue a job that works through the ready list (see Store.ingest)."""
    Queue(TURNS, connection=r).enqueue("workers.turns.drain_ready", **JOB_TTLS)


def track(r: redis.Redis, key: str, job_ids: Iterable[str]) -> None:
    """Remember scheduled jobs that name a person, so they can be removed with them."""
    ids = list(job_ids)
    if ids:
        r.sadd(key, *ids)


def cancel_tracked(r: redis.Redis, key: str) -> int:
    """Delete every job remembered under ``key``; how many there were."""
    ids = [i.decode() for i in r.smembers(key)]
    for job_id in ids:
        with contextlib.suppress(NoSuchJobError):
            Job.fetch(job_id, connection=r).delete()
    r.delete(key)
    return len(ids)
