"""One module per platform: ``verify`` a request, ``parse`` it to Inbound, ``send`` Outbound."""

from __future__ import annotations

from typing import Protocol

from bot.model.message import Outbound, SendResult


class ParseError(ValueError):
    """A webhook body that is not the shape the platform sends."""


class Sender(Protocol):
    """The sending half of a channel, used by the workers."""

    def send(self, out: Outbound) -> SendResult:
        """Deliver one message; never raises for platform errors."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...
