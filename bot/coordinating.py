"""A room coordinator's phone page, the logic: who is expected at their room, and what the
coordinator can do from it. The page itself is bot/admin/room_page.py.

A coordinator sees first names only (the name the platform gave; nothing for SMS), never a
number or chat id: each person is named on the page by ``ref``, a short one-way id, and
the actions look the person up again from it among the room's own people.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from bot.campaign import Campaign, arrival, shift_window
from bot.channels import capabilities
from bot.model.message import Inbound
from bot.rooms import Directory, Room
from bot.store import Store
from bot.store.arrivals import HERE, NO_SHOW, ON_THE_WAY
from handlers.coordinator import MOVE_ASK, ROOM_MESSAGE

MAX_MESSAGE = 500  # characters: a few SMS parts
MAX_PEOPLE = 50  # the most a coordinator may ask for, or report too many, at once
STATUS_ORDER = (HERE, ON_THE_WAY, "", NO_SHOW)  # how the page lists people
GONE = "this room is no longer on the bot's list of rooms; ask your organiser"


class Refused(ValueError):
    """What the coordinator asked cannot be done; the message says why, kindly."""


@dataclass(frozen=True)
class Person:
    """Someone expected at the room for a shift, as the coordinator sees them."""

    ref: str
    name: str
    status: str  # here, onway, noshow, or "" (expected, not heard from)


@dataclass(frozen=True)
class ShiftView:
    """One shift at the room."""

    id: str
    label: str
    times: str
    places: int
    taken: int
    people: tuple[Person, ...]

    @property
    def short(self) -> int:
        """Places still to fill."""
        return max(0, self.places - self.taken)

    def count(self, status: str) -> int:
        """How many people have this status."""
        return sum(p.status == status for p in self.people)


def link_expiry(campaign: Campaign) -> int:
    """When a coordinator link stops working: midnight as polling day ends (unix s)."""
    end = datetime.combine(campaign.polling_day + timedelta(days=1), time(0), campaign.timezone)
    return int(end.timestamp())


def ref_of(store: Store, address: str) -> str:
    """The short one-way id that names a person on their room's page."""
    return store.suppression.hid(address)[:12]


def _people(store: Store, room: str) -> dict[str, tuple[str, ...]]:
    """The room's people: address -> the shifts they are pledged there."""
    return store.places.roster(room)


def shifts(store: Store, campaign: Campaign, room: Room) -> list[ShiftView]:
    """Each shift at the room: places, and everyone pledged or accounted for there."""
    room_id = room.id
    pledged = _people(store, room_id)
    pairs = [(room_id, s.id) for s in campaign.shifts]
    taken = store.places.taken(pairs)
    out = []
    for shift, n in zip(campaign.shifts, taken, strict=True):
        status = {a: st for a, (st, _) in store.arrivals.at_room(room_id, shift.id).items()}
        who = {a for a, mine in pledged.items() if shift.id in mine} | set(status)
        names = dict(zip(who, store.people.names(list(who)), strict=True))
        people = sorted(
            (Person(ref_of(store, a), names[a] or "", status.get(a, "")) for a in who),
            key=lambda p: (STATUS_ORDER.index(p.status), p.name.lower(), p.ref),
        )
        out.append(ShiftView(shift.id, shift.label, shift.times, room.places(shift.id), n,
                             tuple(people)))  # fmt: skip
    return out


def _find(store: Store, room: str, ref: str) -> tuple[str, tuple[str, ...]]:
    for address, mine in _people(store, room).items():
        if ref_of(store, address) == ref:
            return address, mine
    raise Refused("that person is no longer down for this room")


def check_in(store: Store, campaign: Campaign, room: str, ref: str, now: datetime) -> None:
    """Check someone in who has no phone with them."""
    address, mine = _find(store, room, ref)
    came = arrival(campaign.polling_day, campaign.timezone, campaign.shifts, mine, now)
    if not came.shifts:
        raise Refused("check-in is open from an hour before their shift until it ends")
    store.arrivals.check_in(address, room, came.shifts, now.timestamp())


def _on_the_day(campaign: Campaign, shift_id: str, now: datetime) -> None:
    if shift_id not in campaign.shift_ids:
        raise Refused(f"there is no shift {shift_id!r}")
    _, end = shift_window(campaign.polling_day, campaign.timezone, campaign.shift(shift_id))
    if now.astimezone(campaign.timezone).date() != campaign.polling_day or now >= end:
        raise Refused("that works on polling day, until the shift ends")


def _room(store: Store, room_id: str) -> tuple[Directory, Room]:
    """The directory as it is now (an action reads it afresh), and the room in it."""
    directory = store.rooms.load()
    if room_id not in directory.rooms:
        raise Refused(GONE)  # removed by an import since the page was shown
    return directory, directory.rooms[room_id]


def _how_many(raw: str) -> int:
    n = int(raw) if raw.strip().isdigit() else 0
    if not 1 <= n <= MAX_PEOPLE:
        raise Refused(f"give a number from 1 to {MAX_PEOPLE}")
    return n


