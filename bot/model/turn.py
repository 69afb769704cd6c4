"""A turn: what handlers may ask of the world, and what one inbound message produces.

Handlers are pure: they read a ``Conversation`` and an ``Inbound`` and return a ``Turn``:
the new conversation, the replies, and the effects they want on the world, as data. The
worker applies the effects in one documented order (workers/effects.py), each once even
when a turn is replayed after a crash. What handlers need to *know* comes through
``World``, a small protocol of reads, with a Redis implementation for the workers
(bot/world.py) and an in-memory one for the state tables (tests/world.py). Its one write,
``reserve``, is there because the reply depends on winning the race for the last place;
taking the same pledge again changes nothing, so a replay takes each place once.
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

    def seat_of(self, postcode: str) -> str | None:
        """The constituency name of a postcode ``geocode`` found, when known."""
        ...

    def places_left(self, pairs: Sequence[tuple[str, str]]) -> Sequence[int]:
        """Places left for each (room id, shift id)."""
        ...

    def reserve(self, address: str, pledge: Pledge) -> bool:
        """Atomically take the places (moving any earlier pledge); False if any is full.
        Taking the pledge someone already holds succeeds and changes nothing."""
        ...

    def code_for(self, address: str) -> str:
        """This person's referral code, created on first use (the same one every time)."""
        ...

    def sharer_of(self, code: str) -> str | None:
        """The address a referral code belongs to."""
        ...

    def was_stopped(self, address: str) -> bool:
        """True if this address said STOP and has not said START since (even after DELETE)."""
        ...

    def broadcast_size(self) -> int:
        """How many people a broadcast to everyone would reach now."""
        ...

    def polling_station(self, postcode: str) -> str | None:
        """Where someone with this postcode votes (``address, postcode``), when the optional
        Democracy Club API knows and answers now; None otherwise."""
        ...

    def arrival(self, address: str, room_id: str, shift: str) -> str | None:
        """``here``, ``onway`` or ``noshow`` for a pledged shift, or None (not heard from)."""
        ...

    def take_hold(self, address: str, room_id: str, shift: str) -> bool:
        """Atomically make the place held for someone on standby their pledge; False if the
        hold ran out (or was given to the next person). A replay finds it taken: True."""
        ...


# --- effects: what a turn wants done, applied by the worker in the order of EFFECT_ORDER ---


@dataclass(frozen=True)
class Release:
    """Give back this person's places, if any, and any held for them; take them off the
    standby lists. What is freed goes to the next person on standby."""

    address: str


@dataclass(frozen=True)
class SetStopped:
    """Keep the suppression record in step with STOP (True) and START (False)."""

    address: str
    stopped: bool


@dataclass(frozen=True)
class Forget:
    """Drop reminders and replies held back for later (after STOP)."""

    address: str


@dataclass(frozen=True)
class Erase:
    """Delete everything about the person except the suppression record (DELETE)."""

    address: str


@dataclass(frozen=True)
class FirstContact:
    """Mark the address seen; credit the sharer if it never was (and tell them their new
    total)."""

    address: str
    sharer: str | None


@dataclass(frozen=True)
class StartBroadcast:
    """An organiser's broadcast to everyone who agreed to updates (and tell them its id)."""

    text: str


@dataclass(frozen=True)
class ScheduleReminders:
    """Schedule the reminders of a new pledge."""

    address: str
    pledge: Pledge


@dataclass(frozen=True)
class JoinStandby:
    """Put a person on the standby lists of these (room id, shift id, km), nearest first;
    a place already free on one is offered at once."""

    address: str
    lists: tuple[tuple[str, str, float], ...]


@dataclass(frozen=True)
class PassHold:
    """They said no to the place held for them at this room and shift: the next person."""

    address: str
    room_id: str
    shift: str


@dataclass(frozen=True)
class CheckIn:
    """They have arrived at their room for these shifts (HERE), at this unix time."""

    address: str
    room_id: str
    shifts: tuple[str, ...]
    at: int


@dataclass(frozen=True)
class OnTheWay:
    """Chased or not, they said they are on their way to these shifts at their room."""

    address: str
    room_id: str
    shifts: tuple[str, ...]
    at: int


@dataclass(frozen=True)
class NoShow:
    """Not at the room, nor heard from, after the waits: that shift's place is freed (for
    standby) and they are counted a no-show there."""

    address: str
    room_id: str
    shift: str
    at: int


@dataclass(frozen=True)
class LeftRoom:
    """Their place moved to another room (FULL, then YES): no longer counted at this one."""

    address: str
    room_id: str
    shifts: tuple[str, ...]


@dataclass(frozen=True)
class BackfillAnswer:
    """Someone asked to fill a room short of people answered: ``took`` (a place), ``late``
    (YES once it was covered) or ``declined``; the room's gap counts it."""

    address: str
    room_id: str
    shift: str
    outcome: str


@dataclass(frozen=True)
class RelayReply:
    """Their answer to a message from their room's coordinator, for the room's page."""

    address: str
    room_id: str
    name: str
    text: str
    at: int


Effect = (
    Release | PassHold | NoShow | SetStopped | Forget | Erase | FirstContact
    | StartBroadcast | ScheduleReminders | JoinStandby | CheckIn | OnTheWay | LeftRoom
    | BackfillAnswer | RelayReply
)  # fmt: skip

# The one order effects are applied in, whatever order a handler lists them: places and the
# suppression record first (so nothing is sent against a STOP), erasure before anything
# that could write the person again, then what only adds.
EFFECT_ORDER: tuple[type, ...] = (
    Release,
    PassHold,
    NoShow,
    SetStopped,
    Forget,
    Erase,
    FirstContact,
    StartBroadcast,
    ScheduleReminders,
    JoinStandby,
    CheckIn,
    OnTheWay,
    LeftRoom,
    BackfillAnswer,
    RelayReply,
)


def in_order(effects: Sequence[Effect]) -> list[Effect]:
    """The effects sorted into EFFECT_ORDER (stable within a kind)."""
    return sorted(effects, key=lambda e: EFFECT_ORDER.index(type(e)))


@dataclass
class Turn:
    """What one inbound message produced."""

    conv: Conversation | None  # None: the person was erased, or we keep nothing about them
    replies: list[Outbound] = field(default_factory=list)
    effects: list[Effect] = field(default_factory=list)
