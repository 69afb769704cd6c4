"""The time the day runs on: the real time, or during ``pollday rehearse`` a polling day
played fast.

A rehearsal starts every process with ``POLLDAY_CLOCK`` set to ``<real start>,<day
start>,<speed>`` (unix seconds, seconds of the day per real second); ``now()`` is then the
day start plus the real time since, times the speed. Everything the day's plan reads goes
through here: shifts, reminders, chases, holds, waves, timed events, when a message came.
The machinery keeps real seconds, as Redis and the platforms do: locks, leases, rate
limits, heartbeats, how long someone has waited for a reply (``real_since``).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo

ENV = "POLLDAY_CLOCK"


@dataclass(frozen=True)
class Clock:
    """Real time from ``real0`` on is the day's time from ``day0`` on, ``speed`` times as
    fast (the real clock: speed 1, no offset)."""

    real0: float = 0.0
    day0: float = 0.0
    speed: float = 1.0

    @classmethod
    def parse(cls, text: str) -> Clock:
        """From ``POLLDAY_CLOCK``'s three numbers; ValueError naming what is wrong."""
        try:
            real0, day0, speed = (float(x) for x in text.split(","))
        except ValueError:
            why = f"{ENV}: expected <real start>,<day start>,<speed>, got {text!r}"
            raise ValueError(why) from None
        if speed <= 0:
            raise ValueError(f"{ENV}: the speed must be more than 0, got {speed:g}")
        return cls(real0, day0, speed)

    def __str__(self) -> str:
        return f"{self.real0:.3f},{self.day0:.3f},{self.speed:g}"

    def now(self) -> float:
        """The day's unix time."""
        return self.day0 + (time.time() - self.real0) * self.speed


_clock = Clock.parse(os.environ[ENV]) if os.environ.get(ENV) else Clock()


def use(clock: Clock) -> Clock:
    """Run this process on ``clock`` (a rehearsal's own processes read it from ``ENV``);
    the clock it ran on before."""
    global _clock
    before, _clock = _clock, clock
    return before


def now() -> float:
    """The day's time now (unix seconds)."""
    return _clock.now()


def now_dt(tz: tzinfo = UTC) -> datetime:
    """The day's time now, aware, in ``tz``."""
    return datetime.fromtimestamp(_clock.now(), tz)


def speed() -> float:
    """Seconds of the day per real second (1 but in a rehearsal)."""
    return _clock.speed


def real(day_seconds: float, least: float) -> float:
    """Real seconds for a period of the day (a look every 30 s of the day is every 0.1 s
    at 300 times), never under ``least`` (the machinery's own pace)."""
    return max(least, day_seconds / _clock.speed)


def real_since(day_time: float) -> float:
    """Real seconds since a moment of the day's time (how long someone has waited)."""
    return (_clock.now() - day_time) / _clock.speed