def need_more(store: Store, campaign: Campaign, room_id: str, shift: str, raw: str,
              now: datetime) -> int:  # fmt: skip
    """ "We need N more": the room's places for the shift grow to what it has plus N, and
    a backfill asks supporters nearby at the next look (within 30 s); the places now."""
    n = _how_many(raw)
    _on_the_day(campaign, shift, now)
    directory, room = _room(store, room_id)
    if directory.priority(room) is None:  # backfill fills target rooms alone: nobody would come
        raise Refused("this room is not in a target seat, so the bot does not send people "
                      "to it; ask your organiser")  # fmt: skip
    (taken,) = store.places.taken([(room_id, shift)])
    places = store.rooms.raise_places(room_id, shift, taken + n)
    if places is None:
        raise Refused(GONE)  # removed between the two reads
    store.backfill.reopen(room_id, shift)
    return places


def too_many(store: Store, campaign: Campaign, room_id: str, shift: str, raw: str,
             now: datetime) -> int:  # fmt: skip
    """ "We have N too many": the N who checked in last are asked whether they would move
    to the nearest room short of people; how many were asked. When no room nearby is short,
    nobody is asked (they would be offered nothing), and the report shows none asked."""
    n = _how_many(raw)
    _on_the_day(campaign, shift, now)
    directory, room = _room(store, room_id)
    if not _short_nearby(store, campaign, directory, room, shift):
        store.coordinators.too_many(room_id, shift, n, 0, int(now.timestamp()))
        raise Refused("no room nearby is short of people for that shift now, so nobody "
                      "was asked to move (your report is on the organisers' board)")  # fmt: skip
    here = [(at, a) for a, (status, at) in store.arrivals.at_room(room_id, shift).items()
            if status == HERE]  # fmt: skip
    pledged = _people(store, room_id)
    mine = [a for _, a in sorted(here, reverse=True) if shift in pledged.get(a, ())]
    chosen = [a for a in mine if _reachable(store, a, now)][:n]
    about = json.dumps({"room": room_id, "shift": shift}, separators=(",", ":"))
    for address in chosen:
        _tell(store, address, MOVE_ASK, about, f"move|{room_id}|{shift}|{now:%H%M%S}", now)
    store.coordinators.too_many(room_id, shift, n, len(chosen), int(now.timestamp()))
    return len(chosen)


def message(store: Store, campaign: Campaign, room_id: str, text: str, now: datetime) -> int:
    """Relay the coordinator's message to everyone still expected at the room today; how
    many it went to."""
    text = " ".join(text.split())
    if not text:
        raise Refused("write a message first")
    if len(text) > MAX_MESSAGE:
        raise Refused(f"keep it under {MAX_MESSAGE} characters (it is {len(text)})")
    if not store.coordinators.first_time(room_id, text):
        raise Refused("that message has just gone (sent once, not twice)")
    over = {s.id for s in campaign.shifts
            if shift_window(campaign.polling_day, campaign.timezone, s)[1] <= now}  # fmt: skip
    expected = [a for a, mine in _people(store, room_id).items() if set(mine) - over]
    to = [a for a in expected if _reachable(store, a, now)]
    at = int(now.timestamp())
    about = json.dumps({"room": room_id, "text": text}, separators=(",", ":"))
    # Each message its own id, even two in one second: an event's id is how a replayed turn
    # is recognised (workers/turns.py), so a shared one would drop the second message.
    what = f"said|{room_id}|{at}|{secrets.token_hex(6)}"
    for address in to:
        _tell(store, address, ROOM_MESSAGE, about, what, now)
    store.coordinators.said(room_id, text, at, len(to), len(expected) - len(to))
    return len(to)


def _short_nearby(store: Store, campaign: Campaign, directory: Directory, room: Room,
                  shift: str) -> bool:  # fmt: skip
    """Whether another target room within reach is short for ``shift`` now: the rule by
    which "would you move?" finds a room to offer (handlers/surplus.py)."""

    def left(pairs: Sequence[tuple[str, str]]) -> list[int]:
        taken = store.places.taken(pairs)
        return [directory.rooms[r].places(s) - n for (r, s), n in zip(pairs, taken, strict=True)]

    near = directory.choose(room.location, (shift,), left, campaign.tie_km)
    return any(o.room_id != room.id and o.km <= campaign.max_distance_km for o in near)


def _reachable(store: Store, address: str, now: datetime) -> bool:
    """Free text reaches someone on a channel with a reply window (WhatsApp's 24 hours)
    only inside it (the one rule, bot/channels Capabilities.in_window); the rest are left
    out (and counted where the page shows it)."""
    caps = capabilities(address.split(":", 1)[0])
    if caps.reply_window is None:
        return True  # any time: no need to ask Redis when they last wrote
    return caps.in_window(store.inbox.last_inbound(address), now.timestamp())


def _tell(store: Store, address: str, event: str, payload: str, what: str, now: datetime) -> None:
    """An event for the person's conversation, due now (handled in order with what they
    write, so a STOP before it wins)."""
    at = now.timestamp()
    msg = Inbound(address, event=event, payload=payload, received_at=at,
                  external_id=f"{event}-" + store.suppression.hid(f"{address}|{what}"))  # fmt: skip
    store.timed.add(msg, at)
