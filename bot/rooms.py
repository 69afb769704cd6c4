"""Committee rooms, target seats, and the choice of which room to offer (pure, no I/O).

The ranking rule (also in the README): among rooms in target seats with a place left in
at least one chosen shift, take the nearest (straight line). Every such room within
``tie_km`` of that nearest one is a near tie: near ties are ordered by seat priority
(1 first), then distance; the rest follow by distance, then priority. Rooms in
non-target seats are never offered. ``far`` is set when the best room is beyond
``max_distance_km``, so the supporter is told plainly.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import TextIO

import numpy as np

from bot.geo import EARTH_RADIUS_KM, Geocoder, GeocoderUnavailable, find_postcode
from bot.model.message import Location
from bot.seats import GSS_CODE, seats

DEFAULT_CAPACITY = 10
ROOM_ID = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
MAX_ERRORS = 20
FACTS = ("step_free", "bring", "parking", "notes")  # optional columns about the room
MAX_FACT = 200  # characters in one fact: it goes into every offer, SMS included
YES_NO = {"yes": True, "y": True, "true": True, "1": True, "no": False, "n": False,
          "false": False, "0": False, "": None}  # fmt: skip


class CsvError(Exception):
    """A spreadsheet could not be loaded; ``problems`` are ``row N, column C: reason`` lines."""

    def __init__(self, path: Path | str, problems: list[str]) -> None:
        self.path, self.problems = str(path), problems
        super().__init__(f"{path}: " + "; ".join(problems))


@dataclass(frozen=True, slots=True)
class Room:
    """One committee room; ``capacity`` is places per shift id."""

    id: str
    name: str
    address: str
    postcode: str
    constituency: str
    location: Location
    capacity: dict[str, int]
    contact: str = ""
    # What a volunteer wants to know before going (optional; shown in offers and the
    # confirmation): step-free access (None: not said), what to bring, parking, notes.
    step_free: bool | None = None
    bring: str = ""
    parking: str = ""
    notes: str = ""

    @property
    def seat(self) -> str:
        """The constituency as a matching key (its GSS code)."""
        return seat_key(self.constituency)

    @property
    def seat_name(self) -> str:
        """The constituency as people read it: its name, even if the room gave the code."""
        return seats().name(self.constituency)

    def places(self, shift: str) -> int:
        """Places per shift; 0 for a shift added to config.yaml after the rooms were loaded."""
        return self.capacity.get(shift, 0)

    def to_json(self) -> str:
        """Compact JSON for storage."""
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str | bytes) -> Room:
        """Rebuild from :meth:`to_json`."""
        d = json.loads(raw)
        return cls(location=Location(**d.pop("location")), **d)


@dataclass(frozen=True, slots=True)
class Offer:
    """A room offered for the chosen shifts that still have places there."""

    room_id: str
    shifts: tuple[str, ...]
    km: float
    left: tuple[int, ...] = ()  # places left in each of ``shifts`` when it was ranked


@lru_cache(maxsize=8192)  # a room's seat is asked for at every ranking: read each name once
def seat_key(constituency: str) -> str:
    """What seats are matched by: a constituency's GSS code, given its name or code as
    people write them (bot/seats.py)."""
    return seats().key(constituency)


def seat_problem(text: str) -> str | None:
    """Why ``text`` is no UK constituency (with the closest names), or None if it is one."""
    if seats().resolve(text):
        return None
    close = seats().suggest(text)
    hint = f": did you mean {' or '.join(close)}?" if close else ""
    return f"{text!r} is not a UK constituency{hint}"


@dataclass(frozen=True, slots=True)
class Upload:
    """A spreadsheet that arrived as bytes (an API upload), named for error messages."""

    name: str
    data: bytes


Source = Path | Upload


def write_rooms_csv(rooms: Iterable[Room], shift_ids: Sequence[str], out: TextIO) -> None:
    """The rooms in the format load_rooms reads: a capacity column per shift, the contact
    and the room's facts, so a download edited and uploaded again changes only what was
    edited."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["id", "name", "address", "postcode", "constituency", "latitude",
                     "longitude", *(f"capacity_{s}" for s in shift_ids), "contact",
                     *FACTS])  # fmt: skip
    for r in sorted(rooms, key=lambda room: room.id):
        step_free = {True: "yes", False: "no", None: ""}[r.step_free]
        writer.writerow([r.id, r.name, r.address, r.postcode, r.constituency,
                         r.location.latitude, r.location.longitude,
                         *(r.places(s) for s in shift_ids), r.contact,
                         step_free, r.bring, r.parking, r.notes])  # fmt: skip


