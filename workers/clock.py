"""Each worker's clock: timed events into inboxes when due, the rescue every 30 s (and as
soon as Redis is back from an outage), a look for broadcasts nobody is sending (every 15 s,
and after an outage), a look for freed places and holds run out for people on standby
(every 5 s), and the heartbeat (with what the process counted) every 5 s.

A thread in every worker process, not RQ's scheduler: RQ runs a scheduled job only when a
worker is free of other jobs, and on a busy polling day the workers are busy with drainers
that run for up to a minute, so a reminder or a held-back reply would wait behind them
(and behind a Redis outage's backlog). Here they reach the person's inbox within a tick of
being due and are handled with the person's own messages. Moving a person's events is one
script (bot/store/timed.py), so every worker may look; the rescue takes a Redis mark, so
one worker a period does it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time

import redis

from bot import daytime
from bot.outage import OUTAGE
from workers import backfill, broadcasts, pulse, standby, turns
from workers.runtime import Runtime

log = logging.getLogger(__name__)
TICK = 0.25  # seconds between looks at the due set
RESCUE_EVERY = 30  # seconds between looks for people a dead worker left with messages queued
OUTAGE_GRACE = 2.0  # seconds after Redis returns before the rescue (see after_outage)
BEAT_EVERY = 5.0  # seconds between heartbeats (/healthz: no beat for 30 s is a dead worker)


def tick(rt: Runtime, now: float | None = None) -> int:
    """Move what has come due into people's inboxes (and rescue, when it is time); how
    many events moved."""
    moved = rt.store.timed.release(daytime.now() if now is None else now)
    if freed := turns.free_left(rt):
        log.warning("%d people were left mid-turn by a Redis outage: draining them", freed)
    rescue(rt)
    broadcasts.look_after(rt)
    standby.look(rt)
    backfill.look(rt)
    return moved


def beat(rt: Runtime, scheduler: bool) -> None:
    """Tell /healthz this process is alive, with what it counted since the last beat."""
    counts = pulse.take()
    try:
        rt.store.pulse.beat(pulse.NAME, scheduler, counts)
    except redis.RedisError:
        pulse.give_back(counts)
        raise


def rescue(rt: Runtime) -> int:
    """Drain people whose messages were left queued by a worker killed mid-turn or a Redis
    error (once their locks have run out), at most once every RESCUE_EVERY s across all
    workers; how many."""
    if not rt.store.inbox.mark_rescue(RESCUE_EVERY - 1):
        return 0  # another worker looked less than RESCUE_EVERY s ago
    rescued, _ = rt.store.inbox.rescue_stranded()  # drainers are asked for as needed
    if rescued:
        log.warning("%d people had messages left by a stopped worker: draining them", rescued)
    return rescued


def after_outage(rt: Runtime, stop: threading.Event) -> None:
    """Redis is back: rescue at once whoever an outage longer than a lock left stranded
    (their drainer gave the turn up), rather than up to RESCUE_EVERY s later behind everyone
    who wrote since. After a short grace, so that drainers still holding their locks finish
    the step they were on (taking a sent reply off the outbox) before anyone else starts."""
    if stop.wait(OUTAGE_GRACE):
        return
    with contextlib.suppress(redis.RedisError):  # gone again: the next tick waits for it
        if rescued := rt.store.inbox.rescue_stranded()[0]:
            log.warning("%d people were left mid-turn by a Redis outage: draining them", rescued)
        broadcasts.look_after(rt, at_once=True)  # its jobs in flight may have been lost


def run(rt: Runtime, stop: threading.Event, scheduler: bool = False) -> None:
    """Tick (and beat) until ``stop`` is set; Redis trouble is waited out, never fatal."""
    last_beat = 0.0
    while not stop.wait(TICK):
        try:
            tick(rt)
            if time.monotonic() - last_beat >= BEAT_EVERY:
                beat(rt, scheduler)
                last_beat = time.monotonic()
        except redis.RedisError as exc:
            OUTAGE.went(exc)
            OUTAGE.wait(rt.redis, stop)
            # What came due while Redis was away (held-back replies, reminders) goes to the
            # front of its lane at once, ahead of the backlog of new messages arriving now.
            with contextlib.suppress(redis.RedisError):
                rt.store.timed.release(daytime.now())
            after_outage(rt, stop)
        except Exception:  # a bad event costs this tick, never the clock
            log.exception("clock tick failed")


def start(rt: Runtime, scheduler: bool = False) -> threading.Event:
    """Run the clock on a daemon thread; set the returned event to stop it. ``scheduler``:
    this process runs RQ's scheduler (reported with its heartbeat)."""
    stop = threading.Event()
    args = (rt, stop, scheduler)
    threading.Thread(target=run, args=args, name="clock", daemon=True).start()
    return stop
