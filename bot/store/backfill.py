"""Backfill: asking nearby supporters to fill a room that is short of people on the day.

Who may be asked is read from NEARBY, a geo index of everyone who agreed to updates (and
has not said STOP), kept in step with their conversation by every save (bot/store/people.py),
so DELETE, STOP and a "no" to updates take them out in the same step. Each gap (a room and
a shift) has a record the board shows (GAP) and the set of everyone asked for it (ASKED):
ASK adds a wave only if the last one is old enough, and only people never asked for that
gap, in one script, so two workers looking at once never ask anyone twice.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import redis

from bot.model.message import Location
from bot.store import keys

ASK = """
-- KEYS: 1 gap:<room>:<shift>, 2 asked:<room>:<shift>, 3 gaps, 4 asking.
-- ARGV: 1 room|shift, 2 now (unix s), 3 seconds between waves, 4 places short now,
--       5 people left out as outside their WhatsApp window, 6 seconds someone asked is
--       left alone by every other gap, 7 people free but resting from another ask,
--       8... the nearest first.
-- A wave of asks: who of those was never asked for this gap and is not resting from
-- another ask (in order), or false when the last wave was too recent.
local now = tonumber(ARGV[2])
local last = tonumber(redis.call('HGET', KEYS[1], 'last') or '0')
if last > 0 and now - last < tonumber(ARGV[3]) then return false end
if redis.call('ZADD', KEYS[3], 'NX', now, ARGV[1]) == 1 then
  redis.call('HSET', KEYS[1], 'started', now)