def describe(source: Source) -> str:
    """How a spreadsheet is named in error messages."""
    return source.name if isinstance(source, Upload) else str(source)


def read_csv(source: Source, required: Sequence[str]) -> tuple[list[str], list[tuple[int, dict]]]:
    """The header (lower case) and ``(row number, row)`` pairs; rows count the header as 1."""
    name = describe(source)
    try:
        data = source.data if isinstance(source, Upload) else source.read_bytes()
        reader = csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline=""))
        header = [h.strip().lower() for h in (reader.fieldnames or [])]
        reader.fieldnames = header
        rows = [(i, row) for i, row in enumerate(reader, start=2)]
    except FileNotFoundError:
        raise CsvError(name, ["file not found"]) from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise CsvError(name, [f"not a readable UTF-8 CSV file: {exc}"]) from None
    missing = [c for c in required if c not in header]
    if missing:
        raise CsvError(name, [f"row 1: missing column(s) {', '.join(missing)}"])
    return header, rows


def whole(raw: str) -> int | None:
    """A whole number written in ASCII digits ("²" and "٣" are digits to Python, not to us)."""
    return int(raw) if re.fullmatch(r"[0-9]+", raw) else None


def load_targets(path: Source) -> dict[str, int]:
    """Target seats from CSV as {GSS code: priority}. Columns ``constituency`` (name or GSS
    code, as people write them) and ``priority`` (1 = highest); an optional ``gss_code``
    column must name the same seat."""
    _, rows = read_csv(path, ("constituency", "priority"))
    problems: list[str] = []
    targets: dict[str, int] = {}
    for n, row in rows:
        seat = (row.get("constituency") or "").strip()
        code = (row.get("gss_code") or "").strip()
        raw = (row.get("priority") or "").strip()
        if not seat:
            problems.append(f"row {n}, column constituency: empty")
        elif why := seat_problem(seat):
            problems.append(f"row {n}, column constituency: {why}")
        elif seat_key(seat) in targets:
            problems.append(f"row {n}, column constituency: {seat!r} is listed twice")
        if code and not GSS_CODE.match(code):
            problems.append(f"row {n}, column gss_code: expected a code like E14001234")
        elif code and not seats().resolve(code):
            problems.append(f"row {n}, column gss_code: no constituency has the code {code}")
        elif code and seats().resolve(seat) and seat_key(code) != seat_key(seat):
            named = seats().name(code)
            problems.append(f"row {n}, column gss_code: {code} is {named}, not {seat}")
        priority = whole(raw)
        if priority is None or priority < 1:
            problems.append(f"row {n}, column priority: expected a whole number >= 1, got {raw!r}")
        elif seat:
            targets[seat_key(seat)] = priority
    if problems:
        raise CsvError(describe(path), problems[:MAX_ERRORS])
    return targets


