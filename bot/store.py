"""Every Redis key of the app, behind named functions, under one key prefix.

Keys (``pd`` is the default prefix):
  pd:conv:<address>        the Conversation as JSON
  pd:inbox:<address>       list of queued Inbound JSON, drained in order by one worker
  pd:sched:<address>       set while a drain job for the address is queued (short TTL)
  pd:lock:<address>        held by the worker draining that address
  pd:ready, pd:drainers    people with messages waiting; drainer jobs running
  pd:quota:<id>:<minute>   messages from one sender this minute (flood quota), kept 2 min
  pd:delivered:<day>       hash of deliveries accepted that day, by a 96-bit digest of
                           update_id / MessageSid; today's and yesterday's are checked, so
                           a retry within 24 h is caught; one short field costs far less
                           than a key of its own
  pd:pledged               hash "<room>|<shift>" -> places taken
  pd:pledge                hash address -> "<room>|<shift>,<shift>"
  pd:codes                 hash referral code -> sharer address (codes derive from addresses)
  pd:referrals             hash sharer address -> people brought in
  pd:unreachable           hash address -> reason (blocked, opted out at the platform)
  Suppression records, kept on DELETE and by the purge, by a one-way id of the address
  (the first 128 bits of its SHA-256, hex):
  pd:seen                  set of ids ever seen (a referral is credited once)
  pd:stopped               set of ids that said STOP and not START since
  pd:consent               hash id -> "granted|unix time|channel|wording version" (the evidence)
  pd:rooms, pd:targets     the organiser's catalogue: room id -> Room JSON, seat key -> priority
  pd:catalog:version       bumped on every import, so workers reload
  pd:people                set of addresses with a conversation (for broadcast audiences)
  pd:consented             set of addresses that agreed to polling-day updates
  pd:lastin                hash address -> time of their last message (a channel's reply window)
  pd:supporters            hash channel -> people with a conversation
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Sequence

import redis

from bot.model.person import Consent, Conversation, Pledge
from bot.rooms import Room

SEEN_TTL = 3 * 24 * 3600  # a day's deliveries are checked the next day too, then go
SCHED_TTL = 60  # a lost drain job heals itself after this long
DRAINERS = 8  # drainer jobs at once: enough to keep every worker process busy
DRAINERS_TTL = 30  # a drainer count left by killed workers resets itself after this long
LOCK_TTL_MS = 60_000  # longer than one turn can take (its sends are capped at ~25 s)
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: codes get read aloud

# Lua shared by INGEST and RESCUE: put a person on the ready list unless a drain is already
# pending for them (0); ask for a new drainer job (2) only while fewer than `most` run,
# else 1.
MAKE_READY = """
local function make_ready(sched, sched_ttl, ready, address, drainers, most, drainers_ttl)
  if not redis.call('SET', sched, '1', 'NX', 'EX', sched_ttl) then return 0 end
  redis.call('RPUSH', ready, address)
  if tonumber(redis.call('GET', drainers) or '0') < tonumber(most) then
    redis.call('INCR', drainers)
    redis.call('EXPIRE', drainers, drainers_ttl)
    return 2
  end
  return 1
end
"""

# Queue a message unless this delivery was seen. When the person has no drain pending,
# put them on the ready list; ask for a new drainer job (2) only while fewer than
# ARGV[6] are running, so a busy minute costs a handful of RQ jobs, not one per message.
# A repeated delivery queues nothing, but if messages wait and nobody is on it (queueing
# the job failed the first time, so the platform retried) it does the same.
INGEST = (
    MAKE_READY
    + """
local fresh = redis.call('HEXISTS', KEYS[8], ARGV[9]) == 0
  and redis.call('HSETNX', KEYS[1], ARGV[9], '') == 1
if fresh then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
if fresh and ARGV[8] ~= '0' then
  -- One sender flooding: beyond the quota in this minute, quietly dropped.
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
if make_ready(KEYS[3], ARGV[3], KEYS[5], ARGV[5], KEYS[6], ARGV[6], ARGV[7]) == 2 then
  return 2
