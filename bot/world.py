"""The World the handlers see in production: Redis for places and referrals, a geocoder."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from bot.config import Campaign
from bot.geo import Geocoder
from bot.model import Location
from bot.rooms import Directory
from bot.state import Pledge
from bot.store import Store


class LiveWorld:
    """Implements ``bot.state.World`` on a Store, a Directory and a Geocoder."""

    def __init__(
        self, store: Store, campaign: Campaign, directory: Directory, geocoder: Geocoder
    ) -> None:
        self.store, self.campaign, self.directory, self.geocoder = (
            store,
            campaign,
            directory,
            geocoder,
        )

    def now(self) -> datetime:
        return datetime.now(UTC)

    def geocode(self, postcode: str) -> Location | None:
        return self.geocoder.locate(postcode)

    def places_left(self, pairs: Sequence[tuple[str, str]]) -> list[int]:
        rooms = self.directory.rooms
        taken = self.store.places_taken(pairs)
        return [rooms[r].capacity[s] - n for (r, s), n in zip(pairs, taken, strict=True)]

    def reserve(self, address: str, pledge: Pledge) -> bool:
        caps = [self.directory.rooms[pledge.room_id].capacity[s] for s in pledge.shifts]
        return self.store.reserve(address, pledge, caps)

    def release(self, address: str) -> None:
        self.store.release(address)

    def code_for(self, address: str) -> str:
        return self.store.new_code(address)

    def sharer_of(self, code: str) -> str | None:
        return self.store.sharer_of(code)

    def first_contact(self, address: str, sharer: str | None) -> int | None:
        return self.store.first_contact(address, sharer)

    def was_stopped(self, address: str) -> bool:
        return self.store.was_stopped(address)

    def set_stopped(self, address: str, stopped: bool) -> None:
        self.store.set_stopped(address, stopped)

    def erase(self, address: str) -> None:
        self.store.erase(address)
