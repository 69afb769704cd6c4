"""Broadcasts, the pure part: who an audience is, what the message says, sending order.

The ledger that makes each send happen once is bot/store/broadcasts.py.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from bot.campaign import Campaign
from bot.rooms import Directory, seat_key

MAX_TEXT = 1000  # leaves room for the imprint in one Telegram message or a few SMS parts
SKIP_REASONS = ("opted_out", "no_consent", "unreachable", "outside_window")
AUDIENCE_KEYS = ("constituency", "room", "shift", "channel", "pledged")
UNPACED_RATE = 1000.0  # sends/s assumed for a channel with no limit, to order recipients


class AudienceError(ValueError):
    """An audience an organiser asked for that cannot be right; the message says why."""


@dataclass(frozen=True)
class Audience:
    """Who a broadcast is for; every field optional (None: everyone)."""

    constituency: str | None = None
    room: str | None = None
    shift: str | None = None
    channel: str | None = None
    pledged: bool | None = None

    @classmethod
    def parse(cls, raw: Any, campaign: Campaign, directory: Directory) -> Audience:
        """Validate an audience from JSON."""
        raw = {} if raw is None else raw
        if not isinstance(raw, dict):
            raise AudienceError("audience: expected an object")
        unknown = set(raw) - set(AUDIENCE_KEYS)
        if unknown:
            raise AudienceError(f"audience: unknown key(s) {', '.join(sorted(unknown))}")
        for key in ("constituency", "room", "shift", "channel"):
            value = raw.get(key)
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise AudienceError(f"audience.{key}: expected text")
        seat = raw.get("constituency")
        if seat and seat_key(seat) not in {r.seat for r in directory.rooms.values()}:
            raise AudienceError(
                f"audience.constituency: no committee room in {seat!r} "
                "(name the seat as the rooms file does)"
            )
        if raw.get("pledged") is not None and not isinstance(raw["pledged"], bool):
            raise AudienceError("audience.pledged: expected true or false")
        if raw.get("shift") and raw["shift"] not in campaign.shift_ids:
            raise AudienceError(f"audience.shift: no shift {raw['shift']!r}")
        if raw.get("room") and raw["room"] not in directory.rooms:
            raise AudienceError(f"audience.room: no room {raw['room']!r}")
        if raw.get("channel") and raw["channel"] not in ("telegram", "whatsapp", "sms"):
            raise AudienceError("audience.channel: expected telegram, whatsapp or sms")
        return cls(
            **{k: raw.get(k) for k in ("constituency", "room", "shift", "channel", "pledged")}
        )

    @property
    def needs_pledges(self) -> bool:
        """Whether choosing this audience looks at people's pledges."""
        return self.pledged is not None or bool(self.room or self.shift or self.constituency)

    def as_dict(self) -> dict[str, Any]:
        """The fields that were given."""
        return {k: v for k, v in asdict(self).items() if v is not None}

    def matches(
        self, address: str, pledge: tuple[str, tuple[str, ...]] | None, directory: Directory
    ) -> bool:
        """Whether one person is in the audience, given their pledge."""
        if self.channel and not address.startswith(self.channel + ":"):
            return False
        if self.pledged is not None and (pledge is not None) != self.pledged:
            return False
        if not (self.room or self.shift or self.constituency):
            return True
        if pledge is None:
            return False
        room_id, shifts = pledge
        if self.room and room_id != self.room:
            return False
        if self.shift and self.shift not in shifts:
            return False
        room = directory.rooms.get(room_id)
        return not self.constituency or (
            room is not None and room.seat == seat_key(self.constituency)
        )


def text_problem(text: object) -> str | None:
    """What is wrong with a broadcast's text, said for the organiser; None if nothing."""
    if not isinstance(text, str) or not text.strip():
        return "text: required"
    if not visible(text):
        return "text: nothing visible (only spaces or invisible characters)"
    if len(text) > MAX_TEXT:
        return f"text: at most {MAX_TEXT} characters"
    return None


def visible(text: str) -> bool:
    """Whether anyone would see something: not only spaces, zero-width or control
    characters (a broadcast of nothing, sent to thousands, is a mistake)."""
    return any(unicodedata.category(ch)[0] not in "CZ" for ch in text)


def render(text: str, campaign: Campaign) -> str:
    """The broadcast as sent: the organiser's text, then the imprint."""
    return f"{text}\n\n{campaign.imprint}" if campaign.imprint else text


def by_send_time(addresses: list[str], limits: Mapping[str, float]) -> list[str]:
    """The addresses in the order they would go out if every channel sent at its own rate
    at once: the i-th person on a channel limited to L/s is due at i / L seconds. Slices
    then mix channels in proportion to their rates, so every channel is kept busy at its
    limit, instead of WhatsApp waiting behind a long run of Telegram slices."""
    seen: dict[str, int] = {}
    due = []
    for n, address in enumerate(addresses):
        channel = address.split(":", 1)[0]
        i = seen[channel] = seen.get(channel, -1) + 1
        due.append((i / limits.get(channel, UNPACED_RATE), n, address))
    return [address for *_, address in sorted(due)]
