"""The neutral message model shared by every channel, the conversation and the workers.

An address names one person on one channel: ``telegram:42``, ``whatsapp:+447700900123``,
``sms:+447700900123`` or ``console:local``. Channels turn platform payloads into
``Inbound`` and ``Outbound`` into platform calls; nothing else knows a platform's format.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from bot.scrub import scrub


@dataclass(frozen=True, slots=True)
class Location:
    """A point in WGS84 degrees."""

    latitude: float
    longitude: float


@dataclass(frozen=True, slots=True)
class Inbound:
    """One thing a person sent: text, a location pin or a button press."""

    address: str
    text: str = ""
    location: Location | None = None
    payload: str | None = None  # button/callback data, never shown to anyone
    external_id: str = ""  # update_id / MessageSid: the dedupe key
    callback_id: str | None = None  # Telegram callback query to answer
    unsupported: bool = False  # a sticker, photo, voice note...: nothing we can read
    event: str | None = None  # set only by the system (e.g. "room_closed"), never by a channel
    received_at: float = 0.0  # unix time the webhook accepted it
    name: str = ""  # the first name the platform gave (Telegram, WhatsApp), for their room

    @property
    def channel(self) -> str:
        """The channel part of the address (``telegram``, ``whatsapp``, ``sms``, ``console``)."""
        return self.address.split(":", 1)[0]

    def to_json(self) -> str:
        """Serialise for a queue (by hand: ``asdict`` is slow on the webhook's hot path)."""
        data = {f: getattr(self, f) for f in self.__slots__}  # type: ignore[attr-defined]
        if self.location:
            data["location"] = {
                "latitude": self.location.latitude,
                "longitude": self.location.longitude,
            }
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str | bytes) -> Inbound:
        """Rebuild from :meth:`to_json`."""
        data: dict[str, Any] = json.loads(raw)
        loc = data.pop("location", None)
        return cls(location=Location(**loc) if loc else None, **data)


@dataclass(frozen=True, slots=True)
class Button:
    """A choice offered to the person; ``payload`` is what comes back when it is pressed."""

    label: str
    payload: str


@dataclass(frozen=True, slots=True)
class Outbound:
    """One message to send. Text is always plain: no channel applies markup to it."""

    address: str
    text: str
    buttons: tuple[Button, ...] = ()
    request_location: bool = False  # offer a "share my location" button, where there is one
    template: str | None = None  # an approved template, for someone outside the reply window
    alone: bool = False  # goes as its own message (the share message is forwarded as it is)

    @property
    def channel(self) -> str:
        """The channel part of the address."""
        return self.address.split(":", 1)[0]

    @property
    def recipient(self) -> str:
        """The address without its channel prefix (chat id or E.164 number)."""
        return self.address.split(":", 1)[1]

    def to_json(self) -> str:
        """Serialise for a queue."""
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str | bytes) -> Outbound:
        """Rebuild from :meth:`to_json`."""
        data: dict[str, Any] = json.loads(raw)
        buttons = tuple(Button(**b) for b in data.pop("buttons", ()))
        return cls(buttons=buttons, **data)


# The longest merged text: Twilio's body limit, the smallest of the platforms' (Telegram: 4096).
MAX_MERGED = 1600


def merged(replies: Sequence[Outbound]) -> list[Outbound]:
    """The replies of one turn as few messages as they can be: consecutive texts to one
    person go as one, paragraphs apart. Every platform limits messages, not words, so each
    message saved is one another person does not wait for.

    A message with buttons, a location request or a template ends its group (what it asks
    stays last, under its own choices); one marked ``alone`` stays on its own; a merge that
    would pass ``MAX_MERGED`` characters starts a new message. Nothing is dropped or reordered.
    """
    out: list[Outbound] = []
    for reply in replies:
        last = out[-1] if out else None
        if (
            last is not None
            and last.address == reply.address
            and not (last.alone or reply.alone)
            and not (last.buttons or last.request_location or last.template or reply.template)
            and len(last.text) + 2 + len(reply.text) <= MAX_MERGED
        ):
            out[-1] = Outbound(
                reply.address,
                f"{last.text}\n\n{reply.text}",
                reply.buttons,
                reply.request_location,
            )
        else:
            out.append(reply)
    return out


@dataclass(slots=True)
class SendResult:
    """What happened to one send: ok, retry later, or final failure that marks the person."""

    ok: bool
    retry_after: float | None = None  # seconds; set when the failure is retryable
    unreachable: str | None = None  # reason code when the person cannot be reached again
    error: str = ""
    needs_template: bool = False  # refused: their reply window has closed, only a template goes
    maybe_sent: bool = False  # failed after the request went out (timeout, 5xx): may have gone

    @property
    def throttled(self) -> bool:
        """Refused for going over the platform's rate limit (nothing was sent)."""
        return self.retry_after is not None and not self.maybe_sent

    def __post_init__(self) -> None:
        # Platforms repeat the number or chat id in their error texts; this one gets logged.
        if self.error:  # (every successful send makes one of these: keep that free)
            self.error = scrub(self.error)