def load_rooms(path: Source, shift_ids: Sequence[str], geocoder: Geocoder | None) -> list[Room]:
    """Rooms from CSV, every row checked before any is returned (all or nothing)."""
    header, rows = read_csv(path, ("id", "name", "address", "postcode", "constituency"))
    problems: list[str] = []
    for col in header:
        if col.startswith("capacity_") and col[len("capacity_") :] not in shift_ids:
            problems.append(f"row 1, column {col}: no shift {col[9:]!r} in config.yaml")
    if not rows:  # an import would remove every room: surely not what was meant
        problems.append("row 2: no rooms, only a header (nothing was changed)")
    rooms: list[Room] = []
    seen: set[str] = set()
    for n, row in rows:
        room, errors = _parse_room(row, shift_ids, geocoder)
        problems += [f"row {n}, column {col}: {why}" for col, why in errors]
        if room and room.id in seen:
            problems.append(f"row {n}, column id: duplicate id {room.id!r}")
        if room:
            seen.add(room.id)
            rooms.append(room)
        if len(problems) >= MAX_ERRORS:
            break
    if problems:
        raise CsvError(describe(path), problems[:MAX_ERRORS])
    return rooms


def _parse_room(
    row: dict, shift_ids: Sequence[str], geocoder: Geocoder | None
) -> tuple[Room | None, list[tuple[str, str]]]:
    cell = lambda c: (row.get(c) or "").strip()  # noqa: E731
    errors: list[tuple[str, str]] = []
    for col in ("name", "address", "constituency"):
        if not cell(col):
            errors.append((col, "empty"))
    if cell("constituency") and (why := seat_problem(cell("constituency"))):
        errors.append(("constituency", why))
    if not ROOM_ID.match(cell("id")):
        errors.append(("id", f"use 1-40 letters, digits, _ or -: {cell('id')!r}"))
    match = find_postcode(cell("postcode"))
    if match.kind != "full":
        errors.append(("postcode", f"not a full UK postcode: {cell('postcode')!r}"))
    capacity: dict[str, int] = {}
    base = cell("capacity") or str(DEFAULT_CAPACITY)
    for sid in shift_ids:
        col = f"capacity_{sid}" if cell(f"capacity_{sid}") else "capacity"
        raw = cell(col) or base
        if (places := whole(raw)) is not None:
            capacity[sid] = places
        else:
            errors.append((col, f"expected a whole number >= 0, got {raw!r}"))
    if cell("step_free").lower() not in YES_NO:
        errors.append(("step_free", f"expected yes, no or nothing, got {cell('step_free')!r}"))
    for col in ("bring", "parking", "notes"):
        if len(cell(col)) > MAX_FACT:
            errors.append((col, f"at most {MAX_FACT} characters (it goes into every offer)"))
    location = _room_location(cell("latitude"), cell("longitude"), match.postcode, geocoder)
    if isinstance(location, tuple):
        errors.append(location)
    if errors:
        return None, sorted(set(errors))
    assert isinstance(location, Location) and match.postcode
    room = Room(
        id=cell("id"),
        name=cell("name"),
        address=cell("address"),
        postcode=match.postcode,
        constituency=seats().name(cell("constituency")),  # its name, even given the code
        location=location,
        capacity=capacity,
        contact=cell("contact"),
        step_free=YES_NO[cell("step_free").lower()],
        bring=cell("bring"),
        parking=cell("parking"),
        notes=cell("notes"),
    )
    return room, []


def _room_location(
    lat: str, lon: str, postcode: str | None, geocoder: Geocoder | None
) -> Location | tuple[str, str]:
    """The row's coordinates, or a (column, reason) error."""
    if lat or lon:
        try:
            loc = Location(float(lat), float(lon))
        except ValueError:
            return ("latitude" if not _is_float(lat) else "longitude", "expected a number")
        if not (49.0 <= loc.latitude <= 61.5 and -9.0 <= loc.longitude <= 2.5):
            return ("latitude", f"{lat},{lon} is not in Great Britain")
        return loc
    if postcode is None:
        return ("postcode", "needed to place a room without latitude and longitude")
    if geocoder is None:
        return ("latitude", "empty, and no geocoder to place the postcode")
    try:
        found = geocoder.locate(postcode)
    except GeocoderUnavailable as exc:
        return ("postcode", f"could not be looked up ({exc}); add latitude and longitude")
    return found or ("postcode", f"{postcode} is not a known postcode; add latitude and longitude")


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


