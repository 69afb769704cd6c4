"""What organisers do to the rooms and targets, and what they see: imports, room staffing, summary.

Used by the admin API (bot/admin/api.py) and the ``pollday`` command line (bot/cli.py).
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot import daytime
from bot.campaign import Campaign
from bot.coordinating import link_expiry
from bot.geo import Geocoder
from bot.model.message import Inbound
from bot.rooms import Directory, Room, Source, describe, load_rooms, load_targets
from bot.seats import seats
from bot.store import Store
from bot.store.arrivals import HERE, NO_SHOW, ON_THE_WAY

ROOM_CLOSED = "room_closed"


class RoomsInUse(Exception):
    """An import would remove rooms that people are pledged to; ``rooms`` maps id -> people."""

    def __init__(self, rooms: dict[str, int]) -> None:
        self.rooms = rooms
        listed = ", ".join(f"{rid} ({n})" for rid, n in sorted(rooms.items()))
        super().__init__(f"these rooms have pledges and would be removed: {listed}")


class NoTargets(Exception):
    """A targets import would leave no target seats: every room would go unoffered."""

    def __init__(self, source: Source) -> None:
        super().__init__(
            f"{describe(source)}: no target seats in it. With none, every supporter would be "
            "told that every room is full; nothing was changed (to clear the targets anyway, "
            "import with --force, or ?force=1 on the API)"
        )


@dataclass
class TargetsResult:
    """What a targets import loaded, and what organisers should look at."""

    targets: int
    warnings: list[str] = field(default_factory=list)


@dataclass
class ImportResult:
    """What an import changed."""

    rooms: int = 0
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    moved: int = 0  # people whose room was removed, now being offered another
    over_capacity: list[str] = field(default_factory=list)  # "room|shift" with more pledges
    warnings: list[str] = field(default_factory=list)  # e.g. rooms that will never be offered


def directory(store: Store) -> Directory:
    """The rooms and targets as they are in Redis now."""
    return store.rooms.load()


def seed_from_config(store: Store, campaign: Campaign, geocoder: Geocoder | None) -> bool:
    """Load config.yaml's CSVs if nothing has ever been imported; True if it did."""
    return store.rooms.seed_once(
        lambda: (
            load_rooms(campaign.rooms_csv, campaign.shift_ids, geocoder),
            load_targets(campaign.targets_csv),
        )
    )


def import_targets(store: Store, source: Source, force: bool = False) -> TargetsResult:
    """Replace the target seats (all rows checked first). A file with none is refused
    (NoTargets) unless ``force``."""
    targets = load_targets(source)
    if not targets and not force:
        raise NoTargets(source)
    store.rooms.replace_targets(targets)
    return TargetsResult(len(targets), never_offered(directory(store)))


def preview_targets(store: Store, source: Source) -> tuple[dict[str, int], list[str]]:
    """What importing these targets would load, changing nothing: seat -> priority, and
    the rooms that would never be offered. A bad row raises CsvError, none NoTargets."""
    targets = load_targets(source)
    if not targets:
        raise NoTargets(source)
    return targets, never_offered(Directory(directory(store).rooms.values(), targets))


def never_offered(d: Directory) -> list[str]:
    """A warning for each room whose seat is not a target: nobody will be sent there."""
    return [
        f"room {r.id} ({r.seat_name}) is not in a target seat: it will never be offered"
        for r in sorted(d.unmatched(), key=lambda r: r.id)
    ]


def import_rooms(
    store: Store, campaign: Campaign, source: Source, geocoder: Geocoder | None, force: bool = False
) -> ImportResult:
    """Replace the rooms, keeping pledges to rooms that stay (matched by id).

    Removing a room people are pledged to raises RoomsInUse unless ``force``; then each of
    them is told and offered another room, in order with their own messages.
    """
    rooms = {r.id: r for r in load_rooms(source, campaign.shift_ids, geocoder)}
    old = directory(store).rooms
    gone = {rid for rid in old if rid not in rooms}
    # Check the pledges and swap the rooms in one transaction, so nobody can pledge to a
    # departing room in between and never be told.
    pledges = store.rooms.replace_rooms_unless_pledged(list(rooms.values()), gone, force)
    in_use = _in_use(pledges, gone)
    if in_use and not force:
        raise RoomsInUse(in_use)
    result = _changes(store, old, rooms, directory(store))
    events = [
        Inbound(
            address,
            text=old[room_id].name,
            payload=room_id,
            event=ROOM_CLOSED,
            external_id=f"{ROOM_CLOSED}:{room_id}:{address}:{time.time_ns()}",
            received_at=daytime.now(),
        )
        for address, (room_id, _) in pledges.items()
        if room_id in gone
    ]
    store.inbox.accept(events)
    result.moved = len(events)
    return result


