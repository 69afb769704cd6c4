"""Queue names and enqueueing for the workers (bot/ asks for jobs through bot/store/jobs.py)."""

from __future__ import annotations

import redis
from rq import Queue

TURNS = "turns"  # people talking to the bot: always first
BROADCAST = "broadcast"  # broadcasts and the purge: only when no one is waiting for a reply
QUEUES = (TURNS, BROADCAST)
# Reminders and held-back replies are not jobs but timed events (workers/clock.py). Keep
# no results, and failures only long enough to investigate, not RQ's default of a year.
JOB_TTLS = {"result_ttl": 0, "failure_ttl": 7 * 24 * 3600}


def enqueue_drainer(r: redis.Redis) -> None:
    """Queue a job that works through the ready lists (see Store.ingest)."""
    Queue(TURNS, connection=r).enqueue("workers.turns.drain_ready", **JOB_TTLS)