end
local fresh = {}
for i = 8, #ARGV do
  local resting = tonumber(redis.call('HGET', KEYS[4], ARGV[i]) or '0') > now
  if not resting and redis.call('HSETNX', KEYS[2], ARGV[i], 'asked') == 1 then
    redis.call('HSET', KEYS[4], ARGV[i], now + tonumber(ARGV[6]))
    fresh[#fresh + 1] = ARGV[i]
  end
end
redis.call('HSET', KEYS[1], 'last', now, 'short', ARGV[4], 'outside_window', ARGV[5])
redis.call('HDEL', KEYS[1], 'covered')
redis.call('HINCRBY', KEYS[1], 'waves', 1)
if #fresh == 0 and tonumber(ARGV[7]) == 0 then  -- resting: asked at a later wave
  redis.call('HSET', KEYS[1], 'nobody_left', now)
else
  redis.call('HDEL', KEYS[1], 'nobody_left')
end
return fresh
"""

# How someone asked answered (see Gap): kept with their ask, so a turn replayed after a
# crash counts once.
OUTCOMES = ("took", "late", "declined")


@dataclass(frozen=True)
class Gap:
    """A backfill as the board shows it."""

    room: str
    shift: str
    started: int  # unix s
    short: int  # places short at the last wave
    waves: int
    asked: int
    took: int  # said YES and got a place
    late: int  # said YES once it was covered: thanked
    declined: int
    outside_window: int  # WhatsApp users not asked at the last wave: outside their 24 h
    covered: int  # unix s when no longer short (0: not yet)
    nobody_left: int  # unix s when a wave found nobody more to ask (0: not)

    @property
    def status(self) -> str:
        """covered, nobody left to ask, or asking."""
        if self.covered:
            return "covered"
        return "nobody_left" if self.nobody_left else "asking"


class Backfill:
    """The geo index of who may be asked, and each gap's record."""

    def __init__(self, r: redis.Redis, prefix: str, secret: bytes) -> None:
        self.r, self.p, self.secret = r, prefix, secret
        self._ask = r.register_script(ASK)

    def near(self, at: Location, km: float, count: int) -> list[tuple[str, float]]:
        """Up to ``count`` people who may be asked, within ``km`` of ``at``, nearest first:
        (address, km)."""
        found = self.r.geosearch(
            keys.NEARBY(self.p), longitude=at.longitude, latitude=at.latitude, radius=km,
            unit="km", sort="ASC", count=count, withdist=True,
        )  # fmt: skip
        return [(a.decode(), float(d)) for a, d in found]

    def asked(self, room: str, shift: str, addresses: Sequence[str]) -> list[bool]:
        """Whether each was asked for this gap already."""
        if not addresses:
            return []
        key = keys.ASKED(self.p, room=room, shift=shift)
        return [x is not None for x in self.r.hmget(key, list(addresses))]

    def last_wave(self, room: str, shift: str) -> float:
        """When this gap's last wave went (0: never)."""
        return self.last_waves([(room, shift)])[0]

    def last_waves(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        """When each gap's last wave went (0: never)."""
        pipe = self.r.pipeline(transaction=False)
        for room, shift in pairs:
            pipe.hget(keys.GAP(self.p, room=room, shift=shift), "last")
        return [float(t or 0) for t in pipe.execute()]

    def ask(
        self, room: str, shift: str, short: int, nearest: Sequence[str], now: float,
        wave_every: float, *, rest: float = 0, outside_window: int = 0, resting: int = 0,
    ) -> list[str] | None:  # fmt: skip
        """Record a wave: those of ``nearest`` never asked for this gap nor asked for
        another in the last ``rest`` s (to ask now), or None if the last wave was less than
        ``wave_every`` s ago. Nobody to ask, and nobody ``resting`` who could be asked
        later, marks the gap as having nobody left."""
        k = [keys.GAP(self.p, room=room, shift=shift), keys.ASKED(self.p, room=room, shift=shift),
             keys.GAPS(self.p), keys.ASKING(self.p)]  # fmt: skip
        args = [f"{room}|{shift}", int(now), wave_every, short, outside_window, int(rest),
                resting, *nearest]  # fmt: skip
        got = self._ask(keys=k, args=args)
        return None if got is None else [a.decode() for a in got]

    def reach(self, addresses: Sequence[str], now: float) -> list[tuple[bool, bool, float]]:
        """For each person, in one round trip: whether they may not be asked (STOP on
        record, or their platform said they cannot be reached), whether they are resting
        from another ask now, and when they last wrote (0: never)."""
        if not addresses:
            return []
        pipe = self.r.pipeline(transaction=False)
        pipe.smismember(keys.STOPPED(self.p), [keys.hid(self.secret, a) for a in addresses])
        pipe.hmget(keys.UNREACHABLE(self.p), list(addresses))
        pipe.hmget(keys.ASKING(self.p), list(addresses))
        pipe.hmget(keys.LASTIN(self.p), list(addresses))
        got = zip(*pipe.execute(), strict=True)  # stopped, unreachable, resting until, wrote
        return [(bool(s) or u is not None, float(r or 0) > now, float(w or 0))
                for s, u, r, w in got]  # fmt: skip

    def answered(self, address: str, room: str, shift: str, outcome: str) -> None:
        """How someone asked for this gap answered (one of ``OUTCOMES``)."""
        assert outcome in OUTCOMES
        key = keys.ASKED(self.p, room=room, shift=shift)
        if self.r.hexists(key, address):  # asked (and not erased since)
            self.r.hset(key, address, outcome)

    def reopen(self, room: str, shift: str) -> None:
        """The room needs more than it said: the next look asks at once, not a wave later."""
        self.r.hdel(keys.GAP(self.p, room=room, shift=shift), "last", "nobody_left")

    def covered(self, pairs: Sequence[tuple[str, str]], now: float) -> int:
        """Mark the open gaps among these (rooms no longer short) covered; how many were
        open. A room that was never short gets no record."""
        begun = {m.decode() for m in self.r.zrange(keys.GAPS(self.p), 0, -1)}
        ours = [(room, shift) for room, shift in pairs if f"{room}|{shift}" in begun]
        pipe = self.r.pipeline(transaction=False)
        for room, shift in ours:
            pipe.hsetnx(keys.GAP(self.p, room=room, shift=shift), "covered", int(now))
        return sum(map(bool, pipe.execute())) if ours else 0

    def gaps(self) -> list[Gap]:
        """Every backfill, oldest first."""
        pairs = [m.decode().split("|", 1) for m in self.r.zrange(keys.GAPS(self.p), 0, -1)]
        pipe = self.r.pipeline(transaction=False)
        for room, shift in pairs:
            pipe.hgetall(keys.GAP(self.p, room=room, shift=shift))
            pipe.hvals(keys.ASKED(self.p, room=room, shift=shift))
        got = pipe.execute()
        out = []
        for (room, shift), raw, answers in zip(pairs, got[::2], got[1::2], strict=True):
            d = {k.decode(): int(float(v)) for k, v in raw.items()}
            tally = Counter(a.decode() for a in answers)
            d.update({n: tally[n] for n in OUTCOMES}, asked=len(answers))
            out.append(Gap(room, shift, **{n: d.get(n, 0) for n in Gap.__dataclass_fields__
                                           if n not in ("room", "shift")}))  # fmt: skip
        return out

    def mark_look(self, ttl: float) -> bool:
        """Claim this look for short rooms (one per ``ttl`` s across all workers)."""
        return bool(self.r.set(keys.GAP_LOOK(self.p), "1", nx=True, px=max(1, int(ttl * 1000))))
