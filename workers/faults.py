"""Crash points for the fault tests: a worker dies here, for real, when a test asks.

Only with ``POLLDAY_FAULTS=1`` in the worker's environment (never in production) does a
point look in Redis: if the test has set ``keys.CRASH_AT`` to this point's name, the
worker takes the mark and exits at once, as a SIGKILL would leave it (no clean-up, no
finally blocks).
"""

from __future__ import annotations

import os

from bot.store import Store, keys

ENABLED = os.environ.get("POLLDAY_FAULTS") == "1"


def point(store: Store, name: str) -> None:
    """Die here if a fault test asked for ``name`` (once: the mark is taken)."""
    mark = keys.CRASH_AT(store.p)
    if ENABLED and store.r.get(mark) == name.encode() and store.r.delete(mark):
        os._exit(137)
