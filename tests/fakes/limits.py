"""The platforms' rate limits, as the fakes enforce them: at most N sends in any sliding
window, per key (the whole bot, one chat, one sender)."""

from __future__ import annotations

import math
import threading
import time
from collections import deque


class Window:
    """At most ``count`` sends in any ``seconds``-long window, counted per key."""

    def __init__(self, count: int, seconds: float = 1.0) -> None:
        self.count, self.seconds = count, seconds
        self._sent: dict[str, deque[float]] = {}

    @classmethod
    def per_second(cls, rate: float | None) -> Window | None:
        """``rate`` sends a second (None: no limit); below 1/s, one per 1/rate seconds."""
        if rate is None:
            return None
        return cls(math.floor(rate), 1.0) if rate >= 1 else cls(1, 1.0 / rate)

    def wait(self, key: str, now: float) -> float:
        """Seconds until a send under ``key`` would be within the limit (0.0: now)."""
        sent = self._sent.setdefault(key, deque())
        while sent and sent[0] <= now - self.seconds:
            sent.popleft()
        return sent[0] + self.seconds - now if len(sent) >= self.count else 0.0

    def add(self, key: str, now: float) -> None:
        self._sent[key].append(now)


class Limits:
    """Several windows checked together: a send counts in all of them or in none (a platform
    does not deliver, or count, what it refused). Thread-safe."""

    def __init__(self, *windows: Window | None) -> None:
        self.windows = windows
        self._lock = threading.Lock()
        self.refused = 0

    def take(self, *keys: str) -> float:
        """One send under ``keys`` (one per window): 0.0 if every window has room (counted),
        else the seconds until they all would."""
        now = time.monotonic()
        pairs = [(w, k) for w, k in zip(self.windows, keys, strict=True) if w is not None]
        with self._lock:
            wait = max((w.wait(k, now) for w, k in pairs), default=0.0)
            if wait > 0:
                self.refused += 1
                return wait
            for w, k in pairs:
                w.add(k, now)
            return 0.0


def retry_after(wait: float) -> int:
    """A wait as the platforms state it: whole seconds, at least one."""
    return max(1, math.ceil(wait))