PlacesLeft = Callable[[Sequence[tuple[str, str]]], Sequence[int]]


class Directory:
    """Rooms and targets, with a vectorised nearest-room search over target rooms."""

    def __init__(self, rooms: Iterable[Room], targets: dict[str, int]) -> None:
        self.rooms = {r.id: r for r in rooms}
        # Keyed by GSS code; targets kept by name before codes were the key still match.
        self.targets = {seat_key(k): v for k, v in targets.items()}
        target_rooms = [r for r in self.rooms.values() if r.seat in self.targets]
        self._ids = [r.id for r in target_rooms]
        self._lat = np.radians([r.location.latitude for r in target_rooms])
        self._lon = np.radians([r.location.longitude for r in target_rooms])
        self._cos_lat = np.cos(self._lat)

    def unmatched(self) -> list[Room]:
        """Rooms whose seat is not a target (never offered): worth a look by the organiser."""
        return [r for r in self.rooms.values() if r.seat not in self.targets]

    def priority(self, room: Room) -> int | None:
        """The room's seat priority, or None when its seat is not a target."""
        return self.targets.get(room.seat)

    def nearest_targets(self, loc: Location, limit: int) -> list[tuple[Room, float]]:
        """Up to ``limit`` target-seat rooms, nearest first, with distance in km."""
        if not self._ids:
            return []
        lat, lon = np.radians(loc.latitude), np.radians(loc.longitude)
        a = (
            np.sin((self._lat - lat) / 2) ** 2
            + np.cos(lat) * self._cos_lat * np.sin((self._lon - lon) / 2) ** 2
        )
        km = 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.minimum(a, 1.0)))
        if limit < len(km):
            idx = np.argpartition(km, limit)[:limit]
            idx = idx[np.argsort(km[idx], kind="stable")]
        else:
            idx = np.argsort(km, kind="stable")
        return [(self.rooms[self._ids[i]], float(km[i])) for i in idx]

    def choose(
        self,
        loc: Location,
        shifts: Sequence[str],
        places_left: PlacesLeft,
        tie_km: float,
        limit: int = 10,
    ) -> list[Offer]:
        """Ranked offers (see module docstring) for rooms with places in the chosen shifts."""
        for window in (50, 500, len(self._ids)):
            near = self.nearest_targets(loc, window)
            pairs = [(room.id, s) for room, _ in near for s in shifts]
            left = iter(places_left(pairs)) if pairs else iter(())
            offers = []
            for room, km in near:
                open_shifts = tuple((s, n) for s in shifts if (n := next(left)) > 0)
                if open_shifts:
                    ids, places = zip(*open_shifts, strict=True)
                    offers.append(Offer(room.id, ids, round(km, 3), places))  # metres
            if offers or window >= len(self._ids):
                return self._rank(offers, tie_km)[:limit]
        return []

    def standby_rooms(
        self, loc: Location, shifts: Sequence[str], limit: int, max_km: float
    ) -> list[Offer]:
        """The nearest ``limit`` target rooms that run any of ``shifts`` (full or not), for a
        standby list: those within ``max_km``, or else the nearest one alone."""
        near = []
        for room, km in self.nearest_targets(loc, 50):
            runs = tuple(s for s in shifts if room.places(s) > 0)
            if runs:
                near.append(Offer(room.id, runs, round(km, 3)))
            if len(near) == limit:
                break
        return [o for o in near if o.km <= max_km] or near[:1]

    def _rank(self, offers: list[Offer], tie_km: float) -> list[Offer]:
        if not offers:
            return []
        cutoff = offers[0].km + tie_km
        prio = lambda o: self.targets[self.rooms[o.room_id].seat]  # noqa: E731
        close = sorted((o for o in offers if o.km <= cutoff), key=lambda o: (prio(o), o.km))
        rest = sorted((o for o in offers if o.km > cutoff), key=lambda o: (o.km, prio(o)))
        return close + rest
