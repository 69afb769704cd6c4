"""The campaign's day: polling day, shifts and reminders, with one rule for clock times.

Shifts and reminders read an ``HH:MM`` time the same way, with :func:`parse_clock`.

config.yaml's ``reminders:`` list configures two kinds of reminder: a fixed local time some
days before polling day (``{days_before: 1, at: "18:00"}``), and a number of minutes before
each pledged shift starts (``{minutes_before: 60}``). :func:`due_reminders` says when they
are due, as aware UTC datetimes. Local wall-clock times are resolved in the campaign's time
zone with zoneinfo, so they are right on either side of a BST/GMT change.

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
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

MAX_DAYS_BEFORE = 14
MAX_MINUTES_BEFORE = 24 * 60
# Messages/second per channel, shared by every worker; config.yaml's rate_limits overrides.
DEFAULT_RATE_LIMITS: dict[str, float] = {"telegram": 30.0, "whatsapp": 80.0, "sms": 10.0}
PAID_TELEGRAM_RATE = 1000.0  # with telegram_paid_broadcast: Telegram's allow_paid_broadcast
CLOCK = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")


class FieldError(ValueError):
    """What is wrong with one field of a value; ``str()`` is ``field: reason``.

    ``field`` may be empty (the value as a whole) or a path suffix such as ``[1].id``;
    bot/config.py appends it to the location of the value in config.yaml.
    """

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}" if field else reason)
        self.field, self.reason = field, reason


def parse_clock(value: Any) -> time:
    """A wall-clock time from ``"HH:MM"``, or from YAML's reading of an unquoted HH:MM.

    YAML 1.1 reads an unquoted ``18:00`` as the integer 1080 (sexagesimal); that is accepted
    as 18:00. A ``time`` must be a whole minute with no time zone. Anything else raises
    ``ValueError`` saying what was expected, e.g. ``expected HH:MM, got '7am'``.
    """
    if isinstance(value, time):
        if not _whole_minute(value):
            raise ValueError(f"expected a whole minute with no time zone, got {value!r}")
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        # YAML never yields < 60 for a time (00:30 and 0:30 stay strings), so a small number
        # is a typo such as `at: 18`, not 00:18.
        if 60 <= value < 24 * 60:
            return time(value // 60, value % 60)
        hint = f" (YAML's reading of an unquoted {value // 60}:{value % 60:02d})"
        raise ValueError(f"expected HH:MM, got {value}{hint if value >= 60 else ''}")
    match = CLOCK.fullmatch(value.strip()) if isinstance(value, str) else None
    if not match:
        raise ValueError(f"expected HH:MM, got {value!r}")
    return time(int(match[1]), int(match[2]))


def _whole_minute(clock: time) -> bool:
    return not (clock.second or clock.microsecond or clock.tzinfo is not None)


@dataclass(frozen=True)
class Shift:
    """One polling-day shift."""

    id: str
    label: str
    start: time
    end: time

    @property
    def times(self) -> str:
        """``07:00–12:00``."""
        return f"{self.start:%H:%M}–{self.end:%H:%M}"


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
    if not isinstance(at, time) or not _whole_minute(at):
        return "at", f"expected a whole minute with no time zone, got {at!r}"
    return _out_of_range("days_before", days, MAX_DAYS_BEFORE)


def _out_of_range(field: str, value: Any, top: int) -> tuple[str, str] | None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= top:
        return field, f"expected a whole number from 0 to {top}, got {value!r}"
    return None


@dataclass(frozen=True)
class ReminderSpec:
    """One reminder: a local time some days before polling day, or minutes before each shift.

    Raises ``FieldError`` ("field: reason") unless it is exactly one of the two kinds, with
    numbers in range and ``at`` a whole minute.
    """

    days_before: int | None = None  # with `at`: e.g. 1 day before at 18:00
    at: time | None = None
    minutes_before: int | None = None  # before each pledged shift's start

    def __post_init__(self) -> None:
        problem = _problem(self.days_before, self.at, self.minutes_before)
        if problem:
            raise FieldError(*problem)

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
class Login:
    """A named organiser who may sign in to the organiser pages: their role (``admin`` may
    send and import; ``viewer`` only looks) and the SHA-256 of their token (the token itself
    is theirs, never in config.yaml; ``pollday login`` makes one)."""

    name: str
    role: str
    token_sha256: str


@dataclass(frozen=True)
class Campaign:
    """The organiser's settings from config.yaml."""

    polling_day: date
    timezone: ZoneInfo
    shifts: tuple[Shift, ...]
    rooms_csv: Path
    targets_csv: Path
    telegram_username: str = ""
    whatsapp_number: str = ""  # digits only, as wa.me wants them
    sms_number: str = ""  # as people dial it (the share message's way in by text)
    max_distance_km: float = 30.0
    tie_km: float = 1.0
    standby_rooms: int = 3  # the nearest target rooms someone on standby waits for
    standby_hold_minutes: float = 20.0  # how long a freed place is kept for them to answer
    no_show_wait_minutes: float = 30.0  # after a shift starts: chased; as long again: no-show
    backfill_wave_minutes: float = 10.0  # a room still short asks the next nearest this often
    organiser_contact: str = ""
    name: str = "our campaign"
    retention_days: int = 30
    imprint: str = ""  # appended to every broadcast (who promoted it, on whose behalf)
    rate_limits: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_RATE_LIMITS))
    broadcast_template: str = ""  # WhatsApp ContentSid for sends outside the 24-hour window
    organisers: frozenset[str] = frozenset()  # addresses allowed to /broadcast from chat
    logins: tuple[Login, ...] = ()  # named organisers for the organiser pages
    reminders: tuple[ReminderSpec, ...] = DEFAULT_REMINDERS
    message_quota: int = 30  # messages one person may send a minute; the rest are dropped
    max_wait_seconds: int = 120  # /healthz is 503 when someone has waited longer for a reply
    postcode_seats_file: Path | None = None  # mySociety's range file (bot/postcode_seats.py)
    telegram_paid_broadcast: bool = False  # allow_paid_broadcast: up to 1,000/s, paid in Stars
    source: Path = Path("config.yaml")  # the file it came from, named in errors

    def shift(self, shift_id: str) -> Shift:
        """The shift with this id."""
        return next(s for s in self.shifts if s.id == shift_id)

    @property
    def shift_ids(self) -> tuple[str, ...]:
        """Shift ids in configured order."""
        return tuple(s.id for s in self.shifts)