def preview_rooms(
    store: Store, campaign: Campaign, source: Source, geocoder: Geocoder | None
) -> ImportResult:
    """What importing these rooms would change, changing nothing: rooms added, updated and
    removed, how many pledged people would be moved (``moved``), shifts left with more
    pledges than places, and the warnings. A bad row raises CsvError, as the import does."""
    rooms = {r.id: r for r in load_rooms(source, campaign.shift_ids, geocoder)}
    before = directory(store)
    gone = {rid for rid in before.rooms if rid not in rooms}
    result = _changes(store, before.rooms, rooms, Directory(rooms.values(), before.targets))
    in_use = _in_use(store.places.pledges(), gone)
    result.moved = sum(in_use.values())
    result.warnings[:0] = [
        f"room {rid} is being removed with {n} people pledged: they will be told and "
        "offered the nearest room that needs them"
        for rid, n in sorted(in_use.items())
    ]
    return result


def _in_use(pledges: dict[str, tuple[str, tuple[str, ...]]], gone: set[str]) -> dict[str, int]:
    """People pledged to each room that is going."""
    in_use: dict[str, int] = {}
    for room_id, _ in pledges.values():
        if room_id in gone:
            in_use[room_id] = in_use.get(room_id, 0) + 1
    return in_use


def _changes(
    store: Store, old: dict[str, Room], rooms: dict[str, Room], after: Directory
) -> ImportResult:
    """Rooms added, updated, removed; shifts over capacity; rooms never offered."""
    result = ImportResult(
        rooms=len(rooms),
        added=sorted(set(rooms) - set(old)),
        updated=sorted(rid for rid in set(rooms) & set(old) if old[rid] != rooms[rid]),
        removed=sorted(set(old) - set(rooms)),
    )
    taken = store.places.by_room_shift()
    for room in rooms.values():
        for shift, cap in room.capacity.items():
            if taken.get((room.id, shift), 0) > cap:
                result.over_capacity.append(f"{room.id}|{shift}")
    result.warnings = never_offered(after)
    return result


def rooms_report(store: Store, campaign: Campaign) -> list[dict[str, Any]]:
    """Every room with its seat, and per shift: capacity, pledged (places taken, counting
    those held for someone on standby), places left, held, waiting on standby, and
    checked in, on the way and no-shows."""
    d = directory(store)
    taken = store.places.by_room_shift()
    pairs = [(room_id, s) for room_id in d.rooms for s in campaign.shift_ids]
    waiting = dict(zip(pairs, store.standby.sizes(pairs), strict=True))
    arrived = dict(zip(pairs, store.arrivals.counts(pairs), strict=True))
    held = Counter((room_id, s) for room_id, s, _ in store.standby.held().values())
    return [
        {
            "id": room.id,
            "name": room.name,
            "postcode": room.postcode,
            "contact": room.contact,
            "constituency": room.seat_name,
            "gss_code": room.seat,
            "target": d.priority(room) is not None,
            "priority": d.priority(room),
            "shifts": {
                s: {
                    "capacity": room.places(s),
                    "pledged": taken.get((room.id, s), 0),
                    "left": max(0, room.places(s) - taken.get((room.id, s), 0)),
                    "held": held[(room.id, s)],
                    "waiting": waiting[(room.id, s)],
                    "arrived": arrived[(room.id, s)][HERE],
                    "on_the_way": arrived[(room.id, s)][ON_THE_WAY],
                    "no_show": arrived[(room.id, s)][NO_SHOW],
                }
                for s in campaign.shift_ids
            },
        }
        for room in sorted(d.rooms.values(), key=lambda r: (r.seat_name, r.id))
    ]


def backfills(store: Store, campaign: Campaign) -> list[dict[str, Any]]:
    """Every room that has been short on the day and asked supporters nearby, newest
    first: when it began, places short at the last wave, how many were asked and how they
    answered, and whether it is covered, still asking, or has nobody left to ask."""
    rooms, labels = directory(store).rooms, {s.id: s.label for s in campaign.shifts}
    out = []
    for gap in reversed(store.backfill.gaps()):
        room = rooms.get(gap.room)
        out.append({
            "room": gap.room, "name": room.name if room else gap.room,
            "shift": gap.shift, "shift_label": labels.get(gap.shift, gap.shift),
            "started": _clock(gap.started, campaign), "status": gap.status,
            "covered": _clock(gap.covered, campaign) if gap.covered else None,
            "short": gap.short, "waves": gap.waves, "asked": gap.asked, "took": gap.took,
            "late": gap.late, "declined": gap.declined, "outside_window": gap.outside_window,
        })  # fmt: skip
    return out


def coordinator_link(
    store: Store, campaign: Campaign, room_id: str, base_url: str
) -> dict[str, str] | None:
    """A new secret link to the room's coordinator page (the old one stops working):
    ``url`` and ``expires`` (ISO 8601, as polling day ends); None for an unknown room."""
    if room_id not in directory(store).rooms:
        return None
    ends = link_expiry(campaign)
    token = store.coordinators.create_link(room_id, ends)
    return {
        "room": room_id,
        "url": f"{base_url.rstrip('/')}/room/{token}",
        "expires": datetime.fromtimestamp(ends, campaign.timezone).isoformat(),
    }


