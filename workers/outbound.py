"""Sending a person's outbox: in order, each reply leaving it only once it has gone.

Replies are saved in the outbox with the turn (bot/store/people.py) and sent from there,
so a worker killed mid-send leaves exactly what was not yet sent; the one reply that can
go twice is the one in flight when it died. Brief trouble is retried inline; a longer wait
leaves the rest in the outbox and a ``send`` event (bot/store/timed.py) comes back for it
through the person's inbox, after anything they wrote meanwhile (a STOP clears the outbox).
Final failures (blocked, opted out) mark the person unreachable, never retried.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from contextvars import ContextVar

import redis

from bot import daytime
from bot.channels import capabilities
from bot.model.message import Inbound, Outbound, SendResult
from bot.model.person import Conversation
from bot.outage import OUTAGE
from workers import faults, pulse
from workers.runtime import Runtime

log = logging.getLogger(__name__)
INLINE_ATTEMPTS = 3
DEFER_ATTEMPTS = 5
INLINE_WAIT_MAX = 5.0  # longer waits come back later rather than holding a worker
INLINE_BUDGET = 15.0  # seconds one turn may spend sending before deferring the rest
SEND = "send"  # the timed event that comes back for a held-back reply (payload: the attempt)
HELD = -1.0  # _try: a STOP or DELETE arrived while the reply waited its turn
# The (address, lock token) of the person this thread drains, set by workers/turns.drain.
HOLDING: ContextVar[tuple[str, str] | None] = ContextVar("holding", default=None)
RECHECK_AFTER = 0.05  # seconds of waiting for a turn after which STOP/DELETE is checked again


def flush(
    rt: Runtime,
    address: str,
    attempt: int = 0,
    wrote_at: float = 0.0,
    conv: Conversation | None = None,
) -> bool:
    """Send this person's outbox in order (the caller holds their lock); True when it is
    empty. Each reply waits its turn for the platform's limit, in line by when the person
    wrote (``wrote_at``; 0: now). If a reply must wait long, it and the rest stay and a
    ``send`` event comes back. A STOP or DELETE that arrives while a reply of ``conv``'s
    waits its turn holds the rest (its own turn decides)."""
    people = rt.store.people
    wrote_at = wrote_at or daytime.now()
    blocked: set[str] = set()
    started = time.monotonic()
    for raw in people.outbox(address):
        out = Outbound.from_json(raw)
        if out.address in blocked or (out.address != address and _suppressed(rt, out.address)):
            people.sent(address, raw)  # never to be sent: blocked, or they said STOP
            continue
        # A slow platform must not hold the person's lock for long: past the budget,
        # what is left comes back later.
        over = time.monotonic() - started > INLINE_BUDGET
        wait = 1.0 if over else _try(rt, out, blocked, wrote_at, lambda: people.sendable(conv))
        if wait == HELD:
            return False
        if wait is None:
            faults.point(rt.store, "sent")  # gone, not yet off the outbox: the in-flight case
            _off_outbox(rt, address, raw)
            continue
        if attempt >= DEFER_ATTEMPTS:
            log.error("giving up on a reply after %d attempts", attempt)
            people.sent(address, raw)
            continue
        event_id = f"{SEND}-{secrets.token_hex(8)}"
        # It keeps its place in the send line: when the person wrote.
        later = Inbound(address, payload=str(attempt + 1), event=SEND, external_id=event_id,
                        received_at=wrote_at)  # fmt: skip
        # The wait is the platform's, in real seconds; timed events run on the day's clock.
        rt.store.timed.add(later, daytime.now() + wait * 2**attempt * daytime.speed())
        return False
    return True


def _off_outbox(rt: Runtime, address: str, raw: bytes) -> None:
    """Take a reply that has gone off the outbox. If Redis is away just then, wait for it:
    giving up would leave the reply there, and the turn's replay would send it again."""
    while True:
        try:
            rt.store.people.sent(address, raw)
            return
        except redis.RedisError as exc:
            OUTAGE.went(exc)
            OUTAGE.wait(rt.redis)


def _admit(rt: Runtime, out: Outbound, wrote_at: float) -> float:
    """Wait for the reply's turn (0.0), or say how long it would be. If Redis goes away
    meanwhile, wait for it like the rest of the turn, as long as the person's lock is still
    ours when it is back; else give the turn up to whoever drains them next."""
    while True:
        try:
            return rt.pacer.admit_reply(out.channel, out.recipient, wrote_at, INLINE_BUDGET)
        except redis.RedisError as exc:
            OUTAGE.went(exc)
            OUTAGE.wait(rt.redis)
            holding = HOLDING.get()
            if holding is not None and not rt.store.inbox.keep_lock(*holding):
                raise


def _outcome(result: SendResult) -> str:
    """A send's result as /metrics counts it."""
    if result.ok:
        return "sent"
    if result.unreachable:
        return "unreachable"
    return "retry" if result.retry_after is not None else "failed"


def _in_window(rt: Runtime, out: Outbound) -> bool:
    """Free text may go to them now (always, but on a channel with a reply window). With
    no record of when they wrote, it goes: the answer to a DELETE, or to a STOP from
    someone we keep nothing about, follows a turn that has just erased the record."""
    caps = capabilities(out.channel)
    if caps.reply_window is None:
        return True
    wrote = rt.store.inbox.last_inbound(out.address)
    return wrote is None or caps.in_window(wrote, daytime.now())


def _suppressed(rt: Runtime, address: str) -> bool:
    """Someone else this turn would message (a sharer) said STOP or blocked us."""
    store = rt.store
    return store.suppression.was_stopped(address) or bool(store.people.unreachable(address))


def _try(
    rt: Runtime,
    out: Outbound,
    blocked: set[str],
    wrote_at: float,
    sendable: Callable[[], bool],
) -> float | None:
    """Send one message in its turn, with short inline retries: None when done with it
    (sent, or never sendable), ``HELD`` when a STOP or DELETE came while it waited, else
    seconds to wait before trying again."""
    sender = rt.sender(out.channel)
    if sender is None:
        log.warning("channel %s is off: reply dropped", out.channel)
        return None
    if out.template is None and not _in_window(rt, out):
        # A reminder, chase or the polling-day message to someone who last wrote more
        # than 24 hours ago: WhatsApp refuses free text then. Skipped and counted (the
        # board and /metrics show how many), not a failed send.
        pulse.count(f"sends:{out.channel}:outside_window")
        log.info("%s message not sent: outside the person's reply window", out.channel)
        return None
    for attempt in range(1, INLINE_ATTEMPTS + 1):
        asked = time.monotonic()
        if wait := _admit(rt, out, wrote_at):
            return wait  # a long line, or the platform paused the channel: come back later
        if time.monotonic() - asked > RECHECK_AFTER and not sendable():
            return HELD  # they said STOP or DELETE while this waited its turn
        result = sender.send(out)
        if result.throttled:  # the platform's own limit: the whole channel waits
            rt.pacer.pause(out.channel, result.retry_after or 1.0)
        pulse.count(f"sends:{out.channel}:{_outcome(result)}")
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
