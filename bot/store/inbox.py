"""The inbound queue: dedupe, flood quota, each person's inbox, the ready lists, the lock.

A webhook is one Lua call (INGEST). A person with messages waiting is on their channel's
ready list (a lane) once; drainer jobs take people off the lanes and hold a per-person lock
while they work through that person's inbox in order. A message leaves the inbox only after
its turn is saved. The web process never talks to RQ: when a drainer is needed, the script
itself asks the workers for one on the JOBS list (see bot/store/jobs.py).

A lane per channel because each platform has its own send limit: in a surge, people on a
channel at its limit wait for their replies' turn, and with one shared list they took every
drainer thread while people on a channel with room waited behind them (WhatsApp ran at 0.7
of its limit beside a full Telegram). Drainers cap the threads each lane may hold.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable, Iterable

import redis

from bot.model.message import Inbound
from bot.store import keys
from bot.store.jobs import DRAIN_READY

SCHED_TTL = keys.SCHED.ttl or 60  # a lost drain heals itself after this long
DRAINERS = 8  # drainer jobs at once: enough to keep every worker process busy
DRAINERS_TTL = keys.DRAINERS.ttl or 30  # a count left by killed workers resets itself
LOCK_TTL_MS = 60_000  # longer than one turn can take (its sends are capped at ~25 s)
# The address channels (bot/channels: each platform's `capabilities`), and a lane for any
# other, so that no address is ever queued where no drainer looks.
LANES = ("telegram", "whatsapp", "sms", "console", "other")


def lane(address: str) -> str:
    """The ready list an address waits on: its channel's."""
    channel = address.split(":", 1)[0]
    return channel if channel in LANES else LANES[-1]


# Put a person on the ready list unless a drain is already pending for them (0); ask the
# workers for a new drainer (2) only while fewer than `most` run, else 1. `front`: someone
# who has waited already (a held-back reply, a reminder come due, a rescued turn) goes
# before those who wrote since, as the send pacer's line orders them too.
MAKE_READY = """
local function ask_drainer(drainers, most, drainers_ttl, jobs, job)
  if tonumber(redis.call('GET', drainers) or '0') < tonumber(most) then
    redis.call('INCR', drainers)
    redis.call('EXPIRE', drainers, drainers_ttl)
    redis.call('RPUSH', jobs, job)
    return 2
  end
  return 1
end

local function make_ready(sched, sched_ttl, ready, address, drainers, most, drainers_ttl,
                          jobs, job, front)
  if not redis.call('SET', sched, '1', 'NX', 'EX', sched_ttl) then return 0 end
  redis.call(front and 'LPUSH' or 'RPUSH', ready, address)
  return ask_drainer(drainers, most, drainers_ttl, jobs, job)
end
"""

# Queue a message unless this delivery was seen; a sender beyond the quota is dropped.
INGEST = (
    """
-- KEYS: 1 delivered:<today>:<part>, 2 inbox:<address>, 3 sched:<address>, 4 lastin,
--       5 ready:<lane>, 6 drainers, 7 quota:<hid>:<minute>, 8 delivered:<yesterday>:<part>,
--       9 jobs
-- ARGV: 1 dedupe TTL, 2 message JSON, 3 sched TTL, 4 received at ('' : no window),
--       5 address, 6 most drainers, 7 drainers TTL, 8 quota (0: none), 9 delivery digest,
--       10 the drainer job request
-- Returns 0 duplicate/over quota, 1 queued, 2 queued and a drainer was asked for.
"""
    + MAKE_READY
    + """
local fresh = redis.call('HEXISTS', KEYS[8], ARGV[9]) == 0
  and redis.call('HSETNX', KEYS[1], ARGV[9], '') == 1
if fresh then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
if fresh and ARGV[8] ~= '0' then
  local n = redis.call('INCR', KEYS[7])
  if n == 1 then redis.call('EXPIRE', KEYS[7], 120) end
  if n > tonumber(ARGV[8]) then return 0 end
end
if fresh then
  redis.call('RPUSH', KEYS[2], ARGV[2])
  if ARGV[4] ~= '' then redis.call('HSET', KEYS[4], ARGV[5], ARGV[4]) end
elseif redis.call('LLEN', KEYS[2]) == 0 then
  return 0
end
-- A repeated delivery with messages waiting and nobody on them (the platform retried
-- after an error) makes the person ready again, like a fresh one.
if make_ready(KEYS[3], ARGV[3], KEYS[5], ARGV[5], KEYS[6], ARGV[6], ARGV[7],
              KEYS[9], ARGV[10]) == 2 then
  return 2
end
return fresh and 1 or 0
"""
)