@dataclass(frozen=True)
class Due:
    """One reminder due for one pledge."""

    spec: ReminderSpec
    # All pledged shifts for a days_before reminder, one shift for a minutes_before reminder.
    shift_ids: tuple[str, ...]
    at: datetime  # aware, UTC


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


CHECK_IN_EARLY = timedelta(minutes=60)  # HERE counts from this long before a shift starts


@dataclass(frozen=True)
class Arrival:
    """What HERE means now for a pledge: the shifts it checks in to (the one under way, or
    about to start, and those pledged straight after it), or else when check-in next opens
    (None: every pledged shift is over)."""

    shifts: tuple[str, ...]
    opens: datetime | None = None


def shift_window(polling_day: date, tz: ZoneInfo, shift: Shift) -> tuple[datetime, datetime]:
    """A shift's start and end on polling day, in UTC (an end at or before the start is the
    next day's)."""
    start, end = _utc(polling_day, shift.start, tz), _utc(polling_day, shift.end, tz)
    if end <= start:
        end = _utc(polling_day + timedelta(days=1), shift.end, tz)
    return start, end


def arrival(
    polling_day: date, tz: ZoneInfo, shifts: Sequence[Shift], pledged: Sequence[str],
    now: datetime,
) -> Arrival:  # fmt: skip
    """Which pledged shifts someone arriving ``now`` checks in to: the first whose window
    (CHECK_IN_EARLY before its start, to its end) holds now, and the pledged shifts that
    follow it with no gap (they are staying on)."""
    mine = [(s, *shift_window(polling_day, tz, s)) for s in shifts if s.id in set(pledged)]
    for i, (shift, start, end) in enumerate(mine):
        if start - CHECK_IN_EARLY <= now < end:
            run, last_end = [shift.id], end
            for later, later_start, later_end in mine[i + 1 :]:
                if later_start > last_end:
                    break
                run.append(later.id)
                last_end = later_end
            return Arrival(tuple(run))
    upcoming = [start - CHECK_IN_EARLY for _, start, _ in mine if start - CHECK_IN_EARLY > now]
    return Arrival((), min(upcoming) if upcoming else None)


CHASE, NO_SHOW = "chase", "no_show"  # the two steps after a shift starts without them
POLLS_OPEN, POLLS_CLOSE = time(7), time(22)  # UK parliamentary polls (and the vote message)


def vote_message_at(polling_day: date, tz: ZoneInfo) -> datetime:
    """When the "have you voted?" message goes: as the polls open, in UTC."""
    return _utc(polling_day, POLLS_OPEN, tz)


def chases(
    polling_day: date, tz: ZoneInfo, shifts: Sequence[Shift], pledged: Sequence[str],
    wait: timedelta, now: datetime,
) -> list[tuple[str, str, datetime]]:  # fmt: skip
    """For each pledged shift not over: (shift id, CHASE, its start + ``wait``) and (shift
    id, NO_SHOW, its start + twice ``wait``). Someone pledging after the start (asked to
    fill a gap) has the waits from ``now``: time to get there. A step that would fall after
    the shift ends is left out (there is nothing left to come for)."""
    out = []
    for shift in shifts:
        start, end = shift_window(polling_day, tz, shift)
        if shift.id in set(pledged) and end > now:
            base = max(start, now)
            steps = [(shift.id, CHASE, base + wait), (shift.id, NO_SHOW, base + 2 * wait)]
            out += [step for step in steps if step[2] < end]
    return out


def _utc(day: date, clock: time, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, clock, tzinfo=tz).astimezone(UTC)