def moves(store: Store, campaign: Campaign) -> list[dict[str, Any]]:
    """Every room that reported too many people, newest first: how many, how many were
    asked to move, and how many moved."""
    rooms, labels = directory(store).rooms, {s.id: s.label for s in campaign.shifts}
    return [
        {
            "room": m.room,
            "name": rooms[m.room].name if m.room in rooms else m.room,
            "shift": m.shift,
            "shift_label": labels.get(m.shift, m.shift),
            "at": _clock(m.at, campaign),
            "too_many": m.too_many,
            "offered": m.offered,
            "moved": m.moved,
        }  # fmt: skip
        for m in store.coordinators.surpluses()
    ]


def _clock(at: int, campaign: Campaign) -> str:
    return datetime.fromtimestamp(at, campaign.timezone).strftime("%H:%M")


def summary(store: Store, campaign: Campaign, top: int = 10) -> dict[str, Any]:
    """Supporters by channel, pledges by shift, rooms below half staffed, top sharers."""
    d = directory(store)
    taken = store.places.by_room_shift()
    by_shift = {s: sum(n for (_, sh), n in taken.items() if sh == s) for s in campaign.shift_ids}
    short = {
        s: sorted(
            room.id
            for room in d.rooms.values()
            if d.priority(room) is not None and taken.get((room.id, s), 0) * 2 < room.places(s)
        )
        for s in campaign.shift_ids
    }
    sharers = sorted(store.referrals.counts().items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    return {
        "supporters": store.people.by_channel(),
        "pledges_by_shift": by_shift,
        "rooms_below_half_staffed": short,
        "top_sharers": [{"who": mask(addr), "brought_in": n} for addr, n in sharers],
    }


def mask(address: str) -> str:
    """An address with the middle hidden: enough to recognise, not to copy."""
    channel, _, ident = address.partition(":")
    keep = 3 if len(ident) > 8 else 1 if len(ident) > 3 else 0
    tail = ident[len(ident) - keep :] if keep else ""
    return f"{channel}:{ident[:keep]}{'•' * (len(ident) - 2 * keep)}{tail}"


@dataclass
class Check:
    """What ``pollday check`` found in the rooms and targets: problems stop the day."""

    problems: list[str] = field(default_factory=list)
    rooms_per_target_seat: dict[str, int] = field(default_factory=dict)  # by seat name
    target_seats_without_rooms: list[str] = field(default_factory=list)
    places_per_shift: dict[str, int] = field(default_factory=dict)  # in target seats
    warnings: list[str] = field(default_factory=list)

    @property
    def lines(self) -> list[str]:
        """The findings as an organiser reads them."""
        seats_ = len(self.rooms_per_target_seat) + len(self.target_seats_without_rooms)
        lines = [
            f"rooms per target seat ({len(self.rooms_per_target_seat)} of {seats_} have rooms):"
        ]
        lines += [f"  {seat}: {n}" for seat, n in self.rooms_per_target_seat.items()]
        if without := self.target_seats_without_rooms:
            more = f" and {len(without) - 10} more" if len(without) > 10 else ""
            lines.append(
                f"target seats with no room ({len(without)}): {', '.join(without[:10])}{more}"
            )
        lines.append(
            "places per shift in target seats: "
            + ", ".join(f"{s} {n}" for s, n in self.places_per_shift.items())
        )
        return lines + [f"warning: {w}" for w in self.warnings]


def check_directory(d: Directory, campaign: Campaign) -> Check:
    """Rooms per target seat, rooms never offered, places per shift and shifts with none."""
    found = Check()
    offered = [r for r in d.rooms.values() if r.seat in d.targets]
    if not d.targets:
        found.problems.append(
            "no target seats: every supporter would be told that every room is full "
            "(import targets: pollday targets import FILE)"
        )
    elif not offered:
        found.problems.append("no committee room is in a target seat: nobody can be offered one")
    per_seat: dict[str, int] = {code: 0 for code in d.targets}
    for room in offered:
        per_seat[room.seat] += 1
    name = lambda code: seats().name(code)  # noqa: E731
    found.rooms_per_target_seat = dict(sorted((name(c), n) for c, n in per_seat.items() if n))
    found.target_seats_without_rooms = sorted(name(c) for c, n in per_seat.items() if not n)
    found.places_per_shift = {s: sum(r.places(s) for r in offered) for s in campaign.shift_ids}
    found.warnings += [
        f"shift {s} has no places in any target room: nobody can be offered it"
        for s, n in found.places_per_shift.items()
        if n == 0 and offered
    ]
    found.warnings += never_offered(d)
    return found
