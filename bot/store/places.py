"""Places: how many are taken per room and shift, and who holds which.

Taking places is one Lua call (RESERVE): every shift of the pledge or none, moving an
earlier pledge of the same person. Taking the same pledge again changes nothing, so a
turn replayed after a crash counts each place once.
"""

from __future__ import annotations

from collections.abc import Sequence

import redis

from bot import daytime
from bot.model.person import Pledge
from bot.store import keys

RESERVE = """
-- KEYS: 1 pledged, 2 pledge, 3 timeline, 4 roster:<room>. ARGV: 1 address, 2 room id,
-- 3 n shifts, then n pairs of (shift id, capacity), then this hour (unix). Returns 1 taken,
-- 0 a shift is full (nothing changed). A first pledge (not a move) is counted in this
-- hour's pledges.
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
redis.call('HSET', KEYS[4], ARGV[1], '')
if not old then redis.call('HINCRBY', KEYS[3], 'pledged|' .. ARGV[#ARGV], 1) end
return 1
"""

RELEASE = """
-- KEYS: 1 pledged, 2 pledge. ARGV: 1 address. Give the places back; returns the pledge
-- (room|shift,shift) freed, or false if there was none.
local old = redis.call('HGET', KEYS[2], ARGV[1])
if not old then return false end
local room, shifts = string.match(old, '^(.-)|(.*)$')
for s in string.gmatch(shifts, '[^,]+') do redis.call('HINCRBY', KEYS[1], room .. '|' .. s, -1) end
redis.call('HDEL', KEYS[2], ARGV[1])
return old
"""


RELEASE_SHIFT = """
-- KEYS: 1 pledged, 2 pledge. ARGV: 1 address, 2 room, 3 shift. Give back one shift's place
-- of their pledge (a no-show), keeping the rest; 0 if the pledge has no such place.
local old = redis.call('HGET', KEYS[2], ARGV[1])
if not old then return 0 end
local room, shifts = string.match(old, '^(.-)|(.*)$')
if room ~= ARGV[2] then return 0 end
local kept, found = {}, false
for s in string.gmatch(shifts, '[^,]+') do
  if s == ARGV[3] then found = true else kept[#kept + 1] = s end
end
if not found then return 0 end
redis.call('HINCRBY', KEYS[1], room .. '|' .. ARGV[3], -1)
if #kept == 0 then
  redis.call('HDEL', KEYS[2], ARGV[1])
else
  redis.call('HSET', KEYS[2], ARGV[1], room .. '|' .. table.concat(kept, ','))
end
return 1
"""


INDEX_ROSTERS = """
-- KEYS: 1 pledge, then each person's room's roster. ARGV: per person: address, their
-- pledge as read. On the roster only if the pledge is unchanged (DELETE, CAN'T or a move
-- since have kept the roster themselves).
for i = 2, #KEYS do
  local who, pledge = ARGV[2 * i - 3], ARGV[2 * i - 2]
  if redis.call('HGET', KEYS[1], who) == pledge then redis.call('HSET', KEYS[i], who, '') end
end
"""


PRUNE = """
-- KEYS: 1 pledge, 2 roster:<room>. ARGV: 1 '<room>|', 2... people whose pledge was elsewhere.
-- Off the roster those still not pledged at the room.
for i = 2, #ARGV do
  local p = redis.call('HGET', KEYS[1], ARGV[i])
  if not p or string.sub(p, 1, #ARGV[1]) ~= ARGV[1] then redis.call('HDEL', KEYS[2], ARGV[i]) end
end
"""


def parse_pledge(raw: bytes) -> tuple[str, tuple[str, ...]]:
    """``room|shift,shift`` as (room, shifts)."""
    room, shifts = raw.decode().split("|", 1)
    return room, tuple(shifts.split(","))


