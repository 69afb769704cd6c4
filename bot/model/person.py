"""One person's side of the journey: the states, and the conversation record kept for them.

Only what the journey needs is kept; ``Conversation.to_json`` is what Redis holds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from bot.model.message import Location
from bot.rooms import Offer


class State(StrEnum):
    """Where a person is in the journey."""

    NEW = "new"
    ASK_LOCATION = "ask_location"
    ASK_SHIFTS = "ask_shifts"
    OFFER = "offer"
    ASK_CONSENT = "ask_consent"
    DONE = "done"
    STANDBY = "standby"  # every room full for their times: waiting for a place to free up
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
    version: str  # wording version from the message catalogue, or WITHDRAWN_BY_STOP


WITHDRAWN_BY_STOP = "stop"  # a Consent's version when STOP withdrew it


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
    held: Offer | None = None  # on standby: a freed place kept for them while they answer
    held_until: int = 0  # unix seconds: when that hold runs out
    asked: Offer | None = None  # on the day: a room short of people asked them to come
    asked_until: int = 0  # unix seconds: the end of that shift (the ask lapses then)
    name: str = ""  # the first name their platform gave (Telegram, WhatsApp), for their room
    relay_until: int = 0  # unix seconds: their replies go to their room's coordinator till then
    relay_room: str = ""  # the room whose coordinator wrote to them (they may move meanwhile)

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
            d["o"] = [[o.room_id, list(o.shifts), o.km, list(o.left)] for o in self.offers]
        if self.pledge:
            d["p"] = [self.pledge.room_id, list(self.pledge.shifts)]
        if self.shifts != (self.pledge.shifts if self.pledge else ()):
            d["sh"] = list(self.shifts)  # usually the pledge's shifts, then not stored twice
        if h := self.held:
            d["h"] = [h.room_id, list(h.shifts), h.km, self.held_until]
        if b := self.asked:
            d["b"] = [b.room_id, list(b.shifts), b.km, self.asked_until]
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
        c, h, b = d.get("c"), d.get("h"), d.get("b")
        return cls(
            address,
            State(d["s"]),
            location=Location(*d["l"]) if "l" in d else None,
            shifts=tuple(d["sh"]) if "sh" in d else pledge.shifts if pledge else (),
            # (Stored before places left were kept: three items.)
            offers=tuple(
                Offer(r, tuple(s), km, tuple(left[0]) if left else ())
                for r, s, km, *left in d.get("o", ())
            ),  # fmt: skip
            pledge=pledge,
            held=Offer(h[0], tuple(h[1]), h[2]) if h else None,
            held_until=h[3] if h else 0,
            asked=Offer(b[0], tuple(b[1]), b[2]) if b else None,
            asked_until=b[3] if b else 0,
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
    "name": "nm",
    "relay_until": "ru",
    "relay_room": "rr",
}
