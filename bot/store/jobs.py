"""Work the web process (and anything else in bot/) asks of the workers, without RQ.

bot/ never imports rq: it pushes a small request on the JOBS list, and every worker
process runs a thread that turns requests into RQ jobs (workers/requests.py). A request
is JSON: the job's function (dotted path), its arguments and its queue.
"""

from __future__ import annotations

import json

import redis

from bot.store import keys


def request(function: str, *args: object, queue: str) -> str:
    """The request for one job, as stored on the JOBS list."""
    return json.dumps({"f": function, "a": list(args), "q": queue}, separators=(",", ":"))


# What INGEST pushes when a drainer is needed (the function is workers/turns.drain_ready).
DRAIN_READY = request("workers.turns.drain_ready", queue="turns")


class Jobs:
    """Requests for worker jobs."""

    def __init__(self, r: redis.Redis, prefix: str) -> None:
        self.r, self.p = r, prefix

    def ask(self, *requests: str) -> None:
        """Queue requests for the workers."""
        if requests:
            self.r.rpush(keys.JOBS(self.p), *requests)

    def take(self, wait: float) -> dict | None:
        """The next request, waiting up to ``wait`` seconds; None if there was none."""
        item = self.r.blpop([keys.JOBS(self.p)], timeout=wait)
        return json.loads(item[1]) if item else None

    def waiting(self) -> int:
        """Requests not yet taken by a worker."""
        return int(self.r.llen(keys.JOBS(self.p)))
