"""Standby: people waiting for a place at full rooms, and freed places held for them.

When every room near someone is full for their times, they may join the standby lists of
the nearest target rooms (one sorted set per room and shift, scored by distance). When a
place frees up, ``offer`` holds it for the nearest person on that list who can be told:
the place counts as taken (``pledged``) while they answer, so nobody else can have it,
and the hold records until when. ``take`` turns the hold into their pledge if it has not
run out; ``drop`` gives it back (NO, silence, STOP), for the next person. Each is one
script, so a place is never held twice or taken after its hold ran out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import redis

from bot import daytime
from bot.store import keys

Pair = tuple[str, str]  # (room id, shift id)

OFFER = """
-- KEYS: 1 pledged, 2 holds, 3 standby:<room>:<shift>, 4 pledge, 5 lastin, 6 unreachable,
--       7 waiting
-- ARGV: 1 room, 2 shift, 3 capacity, 4 hold until (unix s), 5 a WhatsApp reply window
--       must have opened after this (unix s)
-- Hold the place for the nearest person on the list who is free to take it and can be
-- told. Returns {address, km}, or false when the shift is full or nobody can have it.
local field = ARGV[1] .. '|' .. ARGV[2]
if tonumber(redis.call('HGET', KEYS[1], field) or '0') >= tonumber(ARGV[3]) then
  return false
end
local list = redis.call('ZRANGE', KEYS[3], 0, 99, 'WITHSCORES')
for i = 1, #list, 2 do
  local who = list[i]
  if redis.call('HEXISTS', KEYS[4], who) == 1 or redis.call('HEXISTS', KEYS[6], who) == 1 then
    redis.call('ZREM', KEYS[3], who)  -- pledged since, or cannot be messaged: off the list
  elseif redis.call('HEXISTS', KEYS[2], who) == 0 then  -- one hold at a time
    local reachable = true
    if string.sub(who, 1, 9) == 'whatsapp:' then  -- free text only inside their window
      reachable = tonumber(redis.call('HGET', KEYS[5], who) or '0') > tonumber(ARGV[5])
    end
    if reachable then
      redis.call('ZREM', KEYS[3], who)  -- asked once for this list: NO passes it on
      redis.call('HINCRBY', KEYS[1], field, 1)
      redis.call('HSET', KEYS[2], who, field .. '|' .. ARGV[4])
      if redis.call('ZCARD', KEYS[3]) == 0 then redis.call('SREM', KEYS[7], field) end
      return {who, list[i + 1]}
    end
  end
