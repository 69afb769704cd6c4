"""The local chat used by ``make run``: replies go to a Redis list the terminal reads.

It has no webhook: the terminal queues the person's lines itself (see bot/local.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import redis

from bot.channels.base import Capabilities, Channel, Sender
from bot.model.message import Outbound, SendResult
from bot.store import keys

if TYPE_CHECKING:
    from bot.config import Settings

# The terminal prints text only: choices are listed in it, a location is /location LAT LON.
CAPABILITIES = Capabilities()


def outbox_key(prefix: str, address: str) -> str:
    """Where replies for one console chat are queued."""
    return keys.CONSOLE(prefix, address=address)


class ConsoleChannel(Channel):
    """The terminal chat: always on, sending only."""

    name = "console"
    capabilities = {"console": CAPABILITIES}

    def __init__(self, prefix: str = "pd") -> None:
        self.prefix = prefix

    @classmethod
    def from_settings(cls, settings: Settings) -> ConsoleChannel:
        """Always on: it needs nothing but Redis."""
        return cls(settings.key_prefix)

    @property
    def receiving(self) -> bool:
        """No webhook: ``make run`` queues the terminal's lines directly."""
        return False

    def senders(self, r: redis.Redis) -> dict[str, Sender]:
        """The one sender, onto Redis lists."""
        return {"console": ConsoleSender(r, self.prefix)}


class ConsoleSender(Sender):
    """Queues replies for the terminal chat; buttons are shown as a numbered list there."""

    def __init__(self, r: redis.Redis, prefix: str = "pd") -> None:
        self.r, self.prefix = r, prefix

    def send(self, out: Outbound) -> SendResult:
        """Push the reply for the terminal to print."""
        self.r.rpush(outbox_key(self.prefix, out.address), CAPABILITIES.fit(out).to_json())
        return SendResult(True)