NEXT_READY = """
-- KEYS: 1 drainers, 2... the lanes to look at, in order.
-- ARGV: 1 drainers TTL, 2 '1': none ready, so this drainer stops being counted.
-- The next ready person (and this drainer's count is kept alive), or none; stopping is in
-- one step with the last look, so a person made ready meanwhile is never left without one.
for i = 2, #KEYS do
  local address = redis.call('LPOP', KEYS[i])
  if address then
    redis.call('EXPIRE', KEYS[1], ARGV[1])
    return address
  end
end
if ARGV[2] == '1' and tonumber(redis.call('GET', KEYS[1]) or '0') > 0 then
  redis.call('DECR', KEYS[1])
end
return false
"""

RESCUE = (
    """
-- KEYS: 1 inbox:<address>, 2 lock:<address>, 3 sched:<address>, 4 ready:<lane>, 5 drainers,
--       6 jobs
-- ARGV: 1 address, 2 sched TTL, 3 most drainers, 4 drainers TTL, 5 drainer job request,
--       6 '1': on a ready list when they were read, 7 when they were read (Redis ms)
-- Messages waiting with nobody draining them (their worker was killed mid-turn, gave the
-- turn up in a Redis outage, or lost Redis between taking them off the ready list and
-- starting): ready again, at the front, as they wrote before anyone still waiting.
-- Someone still in line keeps their place (never ahead of those who wrote before them),
-- with a drainer asked for if their mark ran out and too few are left. Someone made ready
-- since the lists were read is in line too. Returns as MAKE_READY, or 0: nothing to do.
"""
    + MAKE_READY
    + """
if redis.call('LLEN', KEYS[1]) == 0 or redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
local left = redis.call('PTTL', KEYS[3])
if ARGV[6] == '1' then
  if left > 0 then return 0 end
  redis.call('SET', KEYS[3], '1', 'EX', ARGV[2])
  return ask_drainer(KEYS[5], ARGV[3], ARGV[4], KEYS[6], ARGV[5])
end
if left > 0 then
  local now = redis.call('TIME')
  local marked = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
    - (tonumber(ARGV[2]) * 1000 - left)
  if marked >= tonumber(ARGV[7]) then return 0 end
  redis.call('DEL', KEYS[3])  -- taken off the list and never started: the mark is stale
end
return make_ready(KEYS[3], ARGV[2], KEYS[4], ARGV[1], KEYS[5], ARGV[3], ARGV[4],
                  KEYS[6], ARGV[5], true)
"""
)

UNLOCK = """
-- KEYS: 1 lock:<address>, 2 inbox:<address>. ARGV: 1 lock token.
-- Release the lock if it is still ours; how many messages wait in the inbox now.
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return redis.call('LLEN', KEYS[2])
"""

