"""What this worker process has done, counted in memory and reported with its heartbeat
by the clock thread (bot/store/pulse.py), so counting costs a turn no Redis round trip."""

from __future__ import annotations

import os
import socket
import threading
from collections import Counter

NAME = f"{socket.gethostname()}:{os.getpid()}"  # how /healthz and /metrics know a process
_counts: Counter[str] = Counter()
_lock = threading.Lock()


def count(name: str, n: int = 1) -> None:
    """Count something (``turns``, ``sends:<channel>:<result>``)."""
    with _lock:
        _counts[name] += n


def take() -> dict[str, int]:
    """What was counted since the last take (given back with ``give_back`` if it could not
    be reported)."""
    with _lock:
        taken = dict(_counts)
        _counts.clear()
    return taken


def give_back(counts: dict[str, int]) -> None:
    """Counts that could not be reported (Redis away): kept for the next beat."""
    with _lock:
        _counts.update(counts)
