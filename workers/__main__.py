"""``python -m workers``: check the config and rooms, then run an RQ worker with its scheduler.

A non-forking worker keeps rooms, the geocoder index and HTTP connections (and
python-telegram-bot's event loop) alive between jobs; one job per fork would reload
them every time.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import time

import redis
from rq import Queue, SimpleWorker
from rq.scheduler import RQScheduler
from rq.worker import base as rq_worker_base

from bot import calendar, daytime, procfile, scrub
from bot.config import ConfigError
from bot.outage import BACKOFF_MAX, OUTAGE
from bot.rooms import CsvError
from workers import clock, purge, requests
from workers.queues import QUEUES, enqueue_drainer
from workers.runtime import Runtime, runtime

WORKER_TTL = 20  # RQ looks for jobs for WORKER_TTL - 15 s at a time, then does maintenance
MAINTENANCE_SECONDS = 5


def main(argv: list[str] | None = None) -> int:
    """Start one worker process listening on every queue, turns first."""
    parser = argparse.ArgumentParser(prog="python -m workers", description=__doc__)
    parser.add_argument("--burst", action="store_true", help="exit when the queues are empty")
    parser.add_argument(
        "--with-scheduler",
        action="store_true",
        help="also run RQ's scheduler: the purge is a scheduled job "
        "(several workers may all pass it; one holds the lock)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    scrub.install()  # no numbers or chat ids in the log, whoever logs them
    # httpx logs every request URL at INFO (a Telegram URL carries the bot token), and
    # twilio logs eight lines per message sent (a tenth of a broadcast send's CPU).
    for noisy in ("httpx", "twilio.http_client"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    for name in ("rq.worker", "rq.scheduler"):  # Redis going away is logged once, by us
        logging.getLogger(name).addFilter(_not_redis_trouble)
    while True:
        try:
            rt = runtime()
            c = rt.settings.campaign
            calendar.guard(rt.store, c, daytime.now_dt(c.timezone).date())
            OUTAGE.back()
            break
        except (ConfigError, CsvError) as exc:
            print(f"cannot start: {exc}", file=sys.stderr)
            return 2
        except redis.RedisError as exc:  # not up yet: wait for it, as for any outage
            OUTAGE.went(exc)
            time.sleep(1.0)
    for channel, sender in rt.senders.items():
        result = sender.warm_up()
        if not result.ok:
            logging.warning("%s warm-up failed at start: %s", channel, result.error)
    # RQ forks its scheduler from this process. If this process is killed, an orphaned
    # scheduler would keep copies of our Redis connections open, and Redis would hand the
    # next item on a list we were blocked on (a drainer request) to a socket nobody reads:
    # so a forked child dies with us.
    me = os.getpid()
    os.register_at_fork(after_in_child=lambda: procfile.die_with_parent(me, signal.SIGKILL))
    requests.start(rt.store)  # jobs the web process asks for (a drainer, a broadcast)
    clock.start(rt, args.with_scheduler)  # reminders and replies when due; rescue; heartbeat
    return serve(rt, burst=args.burst, with_scheduler=args.with_scheduler)


def serve(rt: Runtime, burst: bool, with_scheduler: bool) -> int:
    """Run the RQ worker until asked to stop. A Redis outage of any length is waited out
    and the worker (and its scheduler) started again: it never exits because Redis went."""
    worker: SimpleWorker | None = None
    while True:
        try:
            if worker is not None and worker.scheduler is not None:
                # Our scheduler's locks from before the outage: free them, so the new
                # scheduler takes over now instead of when they expire (a minute).
                worker.scheduler.release_locks()
            start_up(rt)
            queues = [Queue(name, connection=rt.redis) for name in QUEUES]
            worker = SimpleWorker(
                queues,
                connection=rt.redis,
                # Look for work (and do maintenance: restarting a scheduler that died in an
                # outage) every few seconds, not every seven minutes.
                worker_ttl=WORKER_TTL,
                maintenance_interval=MAINTENANCE_SECONDS,
            )
            # RQ retries a lost Redis itself, backing off to a minute: after a long outage
            # that would leave the queues unread for up to a minute.
            worker.max_connection_wait_time = BACKOFF_MAX
            worker.work(burst=burst, with_scheduler=with_scheduler, logging_level="WARNING")
            # SIGTERM or Ctrl-C: RQ notes the request (and only sometimes _stop_requested).
            if burst or worker._stop_requested or worker._shutdown_requested_date:
                return 0
        except redis.RedisError as exc:
            OUTAGE.went(exc)
        # RQ's loop gives up on any error it cannot handle, a lost Redis among them.
        OUTAGE.wait(rt.redis)
        time.sleep(0.5)


def _not_redis_trouble(record: logging.LogRecord) -> bool:
    """RQ logs every failed call while Redis is away (and its retries); we log the outage.
    A job that failed on a lost connection keeps one line, without RQ's traceback: its
    messages stay queued and are drained again, so it is worth a line, not alarm."""
    exc = record.exc_info[1] if record.exc_info else None
    text = record.getMessage()
    if isinstance(exc, redis.RedisError) or "connect to Redis" in text:
        return False
    if "Traceback" in text and "\nredis.exceptions." in text:
        first, *_, last = text.strip().splitlines()
        record.msg, record.args = f"{first}: {last}", None
    return True


class SteadyScheduler(RQScheduler):
    """RQ's scheduler, which dies at the first Redis error (and RQ starts another only at
    its next maintenance): this one waits for Redis and carries on. Its worker logs the
    outage; this process, a fork of it, waits quietly."""

    def work(self) -> None:
        delay = 0.25
        while True:
            try:
                super().work()
                return
            except redis.RedisError:
                time.sleep(delay)
                delay = min(delay * 2, BACKOFF_MAX)


# RQ builds its scheduler from this module-level name; there is no other way to choose one.
rq_worker_base.RQScheduler = SteadyScheduler


def start_up(rt: Runtime) -> None:
    """What a worker does each time it (re)starts: make sure the purge is scheduled, and
    start draining anyone left waiting (those a dead worker was in the middle of are the
    clock's rescue)."""
    purge.schedule(rt)
    if rt.store.inbox.ready_count():  # people left waiting by workers that died: start on them
        rt.store.inbox.count_drainer()
        enqueue_drainer(rt.redis)


if __name__ == "__main__":
    sys.exit(main())