KEEP_LOCK = """
-- KEYS: 1 lock:<address>. ARGV: 1 lock token, 2 TTL in ms. Extend it only if still ours.
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""

POP_IF = """
-- KEYS: 1 inbox:<address>. ARGV: 1 the message just handled.
-- Drop the oldest message only if it is the one just handled.
if redis.call('LINDEX', KEYS[1], 0) == ARGV[1] then redis.call('LPOP', KEYS[1]) return 1 end
return 0
"""


class Inbox:
    """Queued messages, the ready lists and the per-person lock."""

    def __init__(self, r: redis.Redis, prefix: str, secret: bytes) -> None:
        self.r, self.p, self.secret = r, prefix, secret
        self._ingest = r.register_script(INGEST)
        self._next_ready = r.register_script(NEXT_READY)
        self._rescue = r.register_script(RESCUE)
        self._unlock = r.register_script(UNLOCK)
        self._keep_lock = r.register_script(KEEP_LOCK)
        self._pop_if = r.register_script(POP_IF)

    def ingest(
        self, dedupe: str, address: str, payload: str, received_at: float = 0.0, quota: int = 0
    ) -> int:
        """Queue one inbound message: 0 duplicate or over the sender's ``quota`` of messages
        a minute (0: no quota), 1 queued, 2 queued and a drainer was asked for. A message
        with ``received_at`` also opens the person's reply window."""
        now = time.time()
        day, p = int(now // 86400), self.p
        hid = keys.hid(self.secret, address)
        digest = hashlib.blake2b(dedupe.encode(), digest_size=12).digest()  # not ~40 bytes
        part, seen = digest[:2].hex()[:3], digest[2:]  # 12 bits name the hash, 80 the field
        k = [
            keys.DELIVERED(p, day=day, part=part),
            keys.INBOX(p, address=address),
            keys.SCHED(p, address=address),
            keys.LASTIN(p),
            keys.READY(p, channel=lane(address)),
            keys.DRAINERS(p),
            keys.QUOTA(p, hid=hid, minute=int(now // 60)),
            keys.DELIVERED(p, day=day - 1, part=part),
            keys.JOBS(p),
        ]
        at = f"{received_at:.0f}" if received_at else ""
        args = [keys.DELIVERED.ttl, payload, SCHED_TTL, at, address, DRAINERS, DRAINERS_TTL,
                quota, seen, DRAIN_READY]  # fmt: skip
        return int(self._ingest(keys=k, args=args))

    def accept(
        self,
        messages: Iterable[Inbound],
        quota: int = 0,
        windowed: Callable[[str], bool] = lambda channel: False,
        exempt: Callable[[Inbound], bool] = lambda msg: False,
    ) -> None:
        """Queue inbound messages (dropping repeated deliveries, and a sender's messages
        beyond ``quota`` a minute); a worker is woken through the JOBS list if needed.
        ``windowed(channel)``: that channel has a reply window, so when they wrote is kept.
        ``exempt(msg)``: never dropped by the quota (STOP and DELETE always get through)."""
        for msg in messages:
            at = msg.received_at if windowed(msg.channel) and not msg.event else 0.0
            limit = 0 if msg.event or exempt(msg) else quota
            self.ingest(msg.external_id, msg.address, msg.to_json(), at, limit)

    def take_ready(self, wait: float = 0.0, lanes: Iterable[str] = LANES) -> str | None:
        """The next person with messages waiting on one of ``lanes`` (in that order),
        waiting up to ``wait`` seconds for one; None if there is none. This drainer stays
        counted (and its count is kept alive)."""
        ready = [keys.READY(self.p, channel=name) for name in lanes]
        if wait <= 0:
            return self._take(ready, stop=False)
        pipe = self.r.pipeline(transaction=False)
        pipe.blpop(ready, timeout=wait)
        pipe.expire(keys.DRAINERS(self.p), DRAINERS_TTL)  # runs once the pop returns
        popped = pipe.execute()[0]
        return popped[1].decode() if popped else None

    def next_ready(self) -> str | None:
        """The next person with messages waiting, or None (and this drainer is uncounted)."""
        return self._take([keys.READY(self.p, channel=name) for name in LANES], stop=True)

    def _take(self, ready: list[str], stop: bool) -> str | None:
        k = [keys.DRAINERS(self.p), *ready]
        address = self._next_ready(keys=k, args=[DRAINERS_TTL, "1" if stop else "0"])
        return address.decode() if address else None

    def count_drainer(self) -> None:
        """A drainer job is being started outside INGEST (a worker starting up)."""
        self.r.incr(keys.DRAINERS(self.p))

    def rescue_stranded(self) -> tuple[int, int]:
        """Put people whose queued messages nobody is draining back on their ready list:
        (how many, how many drainers were asked for)."""
        rescued = drainers = 0
        waiting, at = self._in_line()
        head = keys.INBOX(self.p, address="")
        for key in self.r.scan_iter(keys.INBOX.glob(self.p), count=1000):
            address = key.decode().removeprefix(head)
            result = self._rescue_one(address, address in waiting, at)
            rescued, drainers = rescued + (result > 0), drainers + (result == 2)
        return rescued, drainers

    def _in_line(self) -> tuple[set[str], int]:
        """Everyone on a ready list, and when (Redis's clock, ms), read in one step. Read
        once per look because a drainer's blocking pop can change nothing else: someone it
        took just before losing Redis is on no list yet still marked as scheduled."""
        pipe = self.r.pipeline(transaction=True)
        pipe.time()
        for name in LANES:
            pipe.lrange(keys.READY(self.p, channel=name), 0, -1)
        (secs, micros), *lanes = pipe.execute()
        return {a.decode() for lane in lanes for a in lane}, secs * 1000 + micros // 1000

    def _rescue_one(self, address: str, waiting: bool, at: int) -> int:
        k = [keys.INBOX(self.p, address=address), keys.LOCK(self.p, address=address),
             keys.SCHED(self.p, address=address), keys.READY(self.p, channel=lane(address)),
             keys.DRAINERS(self.p), keys.JOBS(self.p)]  # fmt: skip
        args = [address, SCHED_TTL, DRAINERS, DRAINERS_TTL, DRAIN_READY, int(waiting), at]
        return int(self._rescue(keys=k, args=args))

    def mark_rescue(self, ttl: int) -> bool:
        """Claim this look for stranded people (one per ``ttl`` seconds across all
        workers); False if another worker looked more recently."""
        return bool(self.r.set(keys.RESCUE(self.p), "1", nx=True, ex=ttl))

    def nudge(self, address: str) -> bool:
        """Make someone with messages waiting and no drainer ready again (RESCUE for one
        person); True if they were."""
        waiting, at = self._in_line()
        return self._rescue_one(address, address in waiting, at) > 0

    def ready_count(self) -> int:
        """People with messages waiting for a drainer."""
        pipe = self.r.pipeline(transaction=False)
        for name in LANES:
            pipe.llen(keys.READY(self.p, channel=name))
        return sum(pipe.execute())

    def last_inbound(self, address: str) -> float | None:
        """When this person last wrote to us (unix time), if a reply window is kept."""
        raw = self.r.hget(keys.LASTIN(self.p), address)
        return float(raw) if raw else None

    def close_window(self, address: str) -> None:
        """Forget when they last wrote (someone we keep nothing else about)."""
        self.r.hdel(keys.LASTIN(self.p), address)

    def pop(self, address: str, raw: bytes) -> bool:
        """Drop the oldest message if it is ``raw``: its turn has been saved."""
        return bool(self._pop_if(keys=[keys.INBOX(self.p, address=address)], args=[raw]))

    def clear_scheduled(self, address: str) -> None:
        """A drain has started: the next message must make the person ready again."""
        self.r.delete(keys.SCHED(self.p, address=address))

    def keep_lock(self, address: str, token: str, ttl_ms: int = LOCK_TTL_MS) -> bool:
        """Extend the lock before the next turn; False if it expired and is no longer ours."""
        k = [keys.LOCK(self.p, address=address)]
        return bool(self._keep_lock(keys=k, args=[token, ttl_ms]))

    def take(self, address: str, limit: int, first: bool = False) -> tuple[str | None, list[bytes]]:
        """Take the per-address lock and read the oldest ``limit`` queued messages (left in
        place until each is handled), in one round trip; ``first`` (a drain has just
        started) also clears the scheduled mark. (None, []) if someone else holds the lock."""
        token = secrets.token_hex(8)
        pipe = self.r.pipeline(transaction=False)
        if first:
            pipe.delete(keys.SCHED(self.p, address=address))
        pipe.set(keys.LOCK(self.p, address=address), token, nx=True, px=LOCK_TTL_MS)
        pipe.lrange(keys.INBOX(self.p, address=address), 0, limit - 1)
        *_, locked, batch = pipe.execute()
        return (token, batch) if locked else (None, [])

    def unlock(self, address: str, token: str) -> int:
        """Release the lock if it is still ours; how many messages wait in the inbox now."""
        k = [keys.LOCK(self.p, address=address), keys.INBOX(self.p, address=address)]
        return int(self._unlock(keys=k, args=[token]))

    def lock_ttl_ms(self, address: str) -> int:
        """Milliseconds until the lock expires (<= 0 when free)."""
        return int(self.r.pttl(keys.LOCK(self.p, address=address)))