end
return fresh and 1 or 0
"""
)

# A drainer takes the next ready person, or, when there is none, stops being counted
# (in one step, so a person made ready meanwhile is never left without a drainer).
NEXT_READY = """
local address = redis.call('LPOP', KEYS[1])
if address then
  redis.call('EXPIRE', KEYS[2], ARGV[1])
  return address
end
if tonumber(redis.call('GET', KEYS[2]) or '0') > 0 then redis.call('DECR', KEYS[2]) end
return false
"""

# Put a person whose messages wait with nobody draining them (no lock, no drain pending:
# their worker was killed mid-turn) back on the ready list; 2 when a drainer job must be
# started, as for INGEST.
RESCUE = (
    MAKE_READY
    + """
if redis.call('LLEN', KEYS[1]) == 0 or redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
return make_ready(KEYS[3], ARGV[2], KEYS[4], ARGV[1], KEYS[5], ARGV[3], ARGV[4])
"""
)

# Take the places for a pledge, moving any earlier pledge of the same person; all or nothing.
RESERVE = """
local old = redis.call('HGET', KEYS[2], ARGV[1])
local mine = {}
if old then
  local room, shifts = string.match(old, '^(.-)|(.*)$')
  for s in string.gmatch(shifts, '[^,]+') do mine[room .. '|' .. s] = true end
end
local n = tonumber(ARGV[3])
for i = 0, n - 1 do
  local field = ARGV[2] .. '|' .. ARGV[4 + 2 * i]
  local used = tonumber(redis.call('HGET', KEYS[1], field) or '0')
  if mine[field] then used = used - 1 end
  if used >= tonumber(ARGV[5 + 2 * i]) then return 0 end
end
for field, _ in pairs(mine) do redis.call('HINCRBY', KEYS[1], field, -1) end
local taken = {}
for i = 0, n - 1 do
  redis.call('HINCRBY', KEYS[1], ARGV[2] .. '|' .. ARGV[4 + 2 * i], 1)
  taken[#taken + 1] = ARGV[4 + 2 * i]
end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2] .. '|' .. table.concat(taken, ','))
return 1
"""

RELEASE = """
local old = redis.call('HGET', KEYS[2], ARGV[1])
if not old then return 0 end
local room, shifts = string.match(old, '^(.-)|(.*)$')
for s in string.gmatch(shifts, '[^,]+') do redis.call('HINCRBY', KEYS[1], room .. '|' .. s, -1) end
redis.call('HDEL', KEYS[2], ARGV[1])
return 1
"""

# Mark an address seen; credit the sharer only the first time it is ever seen.
FIRST_CONTACT = """
if redis.call('SADD', KEYS[1], ARGV[2]) == 0 then return -1 end
if ARGV[1] == '' then return -1 end
return redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
"""

# Release the lock if it is still ours; how many messages wait in the inbox now.
UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return redis.call('LLEN', KEYS[2])
"""

KEEP_LOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""

# Drop the oldest message only if it is the one just handled.
POP_IF = """
if redis.call('LINDEX', KEYS[1], 0) == ARGV[1] then redis.call('LPOP', KEYS[1]) return 1 end
return 0
"""

# Save a turn's conversation with the indexes that go with it, all at once.
SAVE_TURN = """
redis.call('SET', KEYS[1], ARGV[1])
if ARGV[2] == '1' and redis.call('SADD', KEYS[2], ARGV[4]) == 1 then
  redis.call('HINCRBY', KEYS[3], ARGV[5], 1)
end
if ARGV[3] ~= '' then
  if string.sub(ARGV[3], 1, 1) == '1' then
    redis.call('SADD', KEYS[4], ARGV[4])
  else
    redis.call('SREM', KEYS[4], ARGV[4])
  end
  redis.call('HSET', KEYS[5], ARGV[6], ARGV[3])
end
return 1
"""


