"""Reminder times: local wall-clock times in Europe/London across both 2029 clock changes,
real minutes before shifts, past reminders left out; what a ReminderSpec may be."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.campaign import (
    DEFAULT_REMINDERS,
    Due,
    ReminderSpec,
    Shift,
    due_reminders,
    parse_clock,
)

LONDON = ZoneInfo("Europe/London")
LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)
EVENING_BEFORE = ReminderSpec(days_before=1, at=time(18, 0))
HOUR_BEFORE = ReminderSpec(minutes_before=60)

# 2029: clocks go forward on Sunday 25 March (01:00 GMT -> 02:00 BST) and back on Sunday
# 28 October (02:00 BST -> 01:00 GMT).
SPRING, AUTUMN = date(2029, 3, 25), date(2029, 10, 28)


def utc(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2029, month, day, hour, minute, tzinfo=UTC)


def shift(sid: str, start: time, end: time | None = None) -> Shift:
    return Shift(sid, sid.title(), start, end or time(23, 0))


def one(day: date, start: time, spec: ReminderSpec) -> datetime:
    """The single reminder time for one shift starting at `start` on polling day `day`."""
    (due,) = due_reminders(day, LONDON, [shift("s", start)], ["s"], [spec], LONG_AGO)
    assert due.at.tzinfo is UTC
    return due.at


@pytest.mark.parametrize(
    "day, evening_before, hour_before_7am",
    [
        pytest.param(date(2029, 1, 11), utc(1, 10, 18), utc(1, 11, 6), id="gmt-thursday"),
        pytest.param(date(2029, 5, 3), utc(5, 2, 17), utc(5, 3, 5), id="bst-thursday"),
        # The evening before is still GMT; 07:00 on the day is already BST.
        pytest.param(SPRING, utc(3, 24, 18), utc(3, 25, 5), id="spring-forward-day"),
        pytest.param(date(2029, 3, 26), utc(3, 25, 17), utc(3, 26, 5), id="day-after-spring"),
        # The evening before is still BST; 07:00 on the day is GMT again.
        pytest.param(AUTUMN, utc(10, 27, 17), utc(10, 28, 6), id="fall-back-day"),
        pytest.param(date(2029, 10, 29), utc(10, 28, 18), utc(10, 29, 6), id="day-after-autumn"),
    ],
)
def test_evening_before_and_hour_before_a_7am_shift(day, evening_before, hour_before_7am):
    assert one(day, time(7, 0), EVENING_BEFORE) == evening_before
    assert one(day, time(7, 0), HOUR_BEFORE) == hour_before_7am


@pytest.mark.parametrize(
    "day, start, minutes, expected",
    [
        # minutes_before=0 is the shift start itself.
        pytest.param(SPRING, time(7, 0), 0, utc(3, 25, 6), id="spring-7am-start"),
        # 01:30 does not exist on the spring-forward day; zoneinfo's fold=0 takes the GMT
        # offset from before the change, so it is 01:30 UTC (02:30 BST), not 00:30 UTC.
        pytest.param(SPRING, time(1, 30), 0, utc(3, 25, 1, 30), id="spring-gap-start"),
        pytest.param(SPRING, time(1, 30), 60, utc(3, 25, 0, 30), id="spring-gap-hour-before"),
        # 03:00 BST is 02:00 UTC; an hour of real time before is 01:00 UTC, the moment of
        # the change. Subtracting on the wall clock would give 02:00 local, which does not
        # exist, and fold=0 would make that 02:00 UTC: no warning at all.
        pytest.param(SPRING, time(3, 0), 60, utc(3, 25, 1), id="spring-hour-across-gap"),
        # 01:30 happens twice on the fall-back day; fold=0 is the first, in BST.
        pytest.param(AUTUMN, time(1, 30), 0, utc(10, 28, 0, 30), id="autumn-repeat-start"),
        pytest.param(AUTUMN, time(1, 30), 60, utc(10, 27, 23, 30), id="autumn-repeat-hour"),
        # 02:30 GMT is 02:30 UTC; one and two real hours before are the second and the first
        # 01:30 on the clock. Wall-clock subtraction would make both the first (00:30 UTC).
        pytest.param(AUTUMN, time(2, 30), 60, utc(10, 28, 1, 30), id="autumn-hour-across"),
        pytest.param(AUTUMN, time(2, 30), 120, utc(10, 28, 0, 30), id="autumn-2h-across"),
        pytest.param(AUTUMN, time(0, 30), 1440, utc(10, 26, 23, 30), id="autumn-a-day"),
    ],
)
def test_minutes_before_are_real_minutes_across_clock_changes(day, start, minutes, expected):
    assert one(day, start, ReminderSpec(minutes_before=minutes)) == expected


@pytest.mark.parametrize(
    "day, spec, expected",
    [
        # On the spring-forward day 01:30 local does not exist: fold=0 gives 01:30 UTC.
        pytest.param(date(2029, 3, 26), ReminderSpec(days_before=1, at=time(1, 30)),
                     utc(3, 25, 1, 30), id="gap"),
        pytest.param(date(2029, 3, 26), ReminderSpec(days_before=1, at=time(0, 59)),
                     utc(3, 25, 0, 59), id="just-before-gap"),
        pytest.param(date(2029, 3, 26), ReminderSpec(days_before=1, at=time(2, 0)),
                     utc(3, 25, 1), id="just-after-gap"),
        # On the fall-back day 01:30 happens twice: fold=0 gives the first, BST.
        pytest.param(date(2029, 10, 29), ReminderSpec(days_before=1, at=time(1, 30)),
                     utc(10, 28, 0, 30), id="repeat"),
        pytest.param(date(2029, 11, 8), ReminderSpec(days_before=14, at=time(9, 0)),
                     utc(10, 25, 8), id="two-weeks-before-in-bst"),
        pytest.param(date(2029, 5, 3), ReminderSpec(days_before=0, at=time(6, 0)),
                     utc(5, 3, 5), id="on-the-day"),
    ],
)  # fmt: skip
def test_days_before_at_local_time(day, spec, expected):
    assert one(day, time(7, 0), spec) == expected


SHIFTS = (
    shift("early", time(7, 0), time(10, 0)),
    shift("midday", time(10, 0), time(14, 0)),
    shift("evening", time(17, 0), time(22, 0)),
    shift("late", time(17, 0), time(22, 0)),
)
POLLING_DAY = date(2029, 5, 3)  # BST


def test_multi_shift_pledge_one_days_before_and_one_minutes_before_per_shift():
    got = due_reminders(
        POLLING_DAY, LONDON, SHIFTS, ["late", "early", "early"], DEFAULT_REMINDERS, LONG_AGO
    )
    assert got == [
        Due(EVENING_BEFORE, ("early", "late"), utc(5, 2, 17)),  # configured order, once each
        Due(HOUR_BEFORE, ("early",), utc(5, 3, 5)),
        Due(HOUR_BEFORE, ("late",), utc(5, 3, 15)),
    ]


def test_same_moment_keeps_spec_then_shift_order():
    specs = [ReminderSpec(minutes_before=60), ReminderSpec(days_before=0, at=time(16, 0))]
    got = due_reminders(POLLING_DAY, LONDON, SHIFTS, ["late", "evening"], specs, LONG_AGO)
    assert [(d.spec.name, d.shift_ids) for d in got] == [
        ("m60", ("evening",)),
        ("m60", ("late",)),
        ("d0-1600", ("evening", "late")),
    ]
    assert {d.at for d in got} == {utc(5, 3, 15)}


@pytest.mark.parametrize(
    "now, expected",
    [
        (LONG_AGO, ["d1-1800 early,evening", "m60 early", "m60 evening"]),
        (utc(5, 2, 16, 59), ["d1-1800 early,evening", "m60 early", "m60 evening"]),
        (utc(5, 2, 17) - timedelta(microseconds=1), ["d1-1800 early,evening", "m60 early",
                                                     "m60 evening"]),
        (utc(5, 2, 17), ["m60 early", "m60 evening"]),  # due exactly now: not after now
        (utc(5, 3, 5, 30), ["m60 evening"]),
        (datetime(2029, 5, 3, 15, 59, tzinfo=LONDON), ["m60 evening"]),  # any aware zone
        (datetime(2029, 5, 3, 16, 0, tzinfo=LONDON), []),
        (utc(5, 4, 0), []),
    ],
)  # fmt: skip
def test_reminders_not_after_now_are_left_out(now, expected):
    got = due_reminders(POLLING_DAY, LONDON, SHIFTS, ["early", "evening"], DEFAULT_REMINDERS, now)
    assert [f"{d.spec.name} {','.join(d.shift_ids)}" for d in got] == expected


@pytest.mark.parametrize(
    "pledged, specs, expected",
    [
        ([], DEFAULT_REMINDERS, 0),
        (["gone"], DEFAULT_REMINDERS, 0),  # a shift removed from config.yaml since
        (["gone", "early"], DEFAULT_REMINDERS, 2),
        (["early", "midday"], (), 0),
        (["early", "midday"], (EVENING_BEFORE,), 1),
        (["early", "midday"], (HOUR_BEFORE, ReminderSpec(minutes_before=15)), 4),
    ],
)
def test_how_many_reminders(pledged, specs, expected):
    assert len(due_reminders(POLLING_DAY, LONDON, SHIFTS, pledged, specs, LONG_AGO)) == expected


def test_naive_now_is_refused():
    with pytest.raises(ValueError, match="now: expected an aware datetime"):
        due_reminders(
            POLLING_DAY, LONDON, SHIFTS, ["early"], DEFAULT_REMINDERS, datetime(2029, 1, 1)
        )


@pytest.mark.parametrize(
    "spec, name",
    [
        (EVENING_BEFORE, "d1-1800"),
        (HOUR_BEFORE, "m60"),
        (ReminderSpec(days_before=0, at=time(7, 5)), "d0-0705"),
        (ReminderSpec(days_before=14, at=time(0, 0)), "d14-0000"),
        (ReminderSpec(minutes_before=0), "m0"),
        (ReminderSpec(minutes_before=1440), "m1440"),
    ],
)
def test_names(spec, name):
    assert spec.name == name


def test_defaults():
    assert [s.name for s in DEFAULT_REMINDERS] == ["d1-1800", "m60"]


MIXED = "use either days_before with at, or minutes_before, not both"
RANGE_DAYS = "days_before: expected a whole number from 0 to 14, got"
RANGE_MINUTES = "minutes_before: expected a whole number from 0 to 1440, got"


@pytest.mark.parametrize(
    "fields, message",
    [
        ({}, "expected days_before with at, or minutes_before"),
        ({"days_before": 1}, "at: missing (needed with days_before)"),
        ({"at": time(18, 0)}, "days_before: missing (needed with at)"),
        ({"minutes_before": 60, "at": time(18, 0)}, MIXED),
        ({"minutes_before": -1}, f"{RANGE_MINUTES} -1"),
        ({"days_before": 1, "at": time(18, 0, tzinfo=UTC)}, "at: expected a whole minute"),
    ],
)
def test_reminder_spec_refuses_impossible_combinations(fields, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ReminderSpec(**fields)


@pytest.mark.parametrize(
    "value, expected",
    [
        ("07:00", time(7, 0)),
        ("7:05", time(7, 5)),
        (" 23:59 ", time(23, 59)),
        ("00:00", time(0, 0)),
        (420, time(7, 0)),  # YAML 1.1's reading of an unquoted 7:00
        (1080, time(18, 0)),
        (1439, time(23, 59)),
        (time(18, 0), time(18, 0)),
    ],
)
def test_parse_clock(value: object, expected: time):
    assert parse_clock(value) == expected


@pytest.mark.parametrize(
    "value, message",
    [
        ("7am", "expected HH:MM, got '7am'"),
        ("24:00", "expected HH:MM, got '24:00'"),
        ("18:60", "expected HH:MM, got '18:60'"),
        ("18:00:00", "expected HH:MM, got '18:00:00'"),
        ("", "expected HH:MM, got ''"),
        (18, "expected HH:MM, got 18"),  # a typo for 18:00, not 00:18
        (0, "expected HH:MM, got 0"),
        (-60, "expected HH:MM, got -60"),
        (1440, "expected HH:MM, got 1440 (YAML's reading of an unquoted 24:00)"),
        (1500, "expected HH:MM, got 1500 (YAML's reading of an unquoted 25:00)"),
        (True, "expected HH:MM, got True"),
        (7.5, "expected HH:MM, got 7.5"),
        (None, "expected HH:MM, got None"),
        (
            time(18, 0, 30),
            "expected a whole minute with no time zone, got datetime.time(18, 0, 30)",
        ),
        (time(18, 0, tzinfo=UTC), "expected a whole minute with no time zone, got "),
    ],
)
def test_parse_clock_refuses(value: object, message: str):
    with pytest.raises(ValueError) as exc:
        parse_clock(value)
    assert str(exc.value).startswith(message)
