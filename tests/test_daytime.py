"""The day's clock (bot/daytime.py): real time, or a rehearsal's day played fast."""

from __future__ import annotations

import time

import pytest

from bot import daytime
from bot.daytime import Clock


def test_the_real_clock_is_the_time():
    assert abs(Clock().now() - time.time()) < 0.01


def test_a_rehearsal_clock_runs_from_its_day_start_at_its_speed(monkeypatch):
    clock = Clock.parse("1000,1872000000,300")
    assert str(clock) == "1000.000,1872000000.000,300"
    monkeypatch.setattr(time, "time", lambda: 1010.0)
    assert clock.now() == 1872000000 + 3000  # ten real seconds are fifty minutes of the day
    monkeypatch.setattr(daytime, "_clock", clock)
    assert daytime.now() == 1872003000 and daytime.speed() == 300
    assert daytime.now_dt().isoformat() == "2029-04-27T16:50:00+00:00"
    assert daytime.real(30, least=1.0) == 1.0  # a look every 30 s of the day, not under 1 s
    assert daytime.real(900, least=1.0) == 3.0
    assert daytime.real_since(1872003000 - 600) == 2.0  # ten minutes of the day: two seconds


@pytest.mark.parametrize(
    "text, why",
    [
        ("soon", "expected <real start>,<day start>,<speed>, got 'soon'"),
        ("1,2", "expected <real start>,<day start>,<speed>, got '1,2'"),
        ("1,2,0", "the speed must be more than 0, got 0"),
    ],
)
def test_a_bad_clock_is_named(text, why):
    with pytest.raises(ValueError, match="POLLDAY_CLOCK: " + why.replace("(", r"\(")):
        Clock.parse(text)
