"""The local chat used by ``make run``: replies go to a Redis list the terminal reads."""

from __future__ import annotations

import redis

from bot.model.message import Outbound, SendResult
from bot.store import keys


def outbox_key(prefix: str, address: str) -> str:
    """Where replies for one console chat are queued."""
    return keys.CONSOLE(prefix, address=address)


class ConsoleSender:
    """Queues replies for the terminal chat; buttons are shown as a numbered list there."""

    def __init__(self, r: redis.Redis, prefix: str = "pd") -> None:
        self.r, self.prefix = r, prefix

    def send(self, out: Outbound) -> SendResult:
        """Push the reply for the terminal to print."""
        self.r.rpush(outbox_key(self.prefix, out.address), out.to_json())
        return SendResult(True)

    def close(self) -> None:
        """Nothing to release."""
