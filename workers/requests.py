"""Turning requests from bot/ (the JOBS list, see bot/store/jobs.py) into RQ jobs.

bot/ never imports rq; every worker process runs one ``forward`` thread, and whichever
takes a request first queues it. A request lost with a killed worker costs nothing
lasting: a drainer count resets within 30 s and the rescue (workers/clock.py) finds anyone
waiting.
"""

from __future__ import annotations

import logging
import threading

import redis
from rq import Queue

from bot.outage import OUTAGE
from bot.store import Store
from workers.queues import JOB_TTLS

log = logging.getLogger(__name__)
WAIT = 1.0  # seconds a blocking read waits before looking again


def forward_one(store: Store, wait: float = WAIT) -> bool:
    """Queue the next request as an RQ job; False if none came within ``wait``."""
    req = store.jobs.take(wait)
    if req is None:
        return False
    Queue(req["q"], connection=store.r).enqueue(req["f"], *req["a"], **JOB_TTLS)
    return True


def forward(store: Store, stop: threading.Event) -> None:
    """Forward requests until ``stop`` is set; Redis trouble is waited out, never fatal."""
    while not stop.is_set():
        try:
            forward_one(store)
        except redis.RedisError as exc:
            OUTAGE.went(exc)
            OUTAGE.wait(store.r, stop)
        except Exception:  # a bad request costs that request, never this thread
            log.exception("job request dropped")


def start(store: Store) -> threading.Event:
    """Run ``forward`` on a daemon thread; set the returned event to stop it."""
    stop = threading.Event()
    threading.Thread(target=forward, args=(store, stop), name="job-requests", daemon=True).start()
    return stop
