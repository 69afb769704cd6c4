"""Arrivals: who is at their room on polling day, per room and shift.

One hash per room and shift, address -> ``status:when``: ``here`` (checked in: HERE, or
the room's coordinator), ``onway`` (answered "on my way" when chased) or ``noshow`` (not
there, nor heard from, after the waits; their place was freed). Nothing overwrites
``here``, so a replayed turn, HERE sent twice, or a chase that crossed the arrival,
changes nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

import redis

from bot.store import keys

Pair = tuple[str, str]  # (room id, shift id)
HERE, ON_THE_WAY, NO_SHOW = "here", "onway", "noshow"

MARK = """
-- KEYS: the arrivals hashes, one per shift. ARGV: 1 address, 2 status:when.
-- Record the status unless they are already here. Returns how many were recorded.
local n = 0
for _, key in ipairs(KEYS) do
  local now = redis.call('HGET', key, ARGV[1])
  if not now or string.sub(now, 1, 5) ~= 'here:' then
    redis.call('HSET', key, ARGV[1], ARGV[2])
    n = n + 1
  end
end
return n
"""


class Arrivals:
    """Who is here, on the way, or a no-show, by room and shift."""

    def __init__(self, r: redis.Redis, prefix: str) -> None:
        self.r, self.p = r, prefix
        self._mark = r.register_script(MARK)

    def mark(self, address: str, room: str, shifts: Iterable[str], status: str, at: float) -> int:
        """Record ``status`` for each shift, unless they are already here there."""
        k = [keys.ARRIVED(self.p, room=room, shift=shift) for shift in shifts]
        return int(self._mark(keys=k, args=[address, f"{status}:{int(at)}"])) if k else 0

    def check_in(self, address: str, room: str, shifts: Iterable[str], at: float) -> None:
        """They are here (the first time stays)."""
        self.mark(address, room, shifts, HERE, at)

    def status(self, address: str, room: str, shift: str) -> str | None:
        """``here``, ``onway``, ``noshow``, or None (not heard from)."""
        raw = self.r.hget(keys.ARRIVED(self.p, room=room, shift=shift), address)
        return raw.decode().split(":", 1)[0] if raw else None

    def at_room(self, room: str, shift: str) -> dict[str, tuple[str, int]]:
        """Everyone accounted for at a room and shift: address -> (status, when)."""
        raw = self.r.hgetall(keys.ARRIVED(self.p, room=room, shift=shift))
        out = {}
        for a, v in raw.items():
            status, at = v.decode().split(":", 1)
            out[a.decode()] = (status, int(at))
        return out

    def forget(self, address: str, pairs: Iterable[Pair]) -> None:
        """Their place is given up (CHANGE, STOP, CAN'T): no longer counted there."""
        pipe = self.r.pipeline(transaction=False)
        for room, shift in pairs:
            pipe.hdel(keys.ARRIVED(self.p, room=room, shift=shift), address)
        pipe.execute()

    def at(self, room: str, shift: str) -> dict[str, tuple[str, int]]:
        """Everyone recorded for a room and shift: address -> (status, when)."""
        raw = self.r.hgetall(keys.ARRIVED(self.p, room=room, shift=shift))
        out = {}
        for who, value in raw.items():
            status, when = value.decode().split(":", 1)
            out[who.decode()] = (status, int(when))
        return out

    def counts(self, pairs: Sequence[Pair]) -> list[Counter[str]]:
        """For each (room, shift): how many are here, on the way, no-shows."""
        pipe = self.r.pipeline(transaction=False)
        for room, shift in pairs:
            pipe.hvals(keys.ARRIVED(self.p, room=room, shift=shift))
        return [Counter(v.decode().split(":", 1)[0] for v in vals) for vals in pipe.execute()]