class Places:
    """Places taken and pledges."""

    def __init__(self, r: redis.Redis, prefix: str) -> None:
        self.r, self.p = r, prefix
        self._reserve = r.register_script(RESERVE)
        self._release = r.register_script(RELEASE)
        self._release_shift = r.register_script(RELEASE_SHIFT)
        self._index_rosters = r.register_script(INDEX_ROSTERS)
        self._prune = r.register_script(PRUNE)

    def taken(self, pairs: Sequence[tuple[str, str]]) -> list[int]:
        """Places taken for each (room, shift)."""
        if not pairs:
            return []
        fields = [f"{room}|{shift}" for room, shift in pairs]
        return [int(v or 0) for v in self.r.hmget(keys.PLEDGED(self.p), fields)]

    def reserve(self, address: str, pledge: Pledge, capacities: Sequence[int]) -> bool:
        """Take one place per shift at the room, atomically; False if any is full."""
        args: list[str | int] = [address, pledge.room_id, len(pledge.shifts)]
        for shift, cap in zip(pledge.shifts, capacities, strict=True):
            args += [shift, cap]
        args.append(int(daytime.now() // 3600))
        k = [keys.PLEDGED(self.p), keys.PLEDGE(self.p), keys.TIMELINE(self.p),
             keys.ROSTER(self.p, room=pledge.room_id)]  # fmt: skip
        return bool(self._reserve(keys=k, args=args))

    def release(self, address: str) -> list[tuple[str, str]]:
        """Give back this address's places; the (room, shift) pairs freed (none if it had
        none)."""
        k = [keys.PLEDGED(self.p), keys.PLEDGE(self.p)]
        old = self._release(keys=k, args=[address])
        if not old:
            return []
        room, shifts = parse_pledge(old)
        return [(room, s) for s in shifts]

    def release_shift(self, address: str, room: str, shift: str) -> bool:
        """Give back one shift's place of their pledge, keeping the rest; False if their
        pledge holds no such place."""
        k = [keys.PLEDGED(self.p), keys.PLEDGE(self.p)]
        return bool(self._release_shift(keys=k, args=[address, room, shift]))

    def index_rosters(self, batch: int = 500) -> int:
        """Put everyone pledged on their room's roster, as a pledge would (data from before
        pledges kept rosters), each only if their pledge is still as read; how many."""
        pledges = list(self.r.hgetall(keys.PLEDGE(self.p)).items())
        for i in range(0, len(pledges), batch):
            some = pledges[i : i + batch]
            k = [keys.PLEDGE(self.p), *(keys.ROSTER(self.p, room=parse_pledge(raw)[0])
                                        for _, raw in some)]  # fmt: skip
            self._index_rosters(keys=k, args=[x for pair in some for x in pair])
        return len(pledges)

    def roster(self, room: str) -> dict[str, tuple[str, ...]]:
        """Who is pledged at ``room``, and for which shifts. (The roster keeps everyone who
        ever pledged there; those who moved or gave it up are dropped from it here.)"""
        key = keys.ROSTER(self.p, room=room)
        who = [a.decode() for a in self.r.hkeys(key)]
        if not who:
            return {}
        mine, gone = {}, []
        for address, raw in zip(who, self.r.hmget(keys.PLEDGE(self.p), who), strict=True):
            there, shifts = parse_pledge(raw) if raw else ("", ())
            if there == room:
                mine[address] = shifts
            else:
                gone.append(address)
        if gone:  # looked at again in the script: one who pledged here since stays
            self._prune(keys=[keys.PLEDGE(self.p), key], args=[f"{room}|", *gone])
        return mine

    def pledge_of(self, address: str) -> str | None:
        """The stored ``room|shift,shift`` for an address."""
        raw = self.r.hget(keys.PLEDGE(self.p), address)
        return raw.decode() if raw else None

    def by_room_shift(self) -> dict[tuple[str, str], int]:
        """Places taken, by (room, shift)."""
        out: dict[tuple[str, str], int] = {}
        for field, n in self.r.hgetall(keys.PLEDGED(self.p)).items():
            room, shift = field.decode().split("|", 1)
            out[(room, shift)] = int(n)
        return out

    def pledges(self) -> dict[str, tuple[str, tuple[str, ...]]]:
        """Every pledge: address -> (room, shifts)."""
        # A thousand fields a step: SCAN's default of ten would be a round trip per ten
        # people (4,000 of them for 40,000 pledges), and HGETALL would hold Redis up.
        scan = self.r.hscan_iter(keys.PLEDGE(self.p), count=1000)
        return {a.decode(): parse_pledge(raw) for a, raw in scan}