class Store:
    """Named operations on the app's Redis keys."""

    def __init__(self, r: redis.Redis, prefix: str = "pd") -> None:
        self.r, self.p = r, prefix
        self._ingest = r.register_script(INGEST)
        self._next_ready = r.register_script(NEXT_READY)
        self._rescue = r.register_script(RESCUE)
        self._reserve = r.register_script(RESERVE)
        self._release = r.register_script(RELEASE)
        self._first = r.register_script(FIRST_CONTACT)
        self._unlock = r.register_script(UNLOCK)
        self._keep_lock = r.register_script(KEEP_LOCK)
        self._pop_if = r.register_script(POP_IF)
        self._save_turn = r.register_script(SAVE_TURN)

    def key(self, *parts: str) -> str:
        """A key under the app prefix."""
        return ":".join((self.p, *parts))

    # --- inbound queue -------------------------------------------------------------
    def ingest(
        self,
        dedupe: str,
        address: str,
        payload: str,
        received_at: float = 0.0,
        quota: int = 0,
    ) -> int:
        """Queue one inbound message: 0 duplicate or over the sender's ``quota`` of messages
        a minute (0: no quota), 1 queued, 2 queued and a drainer job must be started. A
        person's message (``received_at`` set) also opens their reply window."""
        day = int(time.time() // 86400)
        keys = [
            self.key("delivered", str(day)),
            self.key("inbox", address),
            self.key("sched", address),
            self.key("lastin"),
            self.key("ready"),
            self.key("drainers"),
            self.key("quota", person_id(address), str(int(time.time() // 60))),
            self.key("delivered", str(day - 1)),
        ]
        at = f"{received_at:.0f}" if received_at else ""
        seen = hashlib.blake2b(dedupe.encode(), digest_size=12).digest()  # 12 bytes, not ~40
        args = [SEEN_TTL, payload, SCHED_TTL, at, address, DRAINERS, DRAINERS_TTL, quota, seen]
        return int(self._ingest(keys=keys, args=args))

    def take_ready(self, wait: float = 0.0) -> str | None:
        """The next person with messages waiting, waiting up to ``wait`` seconds for one;
        None if there is none. This drainer stays counted (and its count is kept alive)."""
        pipe = self.r.pipeline(transaction=False)
        if wait > 0:
            pipe.blpop([self.key("ready")], timeout=wait)  # EXPIRE runs once it returns
        else:
            pipe.lpop(self.key("ready"))
        pipe.expire(self.key("drainers"), DRAINERS_TTL)
        popped = pipe.execute()[0]
        if isinstance(popped, list | tuple):
            popped = popped[1]
        return popped.decode() if popped else None

    def next_ready(self) -> str | None:
        """The next person with messages waiting, or None (and this drainer is uncounted)."""
        keys = [self.key("ready"), self.key("drainers")]
        address = self._next_ready(keys=keys, args=[DRAINERS_TTL])
        return address.decode() if address else None

    def rescue_stranded(self) -> tuple[int, int]:
        """Put people whose queued messages nobody is draining back on the ready list:
        (how many, how many drainer jobs to start)."""
        rescued = drainers = 0
        prefix = self.key("inbox", "")
        for key in self.r.scan_iter(prefix + "*", count=1000):
            address = key.decode().removeprefix(prefix)
            keys = [key, self.key("lock", address), self.key("sched", address)]
            keys += [self.key("ready"), self.key("drainers")]
            result = self._rescue(keys=keys, args=[address, SCHED_TTL, DRAINERS, DRAINERS_TTL])
            rescued, drainers = rescued + (result > 0), drainers + (result == 2)
        return rescued, drainers

    def ready_count(self) -> int:
        """People with messages waiting for a drainer."""
        return int(self.r.llen(self.key("ready")))

    def last_inbound(self, address: str) -> float | None:
        """When this person last wrote to us (unix time)."""
        raw = self.r.hget(self.key("lastin"), address)
        return float(raw) if raw else None

    def pop_inbox(self, address: str, raw: bytes) -> bool:
        """Drop the oldest message if it is ``raw``: its turn has been saved."""
        return bool(self._pop_if(keys=[self.key("inbox", address)], args=[raw]))

    def clear_scheduled(self, address: str) -> None:
        """A drain job has started: the next message must queue a new one."""
        self.r.delete(self.key("sched", address))

    def keep_lock(self, address: str, token: str, ttl_ms: int = LOCK_TTL_MS) -> bool:
        """Extend the lock before the next turn; False if it expired and is no longer ours."""
        return bool(self._keep_lock(keys=[self.key("lock", address)], args=[token, ttl_ms]))

    def take_inbox(
        self, address: str, limit: int, first: bool = False
    ) -> tuple[str | None, list[bytes]]:
        """Take the per-address lock and read the oldest ``limit`` queued messages (left in
        place until each is handled), in one round trip; ``first`` (a drain job has just
        started) also clears the scheduled mark, so the next message queues a new job.
        (None, []) if someone else holds the lock."""
        token = secrets.token_hex(8)
        pipe = self.r.pipeline(transaction=False)
        if first:
            pipe.delete(self.key("sched", address))
        pipe.set(self.key("lock", address), token, nx=True, px=LOCK_TTL_MS)
        pipe.lrange(self.key("inbox", address), 0, limit - 1)
        *_, locked, batch = pipe.execute()
        return (token, batch) if locked else (None, [])

    def unlock(self, address: str, token: str) -> int:
        """Release the lock if it is still ours; how many messages wait in the inbox now."""
        keys = [self.key("lock", address), self.key("inbox", address)]
        return int(self._unlock(keys=keys, args=[token]))

    def lock_ttl_ms(self, address: str) -> int:
        """Milliseconds until the lock expires (<= 0 when free)."""
        return int(self.r.pttl(self.key("lock", address)))

    # --- conversations ---------------------------------------------------------------
    def load(self, address: str, wrote: bool = False) -> Conversation | None:
        """The stored conversation, if any. ``wrote``: the person has just written to us,
        so they can be reached again (cleared in the same round trip)."""
        if not wrote:
            raw = self.r.get(self.key("conv", address))
        else:
            pipe = self.r.pipeline(transaction=False)
            pipe.get(self.key("conv", address))
            pipe.hdel(self.key("unreachable"), address)
            raw = pipe.execute()[0]
        return Conversation.from_json(address, raw) if raw else None

    def save(
        self, conv: Conversation, new_person: bool = False, consent: Consent | None = None
    ) -> None:
        """Store the conversation; a new person joins the people index, and a consent
        answer updates the set broadcasts draw on and the evidence in the suppression
        record (which outlives DELETE). All in one step."""
        a = conv.address
        keys = [
            self.key("conv", a),
            self.key("people"),
            self.key("supporters"),
            self.key("consented"),
            self.key("consent"),
        ]
        evidence = (
            f"{int(consent.granted)}|{consent.at}|{consent.channel}|{consent.version}"
            if consent
            else ""
        )
        args = [conv.to_json(), "1" if new_person else "0", evidence, a, conv.channel, person_id(a)]
        self._save_turn(keys=keys, args=args)

    # --- places ----------------------------------------------------------------------
    def places_taken(self, pairs: Sequence[tuple[str, str]]) -> list[int]:
        """Places taken for each (room, shift)."""
        if not pairs:
            return []
        fields = [f"{room}|{shift}" for room, shift in pairs]
        return [int(v or 0) for v in self.r.hmget(self.key("pledged"), fields)]

    def reserve(self, address: str, pledge: Pledge, capacities: Sequence[int]) -> bool:
        """Take one place per shift at the room, atomically; False if any is full."""
        args: list[str | int] = [address, pledge.room_id, len(pledge.shifts)]
        for shift, cap in zip(pledge.shifts, capacities, strict=True):
            args += [shift, cap]
        keys = [self.key("pledged"), self.key("pledge")]
        return bool(self._reserve(keys=keys, args=args))

    def release(self, address: str) -> bool:
        """Give back this address's places; False if it had none."""
        keys = [self.key("pledged"), self.key("pledge")]
        return bool(self._release(keys=keys, args=[address]))

    def pledge_of(self, address: str) -> str | None:
        """The stored ``room|shift,shift`` for an address."""
        raw = self.r.hget(self.key("pledge"), address)
        return raw.decode() if raw else None

    # --- referrals and suppression ---------------------------------------------------
    def new_code(self, address: str) -> str:
        """This address's referral code: derived from the address (so nothing more need be
        stored to find it again), with a next candidate on the rare clash."""
        for code in _codes(address):
            if self.r.hsetnx(self.key("codes"), code, address):
                return code
            if self.r.hget(self.key("codes"), code) == address.encode():
                return code
        raise RuntimeError("no free referral code")  # 2**40 codes: not in this universe

    def _code_of(self, address: str) -> str | None:
        raw = self.r.hmget(self.key("codes"), list(_codes(address)))
        return next(
            (c for c, a in zip(_codes(address), raw, strict=True) if a == address.encode()), None
        )

    def sharer_of(self, code: str) -> str | None:
        """The address behind a referral code."""
        raw = self.r.hget(self.key("codes"), code.upper())
        return raw.decode() if raw else None

    def first_contact(self, address: str, sharer: str | None) -> int | None:
        """Mark the address seen; credit the sharer if it had never been seen. New total."""
        keys = [self.key("seen"), self.key("referrals")]
        count = int(self._first(keys=keys, args=[sharer or "", person_id(address)]))
        return None if count < 0 else count

    def referral_counts(self) -> dict[str, int]:
        """Every sharer and how many people they brought in."""
        raw = self.r.hgetall(self.key("referrals"))
        return {k.decode(): int(v) for k, v in raw.items()}

    def set_stopped(self, address: str, stopped: bool) -> None:
        """Record STOP (or START) in the suppression record."""
        pipe = self.r.pipeline()
        pipe.sadd(self.key("seen"), person_id(address))
        (pipe.sadd if stopped else pipe.srem)(self.key("stopped"), person_id(address))
        pipe.execute()

    def was_stopped(self, address: str) -> bool:
        """True while the suppression record says STOP."""
        return bool(self.r.sismember(self.key("stopped"), person_id(address)))

    def close_window(self, address: str) -> None:
        """Forget when they last wrote (someone we keep nothing else about)."""
        self.r.hdel(self.key("lastin"), address)

    def mark_unreachable(self, address: str, reason: str) -> None:
        """The platform says this person cannot be messaged (blocked, opted out)."""
        self.r.hset(self.key("unreachable"), address, f"{reason}@{int(time.time())}")

    def unreachable(self, address: str) -> str | None:
        """Why this address cannot be reached, if so."""
        raw = self.r.hget(self.key("unreachable"), address)
        return raw.decode() if raw else None

    # --- the organiser's catalogue --------------------------------------------------
    def catalog_version(self) -> int:
        """Bumped by every import; 0 when nothing was ever imported."""
        return int(self.r.get(self.key("catalog", "version")) or 0)

    def load_catalog(self) -> tuple[list[Room], dict[str, int]]:
        """Every room and target seat."""
        pipe = self.r.pipeline()
        pipe.hgetall(self.key("rooms"))
        pipe.hgetall(self.key("targets"))
        rooms, targets = pipe.execute()
        return (
            [Room.from_json(v) for v in rooms.values()],
            {k.decode(): int(v) for k, v in targets.items()},
        )

    def replace_rooms(self, rooms: Sequence[Room]) -> None:
        """Swap in a new set of rooms in one transaction."""
        self.replace_rooms_unless_pledged(rooms, set(), force=True)

    def replace_rooms_unless_pledged(
        self, rooms: Sequence[Room], gone: set[str], force: bool
    ) -> dict[str, tuple[str, tuple[str, ...]]]:
        """Swap in the rooms unless someone is pledged to a room in ``gone`` (and not
        ``force``), checked and done atomically (WATCH); returns the pledges it saw."""
        with self.r.pipeline(transaction=True) as pipe:
            while True:
                try:
                    pipe.watch(self.key("pledge"))
                    pledges = {
                        a.decode(): _pledge(raw)
                        for a, raw in pipe.hgetall(self.key("pledge")).items()
                    }
                    if not force and any(room in gone for room, _ in pledges.values()):
                        pipe.unwatch()
                        return pledges
                    pipe.multi()
                    pipe.delete(self.key("rooms"))
                    if rooms:
                        pipe.hset(self.key("rooms"), mapping={r.id: r.to_json() for r in rooms})
                    pipe.incr(self.key("catalog", "version"))
                    pipe.execute()
                    return pledges
                except redis.WatchError:
                    continue  # someone pledged meanwhile: look again

    def replace_catalog(self, rooms: Sequence[Room], targets: dict[str, int]) -> None:
        """Rooms and targets together, in one transaction."""
        pipe = self.r.pipeline(transaction=True)
        pipe.delete(self.key("rooms"), self.key("targets"))
        if rooms:
            pipe.hset(self.key("rooms"), mapping={r.id: r.to_json() for r in rooms})
        if targets:
            pipe.hset(self.key("targets"), mapping=targets)
        pipe.incr(self.key("catalog", "version"))
        pipe.execute()

    def replace_targets(self, targets: dict[str, int]) -> None:
        """Swap in a new set of target seats in one transaction."""
        pipe = self.r.pipeline(transaction=True)
        pipe.delete(self.key("targets"))
        if targets:
            pipe.hset(self.key("targets"), mapping=targets)
        pipe.incr(self.key("catalog", "version"))
        pipe.execute()

    def pledged(self) -> dict[tuple[str, str], int]:
        """Places taken, by (room, shift)."""
        out: dict[tuple[str, str], int] = {}
        for field, n in self.r.hgetall(self.key("pledged")).items():
            room, shift = field.decode().split("|", 1)
            out[(room, shift)] = int(n)
        return out

    def pledges(self) -> dict[str, tuple[str, tuple[str, ...]]]:
        """Every pledge: address -> (room, shifts)."""
        return {a.decode(): _pledge(raw) for a, raw in self.r.hscan_iter(self.key("pledge"))}

    # --- people ------------------------------------------------------------------------
    def has_consent(self, address: str) -> bool:
        """Agreed to polling-day updates."""
        return bool(self.r.sismember(self.key("consented"), address))

    def supporters_by_channel(self) -> dict[str, int]:
        """How many people have a conversation, per channel."""
        return {k.decode(): int(v) for k, v in self.r.hgetall(self.key("supporters")).items()}

    def erase(self, address: str) -> None:
        """Delete everything about an address except its suppression record."""
        code = self._code_of(address)
        self.release(address)
        pipe = self.r.pipeline()
        if code:
            pipe.hdel(self.key("codes"), code)
        pipe.delete(self.key("conv", address))
        pipe.hdel(self.key("referrals"), address)
        pipe.hdel(self.key("unreachable"), address)
        pipe.hdel(self.key("lastin"), address)
        pipe.srem(self.key("consented"), address)
        pipe.sadd(self.key("seen"), person_id(address))
        pipe.execute()
        if self.r.srem(self.key("people"), address):
            self.r.hincrby(self.key("supporters"), address.split(":", 1)[0], -1)


def _pledge(raw: bytes) -> tuple[str, tuple[str, ...]]:
    room, shifts = raw.decode().split("|", 1)
    return room, tuple(shifts.split(","))


def person_id(address: str) -> str:
    """The one-way id suppression records use: 128 bits of SHA-256, enough to never collide."""
    return hashlib.sha256(address.encode()).hexdigest()[:32]


def _codes(address: str, tries: int = 5) -> list[str]:
    """Candidate referral codes for an address: 8 characters of its SHA-256 (40 bits)."""
    out = []
    for i in range(tries):
        n = int.from_bytes(hashlib.sha256(f"{i}:{address}".encode()).digest()[:5], "big")
        out.append("".join(CODE_ALPHABET[(n >> (5 * k)) & 31] for k in range(8)))
    return out
