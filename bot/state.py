"""Conversation states, the per-person conversation record, and the World the handlers use.

Handlers are pure: they read a ``Conversation`` and an ``Inbound`` and return a new
``Conversation`` and replies. What they need from outside (geocoding, places left,
reserving a place, referral codes) comes through ``World``, a small protocol with a
Redis implementation for the workers and an in-memory one for the state tables.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from bot.campaign import Campaign
from bot.model import Location, Outbound
from bot.rooms import Directory, Offer


class State(StrEnum):
    """Where a person is in the journey."""

    NEW = "new"
    ASK_LOCATION = "ask_location"
    ASK_SHIFTS = "ask_shifts"
    OFFER = "offer"
    ASK_CONSENT = "ask_consent"
    DONE = "done"
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class Pledge:
    """A confirmed place: one room, one or more shifts."""

    room_id: str
    shifts: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Consent:
    """Evidence of the answer to the updates question."""

    granted: bool
    at: int  # unix seconds: 10 bytes instead of 25, for every supporter
    channel: str
    version: str  # wording version from the message catalogue


@dataclass(frozen=True, slots=True)
class Conversation:
    """Everything kept about one person; only what the journey needs."""

    address: str
    state: State = State.NEW
    postcode: str | None = None
    location: Location | None = None  # rounded to ~100 m when it came from a pin
    shifts: tuple[str, ...] = ()
    offers: tuple[Offer, ...] = ()
    offer_index: int = 0
    pledge: Pledge | None = None
    consent: Consent | None = None
    code: str | None = None  # this person's referral code
    last_id: str = ""  # digest of the last message handled, so a replay is not taken twice
    draft: str | None = None  # an organiser's broadcast awaiting YES

    @property
    def channel(self) -> str:
        """``telegram``, ``whatsapp``, ``sms`` or ``console``."""
        return self.address.split(":", 1)[0]

    @property
    def offer(self) -> Offer | None:
        """The offer currently on the table."""
        return self.offers[self.offer_index] if self.offer_index < len(self.offers) else None

    def evolve(self, **changes: Any) -> Conversation:
        """A copy with some fields changed."""
        return replace(self, **changes)

    def to_json(self) -> str:
        """Compact JSON for storage: short names, nothing empty, no address (it is the key);
        about 250 bytes, since every supporter has one."""
        d: dict[str, Any] = {"s": self.state.value}
        if self.location:
            d["l"] = [self.location.latitude, self.location.longitude]
        if self.offers:
            d["o"] = [[o.room_id, list(o.shifts), o.km] for o in self.offers]
        if self.pledge:
            d["p"] = [self.pledge.room_id, list(self.pledge.shifts)]
        if self.shifts != (self.pledge.shifts if self.pledge else ()):
            d["sh"] = list(self.shifts)  # usually the pledge's shifts, then not stored twice
        if c := self.consent:  # the channel is the address's
            d["c"] = [int(c.granted), c.at, c.version]
        for name, short in _SHORT.items():
            if value := getattr(self, name):
                d[short] = value
        return json.dumps(d, separators=(",", ":"))

    @classmethod
    def from_json(cls, address: str, raw: str | bytes) -> Conversation:
        """Rebuild from :meth:`to_json`."""
        d: dict[str, Any] = json.loads(raw)
        pledge = Pledge(d["p"][0], tuple(d["p"][1])) if "p" in d else None
        c = d.get("c")
        return cls(
            address,
            State(d["s"]),
            location=Location(*d["l"]) if "l" in d else None,
            shifts=tuple(d["sh"]) if "sh" in d else pledge.shifts if pledge else (),
            offers=tuple(Offer(r, tuple(s), km) for r, s, km in d.get("o", ())),
            pledge=pledge,
            consent=Consent(bool(c[0]), c[1], address.split(":", 1)[0], c[2]) if c else None,
            **{name: d[short] for name, short in _SHORT.items() if short in d},
        )


# Plain fields and their stored names.
_SHORT = {
    "postcode": "pc",
    "offer_index": "oi",
    "code": "cd",
    "draft": "d",
    "last_id": "id",
}


class World(Protocol):
    """What handlers may ask of the outside world."""

    campaign: Campaign
    directory: Directory

    def now(self) -> datetime:
        """Current time, timezone-aware UTC."""
        ...

    def geocode(self, postcode: str) -> Location | None:
        """Coordinates of a normalised postcode; may raise GeocoderUnavailable."""
        ...

    def places_left(self, pairs: Sequence[tuple[str, str]]) -> Sequence[int]:
        """Places left for each (room id, shift id)."""
        ...

    def reserve(self, address: str, pledge: Pledge) -> bool:
        """Atomically take the places (moving any earlier pledge); False if any is full."""
        ...

    def release(self, address: str) -> None:
        """Give back this person's places, if any."""
        ...

    def code_for(self, address: str) -> str:
        """This person's referral code, created on first use."""
        ...

    def sharer_of(self, code: str) -> str | None:
        """The address a referral code belongs to."""
        ...

    def first_contact(self, address: str, sharer: str | None) -> int | None:
        """Record that this address has been seen; credit the sharer once, returning their
        new total, or None when no credit is due (seen before, self-referral, no sharer)."""
        ...

    def was_stopped(self, address: str) -> bool:
        """True if this address said STOP and has not said START since (even after DELETE)."""
        ...

    def set_stopped(self, address: str, stopped: bool) -> None:
        """Keep the suppression record in step with STOP and START."""
        ...

    def erase(self, address: str) -> None:
        """Delete everything about the person except the suppression record."""
        ...

    def broadcast_size(self) -> int:
        """How many people a broadcast to everyone would reach now."""
        ...

    def start_broadcast(self, text: str) -> tuple[int, int]:
        """Create and start a broadcast to everyone who agreed to updates: (id, recipients)."""
        ...


@dataclass
class Turn:
    """What one inbound message produced."""

    conv: Conversation | None  # None: the person was erased
    replies: list[Outbound] = field(default_factory=list)
