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
stretches instead (0.5/s admits 1 per ``2 * (1 + margin)`` seconds). Replies keep a wider
margin than broadcasts (50 ms, not 20): a reply is admitted in a busy worker, one of dozens
of threads taking turns, so it reaches the platform later and less evenly than a broadcast
step's sends. At 20 ms the mixed surge bench saw about one refusal per 1,000 replies, and
each refusal's ``retry_after`` (a whole second at least) paused the channel for longer than
the wider margin costs: WhatsApp ran at 0.87 of its limit, against 0.93 at 50 ms.

Replies and broadcasts share each channel's limit, replies first. A reply
(:meth:`Pacer.admit_reply`) waits in a line per channel (``line:<channel>``), ordered by when
the person wrote, so when more people write than the platform lets us answer, they are
answered in the order they wrote and nobody starves behind a later arrival. A broadcast
(:meth:`Pacer.try_acquire`, :meth:`Pacer.acquire`) is admitted only while no reply waits. A
reply that must wait for its own chat's limit steps out of the line meanwhile, so the people
behind it are not held up. When a platform refuses a send with a ``retry_after``,
:meth:`Pacer.pause` stops the whole channel for that long (``pause:<channel>``), in every
process. A channel with no configured limit is unpaced and never touches Redis. Every check is
one script call. Needs Redis >= 5 (writes after ``TIME`` in a script) and the keys on one node.
"""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Callable, Mapping

import redis

from bot.store.keys import LINE, LINE_SEEN, PACE_CHAT, hid
from bot.store.keys import PACE as PACE_KEY
from bot.store.keys import PAUSE as PAUSE_KEY

# Telegram: about one message a second to one chat, with short bursts. A burst of three in
# three seconds lets a turn's share message follow its reply at once, without a drainer
# waiting a second on every journey.
DEFAULT_PER_CHAT: Mapping[str, float | tuple[int, float]] = {"telegram": (3, 3.0)}
MAX_SLEEP = 0.25  # seconds between polls while waiting for a slot
MODES = ("record", "broadcast")  # PACE's modes other than a reply's ticket
STALE_US = 2_000_000  # a reply waiting longer than this without asking has gone (µs)

PACE = """
-- KEYS: 1 pause:<ch>, 2 line:<ch>, 3 lineseen:<ch>, 4 pace:<ch>, [5 pace:<ch>:<hid>].
-- ARGV: 1 mode: 'record' (log a send that goes regardless), 'broadcast' (admit only if no
-- reply waits and every window has room) or a reply's ticket (admit in turn, first come);
-- 2 when the person wrote (µs, a reply's place in line); 3 how long a waiter may go without
-- asking before it leaves the line (µs); 4 unique member suffix; then per pace key:
-- capacity, window in µs. Returns 0 if admitted (recorded), else µs to wait (nothing recorded).
-- Numbers go to redis.call formatted with %.0f: Lua's own conversion keeps only 14 digits.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local mode = ARGV[1]
local function fmt(n) return string.format('%.0f', n) end
local reply = mode ~= 'record' and mode ~= 'broadcast'
if reply then  -- join the line (or stay in it, in the same place) and say we are still here
  redis.call('ZADD', KEYS[2], 'NX', ARGV[2], mode)
  redis.call('ZADD', KEYS[3], fmt(now), mode)
  redis.call('PEXPIRE', KEYS[2], 60000)
  redis.call('PEXPIRE', KEYS[3], 60000)
end
local paused = redis.call('PTTL', KEYS[1])
if paused > 0 and mode ~= 'record' then return paused * 1000 end
-- A waiter that stopped asking (its worker died) leaves the line.
for _, gone in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', fmt(now - tonumber(ARGV[3])))) do
  redis.call('ZREM', KEYS[2], gone)
  redis.call('ZREM', KEYS[3], gone)
end
local channel_wait, chat_wait, slot = 0, 0, 0
for i = 4, #KEYS do
  local cap = tonumber(ARGV[2 * i - 3])
  local win = tonumber(ARGV[2 * i - 2])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', fmt(now - win))
  local n = redis.call('ZCARD', KEYS[i])
  local wait = 0
  if n >= cap then
    local freeing = redis.call('ZRANGE', KEYS[i], n - cap, n - cap, 'WITHSCORES')
    wait = tonumber(freeing[2]) + win - now
  end
  if i == 4 then channel_wait, slot = wait, win / cap else chat_wait = wait end
end
if mode == 'broadcast' then
  -- Broadcasts take only what replies leave.
  if redis.call('ZCARD', KEYS[2]) > 0 then return math.max(slot, 1000) end
  local wait = math.max(channel_wait, chat_wait)
  if wait > 0 then return wait end
elseif reply then
  if chat_wait > 0 then
    -- Waiting for this chat's own limit: out of the line meanwhile, so nobody waits behind
    -- it; back in the same place when it asks again.
    redis.call('ZREM', KEYS[2], mode)
    redis.call('ZREM', KEYS[3], mode)
    return chat_wait
  end
  local ahead = redis.call('ZRANK', KEYS[2], mode)
  if ahead > 0 then return math.max(ahead * slot, channel_wait, 1000) end
  if channel_wait > 0 then return channel_wait end
  redis.call('ZREM', KEYS[2], mode)
  redis.call('ZREM', KEYS[3], mode)
end
local member = fmt(now) .. '-' .. ARGV[4]
for i = 4, #KEYS do
  local win = tonumber(ARGV[2 * i - 2])
  redis.call('ZADD', KEYS[i], fmt(now), member)
  redis.call('PEXPIRE', KEYS[i], fmt(math.ceil(win / 1000)))
end
return 0
"""

PAUSE = """
-- KEYS: 1 pause:<ch>. ARGV: 1 ms. Lengthen the pause to at least this; never shorten it.
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
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


def _chat_window(limit: float | tuple[int, float], margin: float) -> tuple[int, int]:
    """A per-chat limit as (capacity, window in µs): a rate, or (sends, seconds)."""
    if isinstance(limit, tuple):
        count, seconds = limit
        return count, math.ceil(seconds * (1.0 + margin) * 1_000_000)
    return window(limit, margin)


class Pacer:
    """Admits sends per channel (and per chat) at most at the configured rates, across processes.

    ``limits`` are messages/second per channel; ``per_chat`` the same per chat, or (sends,
    seconds) for a burst; ``margin`` is the extra fraction of a second each window lasts,
    headroom for the delay between admission and the request reaching the platform
    (``reply_margin`` for replies, see the module docstring).
    """

    def __init__(
        self,
        r: redis.Redis,
        limits: Mapping[str, float],
        prefix: str = "pd",
        margin: float = 0.02,
        per_chat: Mapping[str, float | tuple[int, float]] | None = None,
        secret: bytes = b"",
        reply_margin: float = 0.05,
    ) -> None:
        self.r, self.prefix, self.secret = r, prefix, secret
        per_chat = DEFAULT_PER_CHAT if per_chat is None else per_chat
        # (channel windows, chat windows) for broadcasts and records, and for replies.
        self._windows = {
            kind: (
                {ch: window(limit, m) for ch, limit in limits.items()},
                {ch: _chat_window(limit, m) for ch, limit in per_chat.items()},
            )
            for kind, m in (("broadcast", margin), ("reply", reply_margin))
        }
        self._pace = r.register_script(PACE)
        self._pause = r.register_script(PAUSE)

    def try_acquire(self, channel: str, chat: str | None = None) -> float:
        """Admit one broadcast send now (0.0, recorded) or say how many seconds to wait first.

        Broadcasts take only what replies leave: while a reply waits, this waits. Nothing is
        recorded when a wait is returned; the wait is a lower bound, since another process
        may take the slot first.
        """
        return self._run(channel, chat, "broadcast")

    def acquire(self, channel: str, chat: str | None = None, timeout: float = 30.0) -> bool:
        """Wait up to ``timeout`` seconds for a broadcast slot and take it; False if none came."""
        return self._wait(lambda: self.try_acquire(channel, chat), timeout)

    def admit_reply(
        self, channel: str, chat: str | None, wrote_at: float, timeout: float = 15.0
    ) -> float:
        """Wait for a reply's turn and take it: 0.0 once admitted, else (after ``timeout``)
        the seconds still to wait, with nothing taken.

        Replies go first come, by when the person wrote (``wrote_at``, unix seconds), before
        any broadcast, within the channel's limit and the chat's own. A reply that must wait
        for its chat's limit steps out of the line meanwhile, so nobody waits behind it.
        """
        ticket = secrets.token_hex(8)
        place = str(round(wrote_at * 1_000_000))
        deadline = time.monotonic() + timeout
        while True:
            wait = self._run(channel, chat, ticket, place)
            if wait == 0.0:
                return 0.0
            if time.monotonic() + wait > deadline:  # not worth holding a worker: leave the line
                pipe = self.r.pipeline(transaction=False)
                pipe.zrem(LINE(self.prefix, channel=channel), ticket)
                pipe.zrem(LINE_SEEN(self.prefix, channel=channel), ticket)
                pipe.execute()
                return wait
            time.sleep(min(wait, MAX_SLEEP))

    def record(self, channel: str, chat: str | None = None) -> None:
        """Log a send made regardless of the limits: others then wait for the room it used."""
        self._run(channel, chat, "record")

    def pause(self, channel: str, seconds: float) -> None:
        """The platform said to wait (a 429's ``retry_after``): nothing goes on the channel,
        reply or broadcast, from any process, until then."""
        if channel in self._windows["reply"][0] and seconds > 0:
            self._pause(
                keys=[PAUSE_KEY(self.prefix, channel=channel)], args=[math.ceil(seconds * 1000)]
            )

    def _wait(self, attempt: Callable[[], float], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            wait = attempt()
            if wait == 0.0:
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            # Even when the wait exceeds the time left, spend the time: callers that retry
            # acquire() in a loop would otherwise spin on Redis.
            time.sleep(min(wait, MAX_SLEEP, left))

    def _run(self, channel: str, chat: str | None, mode: str, place: str = "0") -> float:
        channels, chats = self._windows["broadcast" if mode in MODES else "reply"]
        paced = channels.get(channel)
        if paced is None:
            return 0.0
        p = self.prefix
        keys = [PAUSE_KEY(p, channel=channel), LINE(p, channel=channel),
                LINE_SEEN(p, channel=channel), PACE_KEY(p, channel=channel)]  # fmt: skip
        args: list[str | int] = [mode, place, STALE_US, secrets.token_hex(8), *paced]
        per_chat = chats.get(channel)
        if chat is not None and per_chat is not None:
            who = hid(self.secret, f"{channel}:{chat}")  # no chat id in a key name
            keys.append(PACE_CHAT(p, channel=channel, hid=who))
            args += per_chat
        return int(self._pace(keys=keys, args=args)) / 1_000_000
