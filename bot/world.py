"""The World the handlers see in production: Redis for places and referrals, a geocoder."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from bot.broadcasts import Audience
from bot.campaign import Campaign
from bot.geo import Geocoder
from bot.model.message import Location
from bot.model.person import Pledge
from bot.rooms import Directory
from bot.store import Store
from bot.store.broadcasts import Broadcasts
from bot.store.directory import DirectoryCache


class LiveWorld:
    """Implements ``bot.model.turn.World`` on a Store, the directory and a Geocoder.

    ``message`` is the digest of the message being handled: writes that must not happen
    twice when a crashed turn is replayed (a referral credit, a broadcast) are keyed by it.
    """

    def __init__(
        self, store: Store, campaign: Campaign, directory: DirectoryCache, geocoder: Geocoder
    ) -> None:
        self.store, self.campaign, self.cache, self.geocoder = store, campaign, directory, geocoder
        self.message = ""
        # Scheduled work that names a person lives in the workers' queue, which bot/ does
        # not touch: the workers set this to cancel it before the person is erased.
        self.forget: Callable[[str], None] = lambda address: None

    @property
    def directory(self) -> Directory:
        return self.cache.get()

    def now(self) -> datetime:
        return datetime.now(UTC)

    def geocode(self, postcode: str) -> Location | None:
        return self.geocoder.locate(postcode)

    def places_left(self, pairs: Sequence[tuple[str, str]]) -> list[int]:
        rooms = self.directory.rooms
        taken = self.store.places.taken(pairs)
        return [rooms[r].places(s) - n for (r, s), n in zip(pairs, taken, strict=True)]

    def reserve(self, address: str, pledge: Pledge) -> bool:
        caps = [self.directory.rooms[pledge.room_id].places(s) for s in pledge.shifts]
        return self.store.places.reserve(address, pledge, caps)

    def release(self, address: str) -> None:
        self.store.places.release(address)

    def code_for(self, address: str) -> str:
        return self.store.referrals.code_for(address)

    def sharer_of(self, code: str) -> str | None:
        return self.store.referrals.sharer_of(code)

    def first_contact(self, address: str, sharer: str | None) -> int | None:
        return self.store.referrals.first_contact(address, sharer, self.message)

    def was_stopped(self, address: str) -> bool:
        return self.store.suppression.was_stopped(address)

    def set_stopped(self, address: str, stopped: bool) -> None:
        self.store.suppression.set_stopped(address, stopped)

    def erase(self, address: str) -> None:
        self.forget(address)
        self.store.erase(address)

    def broadcast_size(self) -> int:
        return len(Broadcasts(self.store).select(Audience(), self.directory)[0])

    def start_broadcast(self, text: str) -> tuple[int, int]:
        bc = Broadcasts(self.store)
        recipients, no_consent = bc.select(Audience(), self.directory, self.campaign.rate_limits)

        if self.message and (bid := bc.started_by(self.message)) is not None:
            return bid, int(bc.meta(bid)["total"])  # a replayed YES: the one it started
        bid = bc.create(text, Audience(), recipients, no_consent, launch=True, message=self.message)
        return bid, len(recipients)
