"""Delivering replies: inline retries for brief trouble, an RQ job for longer waits.

Final failures (blocked, opted out) mark the person unreachable and are not retried.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import timedelta

from rq import Queue

from bot.model.message import Outbound
from bot.store import keys
from workers.queues import JOB_TTLS, OUTBOUND, cancel_tracked, track
from workers.runtime import Runtime, runtime

log = logging.getLogger(__name__)
INLINE_ATTEMPTS = 3
DEFER_ATTEMPTS = 5
INLINE_WAIT_MAX = 5.0  # longer waits go to the scheduler rather than holding a worker
INLINE_BUDGET = 15.0  # seconds one turn may spend sending before deferring the rest


def deliver(
    rt: Runtime, replies: Sequence[Outbound], attempt: int = 0, record: bool = True
) -> None:
    """Send replies in order; if one must wait, it and the rest are sent later, in order.
    ``record=False`` when the caller already took a slot from the pacer."""
    unreachable: set[str] = set()
    started = time.monotonic()
    for i, out in enumerate(replies):
        if out.address in unreachable:
            continue  # blocked just now: the rest of this turn would fail the same way
        # A slow platform must not hold the person's lock for long: past the budget,
        # what is left goes to the scheduler.
        over = time.monotonic() - started > INLINE_BUDGET
        wait = 1.0 if over else _try(rt, out, unreachable, record)
        if wait is None:
            continue
        if attempt >= DEFER_ATTEMPTS:
            log.error("giving up on %d replies after %d attempts", len(replies) - i, attempt)
            return
        later = [o.to_json() for o in replies[i:]]
        delay = timedelta(seconds=wait * 2**attempt)
        job = Queue(OUTBOUND, connection=rt.redis).enqueue_in(
            delay, send_later, later, attempt + 1, **JOB_TTLS
        )
        track(rt.redis, _deferred_key(rt, out.address), [job.id])
        return


def _deferred_key(rt: Runtime, address: str) -> str:
    return keys.DEFERRED(rt.store.p, address=address)


def cancel_deferred(rt: Runtime, address: str) -> int:
    """Drop replies held back for later (the person has just said STOP or DELETE)."""
    return cancel_tracked(rt.redis, _deferred_key(rt, address))


def _try(rt: Runtime, out: Outbound, unreachable: set[str], record: bool) -> float | None:
    """Send one message with short inline retries; seconds to wait if it must be deferred."""
    sender = rt.sender(out.channel)
    if sender is None:
        log.warning("channel %s is off: reply dropped", out.channel)
        return None
    for attempt in range(1, INLINE_ATTEMPTS + 1):
        if record:  # replies never wait for the pacer; broadcasts make room for them
            rt.pacer.record(out.channel, out.recipient)
        result = sender.send(out)
        if result.ok:
            return None
        if result.unreachable:
            rt.store.people.mark_unreachable(out.address, result.unreachable)
            unreachable.add(out.address)
            log.info("%s recipient unreachable: %s", out.channel, result.unreachable)
            return None
        if result.retry_after is None:
            log.error("%s send failed, not retryable: %s", out.channel, result.error)
            return None
        wait = result.retry_after * attempt
        if wait > INLINE_WAIT_MAX or attempt == INLINE_ATTEMPTS:
            log.warning("%s send deferred %.1fs: %s", out.channel, wait, result.error)
            return max(wait, 1.0)
        time.sleep(wait)
    return None


def send_later(replies: list[str], attempt: int) -> None:
    """RQ job: send deferred replies in order; what still fails is deferred again."""
    deliver(runtime(), [Outbound.from_json(raw) for raw in replies], attempt)
