"""Queue names and enqueueing, shared by the web process and the workers."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from datetime import timedelta

import redis
from rq import Queue, Retry
from rq.exceptions import NoSuchJobError
from rq.job import Job

from bot.channels import capabilities
from bot.model.message import Inbound
from bot.store import Store

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


def enqueue_drain(r: redis.Redis, address: str, delay: float = 0.0) -> None:
    """Queue a job that works through one address's inbox."""
    q = Queue(TURNS, connection=r)
    retry = Retry(max=3, interval=[5, 30, 60])
    if delay > 0:
        q.enqueue_in(
            timedelta(seconds=delay), "workers.turns.drain", address, retry=retry, **JOB_TTLS
        )
    else:
        q.enqueue("workers.turns.drain", address, retry=retry, **JOB_TTLS)


def accept(store: Store, messages: Iterable[Inbound], quota: int = 0) -> None:
    """Queue inbound messages (dropping repeated deliveries, and a sender's messages beyond
    ``quota`` a minute) and wake a worker if needed."""
    for msg in messages:
        # When they last wrote matters only on a channel with a reply window.
        window = capabilities(msg.channel).reply_window
        at = msg.received_at if window and not msg.event else 0.0
        limit = 0 if msg.event else quota
        if store.ingest(msg.external_id, msg.address, msg.to_json(), at, limit) == 2:
            try:
                enqueue_drainer(store.r)
            except redis.RedisError:
                # Let the platform's retry (after our 503) ask for the job again.
                with contextlib.suppress(redis.RedisError):
                    store.clear_scheduled(msg.address)
                raise


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
