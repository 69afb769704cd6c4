"""An in-memory World for the state tables: the same contract as LiveWorld, no Redis."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

from bot import conversation
from bot.campaign import Campaign, Shift
from bot.config import Settings
from bot.geo import GeocoderUnavailable
from bot.model.message import Inbound, Location, Outbound
from bot.model.person import Conversation, Pledge
from bot.model.turn import (
    BackfillAnswer,
    CheckIn,
    Erase,
    FirstContact,
    Forget,
    JoinStandby,
    LeftRoom,
    NoShow,
    OnTheWay,
    PassHold,
    RelayReply,
    Release,
    ScheduleReminders,
    SetStopped,
    StartBroadcast,
    Turn,
    in_order,
)
from bot.rooms import Directory, Room
from handlers import say

SHIFTS = (
    Shift("morning", "Morning", time(7), time(12)),
    Shift("afternoon", "Afternoon", time(12), time(17)),
    Shift("evening", "Evening", time(17), time(22)),
)
CAMPAIGN = Campaign(
    polling_day=date(2029, 5, 3),
    timezone=ZoneInfo("Europe/London"),
    shifts=SHIFTS,
    rooms_csv=Path("rooms.csv"),
    targets_csv=Path("targets.csv"),
    telegram_username="pollday_bot",
    whatsapp_number="447700900000",
    max_distance_km=30.0,
    tie_km=1.0,
    organiser_contact="volunteers@example.org",
    name="Test campaign",
    imprint="Promoted by T. Agent, 1 Test St.",
    organisers=frozenset({"telegram:7"}),
)
POSTCODES = {
    "N7 6AA": Location(51.5541, -0.1097),
    "SW1A 1AA": Location(51.5010, -0.1416),
    "M1 1AD": Location(51.4800, -2.2400),
    "CF10 1EP": Location(51.4816, -3.1791),
    "EH1 1YZ": Location(55.9520, -3.1900),
}
# Seats the world knows for some of them (as postcodes.io or a range file would); the rest
# are unknown, as with the offline geocoder alone.
SEATS_OF = {"N7 6AA": "Islington North", "SW1A 1AA": "Cities of London and Westminster"}


def room(rid: str, seat: str, lat: float, lon: float, cap: int = 5, **caps: int) -> Room:
    """A test room with the same capacity every shift unless overridden."""
    capacity = {s.id: caps.get(s.id, cap) for s in SHIFTS}
    return Room(rid, f"Room {rid}", f"1 {rid} Street", "N1 1AA", seat, Location(lat, lon), capacity)


def default_directory() -> Directory:
    """Rooms around north London: A (near N7, target), B (further, higher priority target),
    S (nearest of all but a safe seat), W (Cardiff, target)."""
    rooms = [
        room("A", "Seat One", 51.5600, -0.1100),  # ~0.7 km from N7 6AA
        room("B", "Seat Two", 51.5650, -0.1150),  # ~1.3 km: within 1 km tie of A
        room("C", "Seat Three", 51.6000, -0.2000),  # ~8 km
        room("S", "Safe Seat", 51.5545, -0.1095),  # ~0.05 km but not a target
        room("W", "Cardiff Seat", 51.4800, -3.1800),
    ]
    return Directory(rooms, {"seat one": 2, "seat two": 1, "seat three": 3, "cardiff seat": 1})


@dataclass
class MemoryWorld:
    """World on dicts; ``taken`` is places taken per (room, shift)."""

    campaign: Campaign = CAMPAIGN
    directory: Directory = field(default_factory=default_directory)
    taken: dict[tuple[str, str], int] = field(default_factory=dict)
    pledges: dict[str, Pledge] = field(default_factory=dict)
    codes: dict[str, str] = field(default_factory=dict)
    referrals: dict[str, int] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)
    stopped: set[str] = field(default_factory=set)
    erased: list[str] = field(default_factory=list)
    broadcasts: list[str] = field(default_factory=list)
    forgotten: list[str] = field(default_factory=list)
    reminders: list[tuple[str, Pledge]] = field(default_factory=list)
    standby: dict[str, tuple[tuple[str, str, float], ...]] = field(default_factory=dict)
    holds: dict[str, tuple[str, str]] = field(default_factory=dict)  # counted in ``taken``
    stations: dict[str, str] = field(default_factory=dict)  # postcode -> polling station
    # (room, shift) -> address -> (here | onway | noshow, when)
    arrived: dict[tuple[str, str], dict[str, tuple[str, int]]] = field(default_factory=dict)
    # (room, shift) -> address -> how they answered being asked to fill that gap
    answers: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    relayed: list[tuple[str, str, str]] = field(default_factory=list)  # (room, name, text)
    audience: int = 0
    geocoder_down: bool = False
    clock: datetime = datetime(2029, 4, 20, 12, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.clock

    def geocode(self, postcode: str) -> Location | None:
        if self.geocoder_down:
            raise GeocoderUnavailable("down")
        return POSTCODES.get(postcode)

    def seat_of(self, postcode: str) -> str | None:
        return SEATS_OF.get(postcode)

    def places_left(self, pairs: Sequence[tuple[str, str]]) -> list[int]:
        rooms = self.directory.rooms
        return [rooms[r].capacity[s] - self.taken.get((r, s), 0) for r, s in pairs]

    def reserve(self, address: str, pledge: Pledge) -> bool:
        old = self.pledges.get(address)
        mine = {(old.room_id, s) for s in old.shifts} if old else set()
        for s in pledge.shifts:
            used = self.taken.get((pledge.room_id, s), 0) - ((pledge.room_id, s) in mine)
            if used >= self.directory.rooms[pledge.room_id].capacity[s]:
                return False
        self.release(address)
        for s in pledge.shifts:
            self.taken[(pledge.room_id, s)] = self.taken.get((pledge.room_id, s), 0) + 1
        self.pledges[address] = pledge
        return True

    def release(self, address: str) -> None:
        old = self.pledges.pop(address, None)
        for s in old.shifts if old else ():
            self.taken[(old.room_id, s)] -= 1
        self.standby.pop(address, None)
        self.drop_hold(address)

    def hold(self, address: str, room_id: str, shift: str) -> None:
        """A freed place held for someone on standby (the worker's part, in tests)."""
        self.taken[(room_id, shift)] = self.taken.get((room_id, shift), 0) + 1
        self.holds[address] = (room_id, shift)

    def drop_hold(self, address: str) -> None:
        if held := self.holds.pop(address, None):
            self.taken[held] -= 1

    def mark(self, address: str, room: str, shifts: Sequence[str], status: str, at: int) -> None:
        for shift in shifts:
            there = self.arrived.setdefault((room, shift), {})
            if there.get(address, ("",))[0] != "here":
                there[address] = (status, at)

    def polling_station(self, postcode: str) -> str | None:
        return self.stations.get(postcode)

    def arrival(self, address: str, room_id: str, shift: str) -> str | None:
        got = self.arrived.get((room_id, shift), {}).get(address)
        return got[0] if got else None

    def take_hold(self, address: str, room_id: str, shift: str) -> bool:
        if self.holds.get(address) != (room_id, shift):
            return False
        del self.holds[address]
        self.pledges[address] = Pledge(room_id, (shift,))
        self.standby.pop(address, None)
        return True

    def code_for(self, address: str) -> str:
        code = f"CODE{len(self.codes) + 1:04d}"
        self.codes[code] = address
        return code

    def sharer_of(self, code: str) -> str | None:
        return self.codes.get(code)

    def first_contact(self, address: str, sharer: str | None) -> int | None:
        if address in self.seen:
            return None
        self.seen.add(address)
        if not sharer:
            return None
        self.referrals[sharer] = self.referrals.get(sharer, 0) + 1
        return self.referrals[sharer]

    def was_stopped(self, address: str) -> bool:
        return address in self.stopped

    def set_stopped(self, address: str, stopped: bool) -> None:
        (self.stopped.add if stopped else self.stopped.discard)(address)

    def erase(self, address: str) -> None:
        self.release(address)
        self.codes = {c: a for c, a in self.codes.items() if a != address}
        self.erased.append(address)

    def broadcast_size(self) -> int:
        return self.audience

    def start_broadcast(self, text: str) -> tuple[int, int]:
        self.broadcasts.append(text)
        return len(self.broadcasts), self.audience

    def apply(self, turn: Turn, msg: Inbound) -> Turn:
        """Apply a turn's effects as the worker does (workers/effects.py), in order; the
        replies they add come after the handler's."""
        extra: list[Outbound] = []
        for effect in in_order(turn.effects):
            match effect:
                case Release(address):
                    self.release(address)
                case SetStopped(address, stopped):
                    self.set_stopped(address, stopped)
                case Forget(address):
                    self.forgotten.append(address)
                case Erase(address):
                    self.erase(address)
                case FirstContact(address, sharer):
                    count = self.first_contact(address, sharer)
                    if sharer and count is not None:
                        extra.append(say.referral_credit(sharer, count))
                case StartBroadcast(text):
                    bid, count = self.start_broadcast(text)
                    extra.append(say.broadcast_sent(msg.address, bid, count))
                case ScheduleReminders(address, pledge):
                    self.reminders.append((address, pledge))
                case CheckIn(address, room_id, shifts, at):
                    self.mark(address, room_id, shifts, "here", at)
                case OnTheWay(address, room_id, shifts, at):
                    self.mark(address, room_id, shifts, "onway", at)
                case NoShow(address, room_id, shift, at):
                    old = self.pledges[address]
                    kept = tuple(s for s in old.shifts if s != shift)
                    self.pledges[address] = Pledge(room_id, kept)
                    if not kept:
                        del self.pledges[address]
                    self.taken[(room_id, shift)] -= 1
                    self.mark(address, room_id, (shift,), "noshow", at)
                case LeftRoom(address, room_id, shifts):
                    for shift in shifts:
                        self.arrived.get((room_id, shift), {}).pop(address, None)
                case JoinStandby(address, lists):
                    self.standby[address] = lists
                case RelayReply(_, room_id, name, text, _):
                    self.relayed.append((room_id, name, text))
                case BackfillAnswer(address, room_id, shift, outcome):
                    self.answers.setdefault((room_id, shift), {})[address] = outcome
                case PassHold(address, room_id, shift):
                    if self.holds.get(address) == (room_id, shift):
                        self.drop_hold(address)
        return Turn(turn.conv, [*turn.replies, *extra], turn.effects)


def handle(conv: Conversation | None, msg: Inbound, world: MemoryWorld) -> Turn:
    """One turn through the real state machine, its effects applied to the memory world."""
    return world.apply(conversation.handle(conv, msg, world), msg)


PUBLIC_URL = "https://bot.example.org"


def web_settings(redis_url: str, telegram_secret: str) -> Settings:
    """Settings with every channel on, for tests of the web process."""
    from tests.fakes import TEST_ACCOUNT_SID, TEST_AUTH_TOKEN

    return Settings(
        campaign=CAMPAIGN,
        redis_url=redis_url,
        public_url=PUBLIC_URL,
        telegram_token="123:ABC",
        telegram_secret=telegram_secret,
        twilio_account_sid=TEST_ACCOUNT_SID,
        twilio_auth_token=TEST_AUTH_TOKEN,
        twilio_whatsapp_from="whatsapp:+447700900000",
        twilio_sms_from="+447700900000",
    )
