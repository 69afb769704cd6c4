"""The World the handlers see in production: reads from Redis and a geocoder, and taking a
place (the one write, because the reply depends on it)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from bot import daytime
from bot.broadcasts import Audience
from bot.campaign import Campaign
from bot.geo import Geocoder
from bot.model.message import Location
from bot.model.person import Pledge
from bot.polling_stations import PollingStations
from bot.postcode_seats import PostcodeSeats, Unknown
from bot.rooms import Directory
from bot.store import Store
from bot.store.broadcasts import Broadcasts
from bot.store.directory import DirectoryCache


class LiveWorld:
    """Implements ``bot.model.turn.World`` on a Store, the directory and a Geocoder."""

    def __init__(
        self,
        store: Store,
        campaign: Campaign,
        directory: DirectoryCache,
        geocoder: Geocoder,
        seats: PostcodeSeats | None = None,
        stations: PollingStations | None = None,
    ) -> None:
        self.store, self.campaign, self.cache, self.geocoder = store, campaign, directory, geocoder
        self.seats = seats or Unknown()
        self.stations = stations  # None: no DEMOCRACY_CLUB_API_KEY

    @property
    def directory(self) -> Directory:
        return self.cache.get()

    def now(self) -> datetime:
        return daytime.now_dt()

    def geocode(self, postcode: str) -> Location | None:
        return self.geocoder.locate(postcode)

    def seat_of(self, postcode: str) -> str | None:
        seat = self.seats.seat_of(postcode)
        return seat.name if seat else None

    def places_left(self, pairs: Sequence[tuple[str, str]]) -> list[int]:
        rooms = self.directory.rooms
        taken = self.store.places.taken(pairs)
        return [rooms[r].places(s) - n for (r, s), n in zip(pairs, taken, strict=True)]

    def reserve(self, address: str, pledge: Pledge) -> bool:
        caps = [self.directory.rooms[pledge.room_id].places(s) for s in pledge.shifts]
        return self.store.places.reserve(address, pledge, caps)

    def polling_station(self, postcode: str) -> str | None:
        return self.stations.station(postcode) if self.stations else None

    def arrival(self, address: str, room_id: str, shift: str) -> str | None:
        return self.store.arrivals.status(address, room_id, shift)

    def take_hold(self, address: str, room_id: str, shift: str) -> bool:
        if not self.store.standby.take(address, room_id, shift):
            # A replayed turn finds the hold already taken: the pledge is the answer.
            return self.store.places.pledge_of(address) == f"{room_id}|{shift}"
        self.store.standby.leave_lists(address)  # a place at last: waiting no more
        return True

    def code_for(self, address: str) -> str:
        return self.store.referrals.code_for(address)

    def sharer_of(self, code: str) -> str | None:
        return self.store.referrals.sharer_of(code)

    def was_stopped(self, address: str) -> bool:
        return self.store.suppression.was_stopped(address)

    def broadcast_size(self) -> int:
        return len(Broadcasts(self.store).select(Audience(), self.directory)[0])
