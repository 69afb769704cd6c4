"""The conversation turn job: drain one address's inbox in order, under a per-address lock.

Messages from one person are handled one at a time and in order, even with several
worker processes: whoever holds the lock drains the inbox, and re-checks it after
unlocking, so a message queued meanwhile is never stranded. Each message is removed
from the inbox only after its turn is saved and its replies sent, so a killed worker loses
nothing: the order of a turn, and why a replay is safe, is in workers/effects.py.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

import redis

from bot.conversation import handle
from bot.model.message import Inbound, Outbound, merged
from bot.store.inbox import LANES, LOCK_TTL_MS, lane
from messages import t
from workers import effects, faults, outbound, pulse
from workers.queues import enqueue_drainer
from workers.runtime import Runtime, runtime

log = logging.getLogger(__name__)
BATCH = 50
# People one worker process drains at once on each channel's lane. A turn mostly waits
# (Redis round trips, the platform's reply, its turn under the platform's limit), so threads
# overlap those waits; each person still has one drainer. A lane at its platform's limit
# holds at most this many threads, never those of a channel with room.
CONCURRENCY = 8
LINGER = 0.1  # seconds a drainer with turns in flight waits for the next person to be ready
# A drainer hands over to a fresh job after this long, well inside RQ's job timeout
# (180 s), which would otherwise kill it mid-turn on a busy polling day.
RUN_FOR = 60.0
# Locks of drains that Redis went away under: nothing holds them any more, so the clock
# frees them as soon as Redis answers (free_left) rather than when they run out, a minute
# after the turn began, with the person's reply (a held-back one, a reminder) waiting.
_left: dict[tuple[str, str], float] = {}  # (address, lock token) -> when (monotonic)
_left_guard = threading.Lock()


def drain_ready() -> int:
    """RQ job: drain people from the ready lanes, several at once on each, until they are
    empty; how many turns. A Redis error in any drain fails the job once the others have
    finished."""
    rt = runtime()
    store = rt.store
    running: dict[Future[int], str] = {}  # each drain, and its lane
    done: list[Future[int]] = []
    until = time.monotonic() + RUN_FOR
    with ThreadPoolExecutor(CONCURRENCY * len(LANES), thread_name_prefix="turns") as pool:
        while True:
            if time.monotonic() > until:
                enqueue_drainer(rt.redis)  # takes this job's place in the drainer count
                break
            busy = Counter(running.values())
            free = [name for name in LANES if busy[name] < CONCURRENCY]
            # While turns are in flight, wait a little for the next person rather than
            # asking Redis again and again (a blocking pop answers as soon as one is ready)
            # but not while a lane is full: people may wait on it for a thread to finish.
            linger = LINGER if running and len(free) == len(LANES) else 0.0
            address = store.inbox.take_ready(linger, free) if free else None
            if address is None and not running:
                # Nothing in flight and nothing ready: stop being counted, in one step with
                # a last look, so a person made ready just now still gets a drainer.
                address = store.inbox.next_ready()
                if address is None:
                    break
            if address is not None:
                running[pool.submit(drain, address)] = lane(address)
            elif len(free) < len(LANES):  # a lane is full: wait for one of its threads
                wait(running, timeout=LINGER, return_when=FIRST_COMPLETED)
            finished = {f for f in running if f.done()}
            for f in finished:
                del running[f]
            done.extend(finished)
    return sum(f.result() for f in done)


def drain(address: str) -> int:
    """RQ job: take every queued turn for ``address``; returns how many were handled."""
    rt = runtime()
    store = rt.store
    handled, first = 0, True
    while True:
        token, batch = store.inbox.take(address, BATCH, first)
        first = False
        if token is None:
            # Another worker is draining and will re-check after unlocking. If it died,
            # its lock expires and the rescue (workers/clock.py) picks them up.
            return handled
        outbound.HOLDING.set((address, token))
        try:
            for i, raw in enumerate(batch):
                if i and not store.inbox.keep_lock(address, token):  # just taken for the first
                    log.warning("lost an inbox lock after a slow turn; leaving the rest")
                    return handled
                safe_turn(rt, raw)
                store.inbox.pop(address, raw)
                handled += 1
        finally:
            outbound.HOLDING.set(None)
            try:
                left = store.inbox.unlock(address, token)
            except redis.RedisError:
                with _left_guard:
                    _left[(address, token)] = time.monotonic()
                raise
        if left == 0:
            return handled


def free_left(rt: Runtime) -> int:
    """Free the locks drains left when Redis went (if still theirs), and put those people
    with messages waiting back in line; how many went back. A lock older than its life has
    run out by itself. Redis errors propagate: the rest are kept for the next tick."""
    with _left_guard:
        left = list(_left.items())
    back = 0
    for (address, token), when in left:
        if time.monotonic() - when < LOCK_TTL_MS / 1000 and rt.store.inbox.unlock(address, token):
            back += rt.store.inbox.nudge(address)  # messages wait: in line again
        with _left_guard:
            _left.pop((address, token), None)
    return back


def safe_turn(rt: Runtime, raw: bytes) -> None:
    """Take a turn; a bug in it costs this one message (with an apology), never the queue.

    Redis errors propagate: the message stays queued and RQ retries the job later.
    """
    msg = Inbound.from_json(raw)
    try:
        take_turn(rt, msg)
    except redis.RedisError:
        raise
    except Exception:
        log.exception("turn failed on %s; message dropped", msg.channel)
        if not msg.event:  # nobody sent a system event: nobody to apologise to
            sorry = Outbound(msg.address, t("error", msg.channel))
            rt.store.people.queue(msg.address, [sorry.to_json()])
            outbound.flush(rt, msg.address, wrote_at=msg.received_at)  # we hold their lock


def take_turn(rt: Runtime, msg: Inbound) -> None:
    """One message, in the documented order (workers/effects.py): effects, save (with the
    replies in the outbox), send from the outbox; the caller then drops the message from
    the inbox. A replay of a message already saved only sends what is left."""
    store = rt.store
    if msg.event == outbound.SEND:  # a held-back reply's time has come: send what waits
        now = store.people.load(msg.address)
        if store.people.sendable(now):
            outbound.flush(rt, msg.address, int(msg.payload or 0), msg.received_at, now)
        return
    if msg.callback_id and (sender := rt.sender(msg.channel)):
        sender.ack(msg.callback_id)
    conv = store.people.load(msg.address, wrote=not msg.event)
    digest = hashlib.blake2b(msg.external_id.encode(), digest_size=8).hexdigest()
    replayed = bool(msg.external_id) and (
        conv.last_id == digest if conv is not None else store.people.was_handled(digest)
    )
    if replayed:
        sendable, new = store.people.sendable(conv), conv
    else:
        turn = handle(conv, msg, rt.world)
        replies = turn.replies  # already merged by handle()
        if extra := effects.apply_all(rt, turn.effects, msg, digest):
            replies = merged(replies + extra)
        queued = [out.to_json() for out in replies]
        new = turn.conv
        if new is not None:
            consent = new.consent if conv is None or conv.consent != new.consent else None
            saved = new.evolve(last_id=digest)
            sendable = store.people.save(
                saved, new_person=conv is None, consent=consent, replies=queued
            )
        else:
            store.people.handled_without_conversation(msg.address, digest, queued)
            store.inbox.close_window(msg.address)  # nothing is kept about them, not even that
            sendable = True  # a STOP or DELETE's own confirmation
        faults.point(rt.store, "saved")
        pulse.count("turns")
        log.info(
            "turn %s %s: %s -> %s",  # a one-way id, never an address or what they wrote
            store.suppression.hid(msg.address)[:12],
            msg.event or "message",
            conv.state.value if conv else "new",
            new.state.value if new else "erased",
        )
    if sendable:  # else a STOP or DELETE came after this message: its turn decides
        outbound.flush(rt, msg.address, wrote_at=msg.received_at, conv=new)
