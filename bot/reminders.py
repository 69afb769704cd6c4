"""When polling-day reminders are due, as aware UTC datetimes.

config.yaml's ``reminders:`` list configures two kinds of reminder: a fixed local time some
days before polling day (``{days_before: 1, at: "18:00"}``), and a number of minutes before
each pledged shift starts (``{minutes_before: 60}``). Local wall-clock times are resolved in
the campaign's time zone with zoneinfo, so they are right on either side of a BST/GMT change.

Local times that fall in a clock change follow zoneinfo's ``fold=0`` rule (PEP 495), which is
what ``datetime.combine(..., tzinfo=tz)`` gives:

* a time that does not exist (Europe/London, last Sunday of March, 01:00-02:00) takes the
  offset in force *before* the change, so 01:30 is 01:30 UTC, which clocks show as 02:30 BST;
* a time that happens twice (last Sunday of October, 01:00-02:00) is the *first* one, in
  BST, so 01:30 is 00:30 UTC.

UK polling days are Thursdays and clocks change on Sundays, so this only matters for odd
configurations, but the result is defined and tested rather than accidental.

Pure code: no Redis, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

if TYPE_CHECKING:  # config.py imports this module to parse reminders:
    from bot.config import Shift

MAX_DAYS_BEFORE = 14
MAX_MINUTES_BEFORE = 24 * 60
KEYS = ("days_before", "at", "minutes_before")
CLOCK = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")


def _problem(days: Any, at: Any, minutes: Any) -> tuple[str, str] | None:
    """What is wrong with these ReminderSpec fields, as (field or "", reason), or None."""
    if minutes is not None:
        if days is not None or at is not None:
            return "", "use either days_before with at, or minutes_before, not both"
        return _out_of_range("minutes_before", minutes, MAX_MINUTES_BEFORE)
    if days is None and at is None:
        return "", "expected days_before with at, or minutes_before"
    if days is None:
        return "days_before", "missing (needed with at)"
    if at is None:
        return "at", "missing (needed with days_before)"
    if not isinstance(at, time) or at.second or at.microsecond or at.tzinfo is not None:
        return "at", f"expected a whole minute with no time zone, got {at!r}"
    return _out_of_range("days_before", days, MAX_DAYS_BEFORE)


def _out_of_range(field: str, value: Any, top: int) -> tuple[str, str] | None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= top:
        return field, f"expected a whole number from 0 to {top}, got {value!r}"
    return None


@dataclass(frozen=True)
class ReminderSpec:
    """One reminder: a local time some days before polling day, or minutes before each shift.

    Raises ``ValueError`` ("field: reason") unless it is exactly one of the two kinds, with
    numbers in range and ``at`` a whole minute.
    """

    days_before: int | None = None  # with `at`: e.g. 1 day before at 18:00
    at: time | None = None
    minutes_before: int | None = None  # before each pledged shift's start

    def __post_init__(self) -> None:
        problem = _problem(self.days_before, self.at, self.minutes_before)
        if problem:
            field, reason = problem
            raise ValueError(f"{field}: {reason}" if field else reason)

    @property
    def name(self) -> str:
        """Stable short id for job ids and ledgers: ``d1-1800`` or ``m60``."""
        if self.minutes_before is not None:
            return f"m{self.minutes_before}"
        return f"d{self.days_before}-{self.at:%H%M}"


DEFAULT_REMINDERS: tuple[ReminderSpec, ...] = (
    ReminderSpec(days_before=1, at=time(18, 0)),
    ReminderSpec(minutes_before=60),
)


@dataclass(frozen=True)
class Due:
    """One reminder due for one pledge."""

    spec: ReminderSpec
    # All pledged shifts for a days_before reminder, one shift for a minutes_before reminder.
    shift_ids: tuple[str, ...]
    at: datetime  # aware, UTC


def parse_reminders(raw: Any) -> tuple[ReminderSpec, ...]:
    """Reminder specs from config.yaml's ``reminders:`` value.

    Items are ``{days_before: N, at: "HH:MM"}`` (0-14 days) or ``{minutes_before: N}``
    (0-1440 minutes). ``None`` (the key left out) gives :data:`DEFAULT_REMINDERS`; ``[]``
    gives no reminders. An unquoted ``18:00`` arrives from YAML 1.1 as the integer 1080
    (sexagesimal) and is accepted as 18:00. Anything else wrong raises ``ValueError`` naming
    the item and field, e.g. ``reminders[1].at: expected HH:MM, got '25:00'``; two items
    with the same :attr:`ReminderSpec.name` are an error too, since the name is a job id.
    """
    if raw is None:
        return DEFAULT_REMINDERS
    if not isinstance(raw, list):
        raise ValueError(f"reminders: expected a list, got {type(raw).__name__}")
    specs: list[ReminderSpec] = []
    for i, item in enumerate(raw):
        where = f"reminders[{i}]"
        if not isinstance(item, dict):
            raise ValueError(
                f'{where}: expected a mapping like {{days_before: 1, at: "18:00"}} '
                f"or {{minutes_before: 60}}, got {item!r}"
            )
        unknown = [key for key in item if key not in KEYS]
        if unknown:
            raise ValueError(
                f"{where}.{unknown[0]}: unknown key; expected days_before, at or minutes_before"
            )
        days, at, minutes = item.get("days_before"), item.get("at"), item.get("minutes_before")
        # Mixing the two kinds is reported as such, not as a complaint about `at`.
        if at is not None and minutes is None:
            at = _clock(f"{where}.at", at)
        problem = _problem(days, at, minutes)
        if problem:
            field, reason = problem
            raise ValueError(f"{where}.{field}: {reason}" if field else f"{where}: {reason}")
        spec = ReminderSpec(days, at, minutes)
        for j, earlier in enumerate(specs):
            if earlier.name == spec.name:
                raise ValueError(f"{where}: duplicate of reminders[{j}] ({spec.name})")
        specs.append(spec)
    return tuple(specs)


def due_reminders(
    polling_day: date,
    tz: ZoneInfo,
    shifts: Sequence[Shift],
    pledged: Sequence[str],
    specs: Sequence[ReminderSpec],
    now: datetime,
) -> list[Due]:
    """Reminders for one pledge, sorted by time, leaving out any not after ``now`` (aware).

    ``pledged`` holds shift ids looked up in ``shifts``; ids not in ``shifts`` (a shift
    removed from config.yaml since the pledge) are ignored, and a days_before reminder lists
    the pledged shifts in configured order. A days_before reminder is its local wall-clock
    time in ``tz``; a minutes_before reminder is the shift's local start converted to UTC,
    minus the minutes, so it is exactly that many real minutes before the start even across
    a clock change. Local times inside a clock change follow zoneinfo's ``fold=0`` rule (see
    the module docstring): on the spring-forward day a 01:30 shift starts at 01:30 UTC.
    Reminders due at the same moment keep the order of ``specs``, then of ``shifts``.
    """
    if now.utcoffset() is None:
        raise ValueError(f"now: expected an aware datetime, got {now!r}")
    wanted = set(pledged)
    mine = [shift for shift in shifts if shift.id in wanted]
    if not mine:
        return []
    due: list[Due] = []
    for spec in specs:
        if spec.minutes_before is not None:
            before = timedelta(minutes=spec.minutes_before)
            due.extend(Due(spec, (s.id,), _utc(polling_day, s.start, tz) - before) for s in mine)
        elif spec.days_before is not None and spec.at is not None:
            day = polling_day - timedelta(days=spec.days_before)
            due.append(Due(spec, tuple(s.id for s in mine), _utc(day, spec.at, tz)))
    return sorted((d for d in due if d.at > now), key=lambda d: d.at)


def _utc(day: date, clock: time, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, clock, tzinfo=tz).astimezone(UTC)


def _clock(where: str, value: Any) -> time:
    if isinstance(value, time):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        # YAML 1.1 reads an unquoted 18:00 as 1080; it never yields < 60 for a time (00:30
        # stays a string), so a small number is a typo such as `at: 18`, not 00:18.
        if 60 <= value < 24 * 60:
            return time(value // 60, value % 60)
        hint = f" (YAML's reading of an unquoted {value // 60}:{value % 60:02d})"
        raise ValueError(f"{where}: expected HH:MM, got {value}{hint if value >= 60 else ''}")
    match = CLOCK.fullmatch(value.strip()) if isinstance(value, str) else None
    if not match:
        raise ValueError(f"{where}: expected HH:MM, got {value!r}")
    return time(int(match[1]), int(match[2]))
