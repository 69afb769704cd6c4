"""The World the handlers see in production: Redis for places and referrals, a geocoder."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime

from bot.broadcasts import Audience, Broadcasts
from bot.campaign import Campaign
from bot.geo import Geocoder
from bot.model import Location
from bot.rooms import Directory
from bot.state import Pledge
from bot.store import Store


class Catalog:
    """The rooms and targets in Redis as a Directory, reloaded when an import bumps the
    version (looked at no more than once a second, so a turn costs no extra round trip)."""

    CHECK_EVERY = 1.0

    def __init__(self, store: Store) -> None:
        self.store = store
        self._version = -1
        self._checked = 0.0
        self._directory = Directory([], {})

    def get(self) -> Directory:
        """The current Directory."""
        now = time.monotonic()
        if now - self._checked >= self.CHECK_EVERY:
            self._checked = now
            version = self.store.catalog_version()
            if version != self._version:
                self._directory = Directory(*self.store.load_catalog())
                self._version = version
        return self._directory


class LiveWorld:
    """Implements ``bot.state.World`` on a Store, the Catalog and a Geocoder."""

    def __init__(
        self, store: Store, campaign: Campaign, catalog: Catalog, geocoder: Geocoder
    ) -> None:
        self.store, self.campaign, self.catalog, self.geocoder = (
            store,
            campaign,
            catalog,
            geocoder,
        )

    @property
    def directory(self) -> Directory:
        return self.catalog.get()

    def now(self) -> datetime:
        return datetime.now(UTC)

    def geocode(self, postcode: str) -> Location | None:
        return self.geocoder.locate(postcode)

    def places_left(self, pairs: Sequence[tuple[str, str]]) -> list[int]:
        rooms = self.directory.rooms
        taken = self.store.places_taken(pairs)
        return [rooms[r].places(s) - n for (r, s), n in zip(pairs, taken, strict=True)]

    def reserve(self, address: str, pledge: Pledge) -> bool:
        caps = [self.directory.rooms[pledge.room_id].places(s) for s in pledge.shifts]
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

    def broadcast_size(self) -> int:
        return len(Broadcasts(self.store).select(Audience(), self.directory)[0])

    def start_broadcast(self, text: str) -> tuple[int, int]:
        bc = Broadcasts(self.store)
        recipients, no_consent = bc.select(Audience(), self.directory, self.campaign.rate_limits)
        bid = bc.create(text, Audience(), recipients, no_consent)
        bc.launch(bid)
        return bid, len(recipients)
