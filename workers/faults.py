"""Crash points for the fault tests: a worker dies here, for real, when a test asks.

Only with ``POLLDAY_FAULTS=1`` in the worker's environment (never in production) does a
point look in Redis: if the test has set ``fault:crash_at`` to this point's name, the
worker takes the mark and exits at once, as a SIGKILL would leave it (no clean-up, no
finally blocks).
"""

from __future__ import annotations

import os

import redis

ENABLED = os.environ.get("POLLDAY_FAULTS") == "1"
MARK = "fault:crash_at"  # outside the app's prefix: test-only, never written by the bot


def point(r: redis.Redis, name: str) -> None:
    """Die here if a fault test asked for ``name`` (once: the mark is taken)."""
    if ENABLED and r.get(MARK) == name.encode() and r.delete(MARK):
        os._exit(137)
