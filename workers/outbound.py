"""Sending a person's outbox: in order, each reply leaving it only once it has gone.

Replies are saved in the outbox with the turn (bot/store/people.py) and sent from there,
so a worker killed mid-send leaves exactly what was not yet sent; the one reply that can
go twice is the one in flight when it died. Brief trouble is retried inline; a longer wait
leaves the rest in the outbox and an RQ job (which carries only the address) comes back
for it. Final failures (blocked, opted out) mark the person unreachable, never retried.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import timedelta

from rq import Queue

from bot.model.message import Outbound
from bot.store import keys
from workers import faults
from workers.queues import JOB_TTLS, OUTBOUND, cancel_tracked, track
from workers.runtime import Runtime, runtime

log = logging.getLogger(__name__)
INLINE_ATTEMPTS = 3
DEFER_ATTEMPTS = 5
INLINE_WAIT_MAX = 5.0  # longer waits go to the scheduler rather than holding a worker
INLINE_BUDGET = 15.0  # seconds one turn may spend sending before deferring the rest


def flush(rt: Runtime, address: str, attempt: int = 0) -> bool:
    """Send this person's outbox in order (the caller holds their lock); True when it is
    empty. If a reply must wait, it and the rest stay and a job is scheduled for them."""
    people = rt.store.people
    blocked: set[str] = set()
    started = time.monotonic()
    for raw in people.outbox(address):
        out = Outbound.from_json(raw)
        if out.address in blocked or (out.address != address and _suppressed(rt, out.address)):
            people.sent(address, raw)  # never to be sent: blocked, or they said STOP
            continue
        # A slow platform must not hold the person's lock for long: past the budget,
        # what is left goes to the scheduler.
        over = time.monotonic() - started > INLINE_BUDGET
        wait = 1.0 if over else _try(rt, out, blocked)
        if wait is None:
            faults.point(rt.store, "sent")  # gone, not yet off the outbox: the in-flight case
            people.sent(address, raw)
            continue
        if attempt >= DEFER_ATTEMPTS:
            log.error("giving up on a reply after %d attempts", attempt)
            people.sent(address, raw)
            continue
        job = Queue(OUTBOUND, connection=rt.redis).enqueue_in(
            timedelta(seconds=wait * 2**attempt), send_later, address, attempt + 1, **JOB_TTLS
        )
        track(rt.redis, keys.DEFERRED(rt.store.p, address=address), [job.id])
        return False
    return True


def queue(rt: Runtime, address: str, replies: Sequence[Outbound]) -> None:
    """Add messages to someone's outbox outside a turn (a reminder) and send them now if
    nobody is draining that person (whoever is will send them after their turn)."""
    rt.store.people.queue(address, [out.to_json() for out in replies])
    flush_locked(rt, address)


def flush_locked(rt: Runtime, address: str, attempt: int = 0) -> None:
    """Flush under the person's lock, so it never races their turns."""
    token, waiting = rt.store.inbox.take(address, 1)
    if token is None:
        return  # their drainer sends the outbox after its turn
    try:
        if not waiting:  # what they wrote goes first (a STOP may be among it)
            flush(rt, address, attempt)
    finally:
        if rt.store.inbox.unlock(address, token):
            rt.store.inbox.nudge(address)  # messages came meanwhile: make them ready


def send_later(address: str, attempt: int) -> None:
    """RQ job: send what waits in someone's outbox; what still fails waits again."""
    flush_locked(runtime(), address, attempt)


def cancel_deferred(rt: Runtime, address: str) -> int:
    """Drop the jobs coming back for held-back replies (STOP, DELETE)."""
    return cancel_tracked(rt.redis, keys.DEFERRED(rt.store.p, address=address))


def _suppressed(rt: Runtime, address: str) -> bool:
    """Someone else this turn would message (a sharer) said STOP or blocked us."""
    store = rt.store
    return store.suppression.was_stopped(address) or bool(store.people.unreachable(address))


def _try(rt: Runtime, out: Outbound, blocked: set[str]) -> float | None:
    """Send one message with short inline retries: None when done with it (sent, or never
    sendable), else seconds to wait before trying again."""
    sender = rt.sender(out.channel)
    if sender is None:
        log.warning("channel %s is off: reply dropped", out.channel)
        return None
    for attempt in range(1, INLINE_ATTEMPTS + 1):
        rt.pacer.record(out.channel, out.recipient)  # replies never wait for the pacer
        result = sender.send(out)
        if result.ok:
            return None
        if result.unreachable:
            rt.store.people.mark_unreachable(out.address, result.unreachable)
            blocked.add(out.address)
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
