"""The one shape every channel has: a webhook side (verify, parse, reply) and a sending side
(senders per address channel, their capabilities and error mapping to ``SendResult``).

A *platform* (Telegram, Twilio, the console) is one ``Channel``; it serves one or more
*address channels*, the part before the colon in an address (Twilio serves ``whatsapp``
and ``sms`` from one webhook). Nothing outside ``bot/channels/`` knows a platform's
payloads, error codes or limits: the rest of the bot sees ``Inbound``, ``Outbound``,
``SendResult`` and ``Capabilities``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import cached_property
from typing import TYPE_CHECKING, ClassVar
from urllib.parse import parse_qsl

from bot.model.message import Inbound, Outbound, SendResult

if TYPE_CHECKING:
    import redis

    from bot.config import Settings


MAX_NAME = 30  # characters of a first name kept


def first_name(raw: object) -> str:
    """The first word of the name a platform gave ("" if none): all a room coordinator
    sees of a volunteer."""
    words = raw.split() if isinstance(raw, str) else []
    return "".join(ch for ch in words[0] if ch.isprintable())[:MAX_NAME] if words else ""


class ParseError(ValueError):
    """A webhook body that is not the shape the platform sends."""


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What one address channel can do beyond plain text; what it cannot, it leaves out."""

    buttons: bool = False  # shows Outbound.buttons (elsewhere the text lists the choices)
    request_location: bool = False  # can show a "share my location" button
    templates: bool = False  # can send an approved template (Outbound.template)
    # Seconds after a person's last message in which free-form text may be sent; past it
    # only a template can reach them. None: any time.
    reply_window: float | None = None

    def in_window(self, last_inbound: float | None, now: float) -> bool:
        """Free-form text may go to someone whose last message was at ``last_inbound``."""
        if self.reply_window is None:
            return True
        return last_inbound is not None and now - last_inbound < self.reply_window

    def fit(self, out: Outbound) -> Outbound:
        """``out`` without what this channel cannot show (the text already says it all)."""
        no_buttons = bool(out.buttons) and not self.buttons
        no_location = out.request_location and not self.request_location
        if not (no_buttons or no_location):
            return out
        buttons = () if no_buttons else out.buttons
        return replace(
            out, buttons=buttons, request_location=out.request_location and not no_location
        )


@dataclass(frozen=True)
class Webhook:
    """One webhook request as a channel sees it (built by the app, or by a test)."""

    url: str  # the public URL it was posted to, with its query: what platforms sign
    headers: Mapping[str, str]
    body: bytes
    content_type: str = ""

    @cached_property
    def form(self) -> dict[str, str]:
        """The body's form fields (first value of each), when it is form-encoded."""
        if not self.content_type.startswith("application/x-www-form-urlencoded"):
            return {}
        fields: dict[str, str] = {}
        for key, value in parse_qsl(self.body.decode("utf-8", "replace"), keep_blank_values=True):
            fields.setdefault(key, value)
        return fields


@dataclass(frozen=True, slots=True)
class Received:
    """What a webhook request comes to: the HTTP status, and the messages to queue."""

    status: int  # 200 accepted (or ignored), 400 malformed, 403 not from the platform
    messages: list[Inbound]
    reason: str = ""  # one line saying why, when refused


class Sender(ABC):
    """The sending half of one address channel, used by the workers. Thread-safe."""

    @abstractmethod
    def send(self, out: Outbound) -> SendResult:
        """Deliver one message; platform errors come back mapped, never raised."""

    def ack(self, callback_id: str) -> SendResult:
        """Acknowledge a button press (``Inbound.callback_id``); most platforms need not."""
        return SendResult(True)

    def warm_up(self) -> SendResult:
        """Open connections before the first real send; a no-op unless a platform needs it."""
        return SendResult(True)

    def close(self) -> None:
        """Release connections (most senders hold none worth closing)."""
        return None


class Channel(ABC):
    """One platform, whole: its webhook at ``/webhooks/<name>`` and its senders."""

    name: ClassVar[str]  # the platform, and its webhook's path
    capabilities: ClassVar[Mapping[str, Capabilities]]  # per address channel it serves
    reply: ClassVar[bytes] = b""  # the webhook's answer when a request is accepted...
    reply_type: ClassVar[str] = "text/plain"  # ...and its content type
    refused: ClassVar[str] = "bad or missing signature"  # the 403's reason

    @classmethod
    @abstractmethod
    def from_settings(cls, settings: Settings) -> Channel | None:
        """This platform configured from ``settings``, or None when it is off."""

    @property
    def receiving(self) -> bool:
        """Whether the webhook is on (a platform may send without receiving)."""
        return True

    def verify(self, hook: Webhook) -> bool:
        """The request comes from the platform (a secret or signature checks out)."""
        return False

    def parse(self, hook: Webhook, received_at: float) -> list[Inbound]:
        """The messages in a verified request; [] for kinds the bot does not use.

        Raises ParseError for a body that is not the platform's shape."""
        raise ParseError(f"{self.name} has no webhook")

    @abstractmethod
    def senders(self, r: redis.Redis) -> dict[str, Sender]:
        """A sender per configured address channel (workers only: never on the web path)."""

    def receive(self, hook: Webhook, received_at: float) -> Received:
        """Verify, then parse: what the webhook answers and what it queues."""
        if not self.verify(hook):
            return Received(403, [], self.refused)
        try:
            return Received(200, self.parse(hook, received_at))
        except ParseError as exc:
            return Received(400, [], str(exc))
