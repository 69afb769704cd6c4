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

from rq import Queue, SimpleWorker

from bot import procfile, scrub
from bot.config import ConfigError
from bot.rooms import CsvError
from workers import purge, requests, turns
from workers.queues import QUEUES, enqueue_drainer
from workers.runtime import runtime


def main(argv: list[str] | None = None) -> int:
    """Start one worker process listening on every queue, turns first."""
    parser = argparse.ArgumentParser(prog="python -m workers", description=__doc__)
    parser.add_argument("--burst", action="store_true", help="exit when the queues are empty")
    parser.add_argument(
        "--with-scheduler",
        action="store_true",
        help="also run RQ's scheduler: reminders, delayed retries, broadcast recovery and the "
        "purge are scheduled jobs (several workers may all pass it; one holds the lock)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    scrub.install()  # no numbers or chat ids in the log, whoever logs them
    # httpx logs every request URL at INFO (a Telegram URL carries the bot token), and
    # twilio logs eight lines per message sent (a tenth of a broadcast send's CPU).
    for noisy in ("httpx", "twilio.http_client"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        rt = runtime()
    except (ConfigError, CsvError) as exc:
        print(f"cannot start: {exc}", file=sys.stderr)
        return 2
    purge.schedule(rt)
    if rt.store.inbox.ready_count():  # people left waiting by workers that died: start on them
        rt.store.inbox.count_drainer()
        enqueue_drainer(rt.redis)
    turns.schedule_rescue(rt.redis)  # ...and those a dead worker was in the middle of
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
    queues = [Queue(name, connection=rt.redis) for name in QUEUES]
    worker = SimpleWorker(queues, connection=rt.redis)
    worker.work(burst=args.burst, with_scheduler=args.with_scheduler, logging_level="WARNING")
    return 0


if __name__ == "__main__":
    sys.exit(main())
