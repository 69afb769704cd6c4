"""The staffing board's figures: per shift, each room's pledges against its places, the
shortest first, with totals per shift and per seat. Pure: it reads the rooms report."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Row:
    """One room in one shift."""

    room: str
    name: str
    seat: str
    contact: str
    target: bool
    pledged: int  # places taken, those held for someone on standby included
    places: int
    held: int = 0  # kept for someone on standby while they answer
    waiting: int = 0  # on standby for this room and shift
    arrived: int = 0  # checked in (HERE)
    on_the_way: int = 0  # said so when chased after the shift started
    no_show: int = 0  # not there nor heard from after the waits: their place was freed

    @property
    def short(self) -> int:
        """Places still to fill (0 when full or over)."""
        return max(0, self.places - self.pledged)

    @property
    def percent(self) -> int:
        """How full, for the bar (0-100)."""
        return min(100, round(100 * self.pledged / self.places)) if self.places else 100

    @property
    def status(self) -> str:
        """In words, so the board reads without colour."""
        if not self.places:
            return "no places"
        if self.pledged >= self.places:
            return "full"
        return "short" if self.pledged * 2 < self.places else "filling"


@dataclass(frozen=True)
class Shift:
    """A shift's rooms, shortest first, and its totals."""

    id: str
    label: str
    rows: tuple[Row, ...]

    @property
    def pledged(self) -> int:
        return sum(r.pledged for r in self.rows)

    @property
    def places(self) -> int:
        return sum(r.places for r in self.rows)


SORTS = {
    "short": "shortest first",
    "priority": "seat priority",
    "name": "name",
}


def shifts(
    report: list[dict[str, Any]],
    labels: dict[str, str],
    sort: str = "short",
    seat: str = "",
    shift: str = "",
) -> list[Shift]:
    """Each shift's rows from ``organising.rooms_report``, rooms in target seats first, then
    in ``sort`` order: the most places short (then name), the seat's priority (then the
    most short), or the room's name. ``seat`` and ``shift`` keep only those (empty: all)."""

    def order(row: Row, priority: int | None) -> tuple[Any, ...]:
        if sort == "priority":
            return (not row.target, priority or 0, -row.short, row.name)
        if sort == "name":
            return (not row.target, row.name)
        return (not row.target, -row.short, row.name)

    out = []
    for shift_id, label in labels.items():
        if shift and shift_id != shift:
            continue
        rows = [
            (
                Row(
                    r["id"],
                    r["name"],
                    r["constituency"],
                    r.get("contact", ""),
                    r["target"],
                    r["shifts"][shift_id]["pledged"],
                    r["shifts"][shift_id]["capacity"],
                    r["shifts"][shift_id].get("held", 0),
                    r["shifts"][shift_id].get("waiting", 0),
                    r["shifts"][shift_id].get("arrived", 0),
                    r["shifts"][shift_id].get("on_the_way", 0),
                    r["shifts"][shift_id].get("no_show", 0),
                ),
                r["priority"],
            )  # fmt: skip
            for r in report
            if not seat or r["constituency"] == seat
        ]
        rows.sort(key=lambda pair: order(*pair))
        out.append(Shift(shift_id, label, tuple(row for row, _ in rows)))
    return out


def seats(board: list[Shift]) -> list[tuple[str, int, int]]:
    """(seat, pledged, places) over every shift, the most short first."""
    totals: dict[str, list[int]] = {}
    for shift in board:
        for row in shift.rows:
            t = totals.setdefault(row.seat, [0, 0])
            t[0], t[1] = t[0] + row.pledged, t[1] + row.places
    return sorted(((s, p, n) for s, (p, n) in totals.items()), key=lambda x: (x[1] - x[2], x[0]))


@dataclass(frozen=True)
class Chart:
    """Running totals of supporters and pledges, hour by hour, as SVG polyline points."""

    width: int
    height: int
    hours: int
    lines: tuple[tuple[str, str, int, int], ...]  # (label, points, total, in the last hour)


def chart(timeline: dict[str, dict[int, int]], now_hour: int, hours: int = 24) -> Chart:
    """The last ``hours`` hours of ``timeline`` (pulse.timeline), each kind as a running
    total from the start (so the line's height is how many there are)."""
    width, height = 600, 160
    first = now_hour - hours + 1
    series = []
    for kind, label in (("joined", "supporters"), ("pledged", "pledges")):
        by_hour = timeline.get(kind, {})
        total = sum(n for h, n in by_hour.items() if h < first)
        running = []
        for h in range(first, now_hour + 1):
            total += by_hour.get(h, 0)
            running.append(total)
        series.append((label, running, by_hour.get(now_hour, 0)))
    top = max([1, *(max(r) for _, r, _ in series)])
    lines = []
    for label, running, last in series:
        points = " ".join(
            f"{round(i * width / max(1, hours - 1))},{round(height - v * height / top)}"
            for i, v in enumerate(running)
        )
        lines.append((label, points, running[-1], last))
    return Chart(width, height, hours, tuple(lines))
