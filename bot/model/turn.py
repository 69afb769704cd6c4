"""A turn: what handlers may ask of the world, and what one inbound message produces.

Handlers are pure: they read a ``Conversation`` and an ``Inbound`` and return a ``Turn``.
What they need from outside (geocoding, places left, reserving a place, referral codes)
comes through ``World``, a small protocol with a Redis implementation for the workers
(bot/world.py) and an in-memory one for the state tables (tests/world.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from bot.campaign import Campaign
from bot.model.message import Location, Outbound
from bot.model.person import Conversation, Pledge
from bot.rooms import Directory


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