end
if redis.call('ZCARD', KEYS[3]) == 0 then redis.call('SREM', KEYS[7], field) end
return false
"""

TAKE = """
-- KEYS: 1 holds, 2 pledge, 3 timeline, 4 roster:<room>. ARGV: 1 address, 2 room|shift,
-- 3 now (unix s),
-- 4 this hour (unix). The held place becomes their pledge if the hold is for it and has
-- not run out (it is already counted taken). Returns 1 taken, 0 not.
local held = redis.call('HGET', KEYS[1], ARGV[1])
if not held or string.sub(held, 1, #ARGV[2] + 1) ~= ARGV[2] .. '|' then return 0 end
if tonumber(string.match(held, '|([^|]*)$')) < tonumber(ARGV[3]) then return 0 end
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then return 0 end  -- never two pledges
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[4], ARGV[1], '')
redis.call('HINCRBY', KEYS[3], 'pledged|' .. ARGV[4], 1)
return 1
"""

DROP = """
-- KEYS: 1 pledged, 2 holds. ARGV: 1 address, 2 the hold it must be ('' any), as
-- room|shift| or the whole room|shift|until. Give the held place back; returns the
-- room|shift freed, or false.
local held = redis.call('HGET', KEYS[2], ARGV[1])
if not held or string.sub(held, 1, #ARGV[2]) ~= ARGV[2] then return false end
local field = string.match(held, '^(.*)|[^|]*$')
redis.call('HINCRBY', KEYS[1], field, -1)
redis.call('HDEL', KEYS[2], ARGV[1])
return field
"""


def _pair(field: bytes | str) -> Pair:
    room, shift = (field.decode() if isinstance(field, bytes) else field).split("|", 1)
    return room, shift


class Standby:
    """Standby lists and held places."""

    def __init__(self, r: redis.Redis, prefix: str) -> None:
        self.r, self.p = r, prefix
        self._offer = r.register_script(OFFER)
        self._take = r.register_script(TAKE)
        self._drop = r.register_script(DROP)

    def join(self, address: str, lists: Iterable[tuple[str, str, float]]) -> None:
        """Put a person on the lists of these (room, shift, km), and only these."""
        self.leave_lists(address)
        lists = list(lists)
        if not lists:
            return
        pipe = self.r.pipeline(transaction=True)
        for room, shift, km in lists:
            pipe.zadd(keys.STANDBY(self.p, room=room, shift=shift), {address: km})
            pipe.sadd(keys.WAITING(self.p), f"{room}|{shift}")
        mine = ",".join(f"{room}|{shift}" for room, shift, _ in lists)
        pipe.hset(keys.STANDING(self.p), address, mine)
        pipe.execute()

    def lists_of(self, address: str) -> list[Pair]:
        """The (room, shift) lists a person is on."""
        raw = self.r.hget(keys.STANDING(self.p), address)
        return [_pair(f) for f in raw.decode().split(",")] if raw else []

    def leave_lists(self, address: str) -> None:
        """Off every list (a hold stays: see ``leave``)."""
        mine = self.lists_of(address)
        pipe = self.r.pipeline(transaction=True)
        for room, shift in mine:
            pipe.zrem(keys.STANDBY(self.p, room=room, shift=shift), address)
        pipe.hdel(keys.STANDING(self.p), address)
        pipe.execute()

    def leave(self, address: str) -> list[Pair]:
        """Off every list, and any place held for them given back; the places freed."""
        self.leave_lists(address)
        freed = self.drop(address)
        return [freed] if freed else []

    def offer(
        self, room: str, shift: str, capacity: int, until: float, window_after: float
    ) -> tuple[str, float] | None:
        """Hold a free place at (room, shift) for the nearest person on its list who can
        take it: (their address, km), or None when it is full or nobody can."""
        p = self.p
        k = [keys.PLEDGED(p), keys.HOLDS(p), keys.STANDBY(p, room=room, shift=shift),
             keys.PLEDGE(p), keys.LASTIN(p), keys.UNREACHABLE(p), keys.WAITING(p)]  # fmt: skip
        got = self._offer(keys=k, args=[room, shift, capacity, int(until), window_after])
        return (got[0].decode(), float(got[1])) if got else None

    def take(self, address: str, room: str, shift: str, now: float | None = None) -> bool:
        """The place held for them becomes their pledge; False if the hold ran out or went."""
        now = daytime.now() if now is None else now
        k = [keys.HOLDS(self.p), keys.PLEDGE(self.p), keys.TIMELINE(self.p),
             keys.ROSTER(self.p, room=room)]  # fmt: skip
        return bool(self._take(keys=k, args=[address, f"{room}|{shift}", now, int(now // 3600)]))

    def drop(self, address: str, room: str = "", shift: str = "") -> Pair | None:
        """Give back the place held for them (only if it is at ``room`` and ``shift``, when
        given); the (room, shift) freed."""
        expect = f"{room}|{shift}|" if room else ""
        freed = self._drop(keys=[keys.PLEDGED(self.p), keys.HOLDS(self.p)], args=[address, expect])
        return _pair(freed) if freed else None

    def held(self) -> dict[str, tuple[str, str, float]]:
        """Every hold: address -> (room, shift, until)."""
        out = {}
        for who, raw in self.r.hgetall(keys.HOLDS(self.p)).items():
            room, shift, until = raw.decode().split("|")
            out[who.decode()] = (room, shift, float(until))
        return out

    def expire(self, now: float) -> list[Pair]:
        """Give back every hold that ran out by ``now``; the places freed."""
        freed = []
        for who, (room, shift, until) in self.held().items():
            if until < now:
                whole = f"{room}|{shift}|{until:.0f}"  # as stored: whole seconds
                if got := self._drop(keys=[keys.PLEDGED(self.p), keys.HOLDS(self.p)],
                                     args=[who, whole]):  # fmt: skip
                    freed.append(_pair(got))
        return freed

    def waiting(self) -> list[Pair]:
        """The (room, shift) lists anyone is on."""
        return sorted(_pair(f) for f in self.r.smembers(keys.WAITING(self.p)))

    def sizes(self, pairs: Sequence[Pair]) -> list[int]:
        """How many are waiting on each list."""
        pipe = self.r.pipeline(transaction=False)
        for room, shift in pairs:
            pipe.zcard(keys.STANDBY(self.p, room=room, shift=shift))
        return [int(n) for n in pipe.execute()]

    def mark_look(self, ttl: float) -> bool:
        """Claim this look at the lists and holds (one per ``ttl`` s across all workers)."""
        px = max(1, int(ttl * 1000))
        return bool(self.r.set(keys.STANDBY_LOOK(self.p), "1", nx=True, px=px))
