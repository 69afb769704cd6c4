"""Send pacing shared by every worker process: a sliding-window log per channel in Redis.

Each paced key is a sorted set of admission times (microseconds, from Redis ``TIME`` so every
process shares one clock)::

  pace:<channel>         every send on the channel, replies and broadcasts alike
  pace:<channel>:<hid>   sends to one chat (by one-way id), for a per-chat limit (Telegram 1/s)

(declared in bot/store/keys.py)

A limit of ``L`` messages/second admits ``N = floor(L)`` sends per window of ``1 + margin``
seconds, so no one-second window ever holds more than ``L`` admissions, even when a request
reaches the platform up to ``margin`` seconds after it was admitted; steady throughput is
``N / (1 + margin)``. Non-integer limits are honoured rather than rejected: above 1 they round
down (2.5/s admits 2 a second, because no one-second window may hold 3); below 1 the window
stretches instead (0.5/s admits 1 per ``2 * (1 + margin)`` seconds).

Replies to people talking to the bot (:meth:`Pacer.record`) are never delayed, but they go in
the same log, so broadcasts (:meth:`Pacer.try_acquire`, :meth:`Pacer.acquire`) back off while
replies flow. A channel with no configured limit is unpaced and never touches Redis. The
per-chat key is checked in the same script call as the channel key: a broadcast is admitted
only if both have room, and then recorded in both. Needs Redis >= 5 (writes after ``TIME`` in a
script) and both keys on one node.
"""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Mapping

import redis

from bot.store.keys import PACE as PACE_KEY
from bot.store.keys import PACE_CHAT, hid

DEFAULT_RATE_LIMITS: Mapping[str, float] = {"telegram": 30.0, "whatsapp": 80.0, "sms": 10.0}
DEFAULT_PER_CHAT: Mapping[str, float] = {"telegram": 1.0}
MAX_SLEEP = 0.25  # seconds between polls while waiting for a slot

PACE = """
-- KEYS: the keys to pace. ARGV[1]: '1' to record unconditionally (a reply), '0' to admit only
-- if every key has room. ARGV[2]: unique member suffix. Then per key: capacity, window in µs.
-- Returns 0 if recorded, else the µs until every key could have room (nothing recorded).
-- Numbers go to redis.call as strings formatted with %.0f: Lua's own number-to-string
-- conversion keeps only 14 digits, and µs timestamps have 16.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local record = ARGV[1] == '1'
local wait = 0
for i, key in ipairs(KEYS) do
  local cap = tonumber(ARGV[1 + 2 * i])
  local win = tonumber(ARGV[2 + 2 * i])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', string.format('%.0f', now - win))
  if not record then
    local n = redis.call('ZCARD', key)
    if n >= cap then
      local freeing = redis.call('ZRANGE', key, n - cap, n - cap, 'WITHSCORES')
      local w = tonumber(freeing[2]) + win - now
      if w > wait then wait = w end
    end
  end
end
if wait > 0 then return wait end
local member = string.format('%.0f', now) .. '-' .. ARGV[2]
for i, key in ipairs(KEYS) do
  local win = tonumber(ARGV[2 + 2 * i])
  redis.call('ZADD', key, string.format('%.0f', now), member)
  redis.call('PEXPIRE', key, string.format('%.0f', math.ceil(win / 1000)))
end
return 0
"""


def window(limit: float, margin: float) -> tuple[int, int]:
    """The (capacity, window in microseconds) that paces ``limit`` messages/second."""
    if not (math.isfinite(limit) and limit > 0):
        raise ValueError(f"rate limit must be a positive number of messages/second: {limit!r}")
    if not (math.isfinite(margin) and margin >= 0):
        raise ValueError(f"margin must be a non-negative number of seconds: {margin!r}")
    capacity = max(1, math.floor(limit))
    seconds = max(1.0, capacity / limit) * (1.0 + margin)
    return capacity, math.ceil(seconds * 1_000_000)


class Pacer:
    """Admits sends per channel (and per chat) at most at the configured rates, across processes.

    ``limits`` and ``per_chat`` are messages/second per channel; ``margin`` is the extra
    fraction of a second each window lasts, headroom for the delay between admission and the
    request reaching the platform.
    """

    def __init__(
        self,
        r: redis.Redis,
        limits: Mapping[str, float],
        prefix: str = "pd",
        margin: float = 0.02,
        per_chat: Mapping[str, float] | None = None,
        secret: bytes = b"",
    ) -> None:
        self.r, self.prefix, self.secret = r, prefix, secret
        per_chat = DEFAULT_PER_CHAT if per_chat is None else per_chat
        self._channel = {ch: window(limit, margin) for ch, limit in limits.items()}
        self._chat = {ch: window(limit, margin) for ch, limit in per_chat.items()}
        self._pace = r.register_script(PACE)

    def try_acquire(self, channel: str, chat: str | None = None) -> float:
        """Admit one broadcast send now (0.0, recorded) or say how many seconds to wait first.

        Nothing is recorded when a wait is returned; the wait is a lower bound, since another
        process may take the slot first.
        """
        return self._run(channel, chat, record=False)

    def acquire(self, channel: str, chat: str | None = None, timeout: float = 30.0) -> bool:
        """Wait up to ``timeout`` seconds for a slot and take it; False if none came in time."""
        deadline = time.monotonic() + timeout
        while True:
            wait = self.try_acquire(channel, chat)
            if wait == 0.0:
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            # Even when the wait exceeds the time left, spend the time: callers that retry
            # acquire() in a loop would otherwise spin on Redis.
            time.sleep(min(wait, MAX_SLEEP, left))

    def record(self, channel: str, chat: str | None = None) -> None:
        """Log a reply: it is never delayed, but it uses up room that broadcasts then wait for."""
        self._run(channel, chat, record=True)

    def _run(self, channel: str, chat: str | None, record: bool) -> float:
        paced = self._channel.get(channel)
        if paced is None:
            return 0.0
        keys = [PACE_KEY(self.prefix, channel=channel)]
        args: list[str | int] = ["1" if record else "0", secrets.token_hex(8), *paced]
        per_chat = self._chat.get(channel)
        if chat is not None and per_chat is not None:
            who = hid(self.secret, f"{channel}:{chat}")  # no chat id in a key name
            keys.append(PACE_CHAT(self.prefix, channel=channel, hid=who))
            args += per_chat
        return int(self._pace(keys=keys, args=args)) / 1_000_000
