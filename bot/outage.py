"""Redis going away and coming back: noticed, logged once each way, waited out.

Every process keeps working through a Redis outage of any length: requests get a 503,
workers wait and reconnect with backoff. One line is logged when Redis goes and one when
it is back (with how long it was away), not one per failed call.
"""

from __future__ import annotations

import logging
import threading
import time

import redis

log = logging.getLogger(__name__)
BACKOFF_MAX = 1.0  # seconds between looks while it is away: a PING is cheap, and every
# process notices within a second that Redis is back (held-back replies are due at once)


class Outage:
    """Whether Redis is away, for one process."""

    def __init__(self) -> None:
        self._since: float | None = None
        self._lock = threading.Lock()

    @property
    def down(self) -> bool:
        """True from the first failure until Redis answers again."""
        return self._since is not None

    def went(self, exc: BaseException) -> None:
        """A Redis call failed: log it, the first time only."""
        with self._lock:
            if self._since is None:
                self._since = time.monotonic()
                log.error("redis unavailable (%s): waiting for it", type(exc).__name__)

    def back(self) -> None:
        """Redis answered: log it once, with how long it was away."""
        with self._lock:
            if self._since is not None:
                log.warning("redis is back after %.0f s", time.monotonic() - self._since)
                self._since = None

    def wait(self, r: redis.Redis, stop: threading.Event | None = None) -> None:
        """Block until Redis answers a PING, backing off; log going and coming back."""
        delay = 0.25
        while not (stop and stop.is_set()):
            try:
                r.ping()
            except redis.RedisError as exc:
                self.went(exc)
                time.sleep(delay)
                delay = min(delay * 2, BACKOFF_MAX)
                continue
            self.back()
            return


# One per process: the web process and each worker report their own outage once.
OUTAGE = Outage()
