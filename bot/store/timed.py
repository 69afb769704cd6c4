"""Timed events: something the system will tell a person's conversation at a given time.

A reminder, or a reply held back by a platform's ``retry_after``, is an ``Inbound`` system
event kept in the person's ``timed:{address}`` set, scored by when it is due; the ``due``
set holds each such person once, scored by their earliest event. Every worker process
looks at ``due`` a few times a second (workers/clock.py) and moves what has come due into
the person's inbox, where it is handled in order with what they wrote, by the drainers:
it never waits behind RQ's jobs, a STOP or DELETE written before it wins, and DELETE and
the purge remove it with the person's other keys. Moving is one script per person, so an
event reaches the inbox once however many workers look.
"""

from __future__ import annotations

import redis

from bot.model.message import Inbound
from bot.store import keys
from bot.store.inbox import DRAINERS, DRAINERS_TTL, MAKE_READY, SCHED_TTL, lane
from bot.store.jobs import DRAIN_READY

ADD = """
-- KEYS: 1 timed:<address>, 2 due. ARGV: 1 address, 2 when due (unix s), 3 the event JSON.
-- Keep the event; the person's place in the due set is their earliest event's time.
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
redis.call('ZADD', KEYS[2], first[2], ARGV[1])
return 1
"""

RELEASE = (
    """
-- KEYS: 1 timed:<address>, 2 due, 3 inbox:<address>, 4 sched:<address>, 5 ready:<lane>,
--       6 drainers, 7 jobs
-- ARGV: 1 address, 2 now (unix s), 3 sched TTL, 4 most drainers, 5 drainers TTL,
--       6 the drainer job request
-- Move the events due by now into the inbox (in time order), keep the person in the due
-- set at their next event (or drop them) and make them ready. Returns how many moved.
"""
    + MAKE_READY
    + """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
for _, event in ipairs(due) do redis.call('RPUSH', KEYS[3], event) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
local nxt = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if nxt[2] then
  redis.call('ZADD', KEYS[2], nxt[2], ARGV[1])
else
  redis.call('ZREM', KEYS[2], ARGV[1])
end
if #due > 0 then
  make_ready(KEYS[4], ARGV[3], KEYS[5], ARGV[1], KEYS[6], ARGV[4], ARGV[5], KEYS[7], ARGV[6],
             true)
end
return #due
"""
)

BATCH = 100  # people moved per look at the due set


class Timed:
    """Events kept until their time, then put in the person's inbox."""

    def __init__(self, r: redis.Redis, prefix: str) -> None:
        self.r, self.p = r, prefix
        self._add = r.register_script(ADD)
        self._release = r.register_script(RELEASE)

    def add(self, event: Inbound, at: float) -> None:
        """Keep ``event`` for its person until ``at`` (unix time). The same event added
        twice is kept once (a turn replayed after a crash schedules the same reminder)."""
        k = [keys.TIMED(self.p, address=event.address), keys.DUE(self.p)]
        self._add(keys=k, args=[event.address, f"{at:.3f}", event.to_json()])

    def release(self, now: float) -> int:
        """Move every event due by ``now`` into its person's inbox; how many."""
        moved = 0
        while True:
            due = self.r.zrangebyscore(keys.DUE(self.p), "-inf", f"{now:.3f}", 0, BATCH)
            # Each goes to the front of the ready list (they have waited): the latest due
            # first, so that the earliest ends up first.
            for raw in reversed(due):
                address = raw.decode()
                moved += self.release_one(address, now)
            if len(due) < BATCH:
                return moved

    def release_one(self, address: str, now: float) -> int:
        """Move one person's events due by ``now`` into their inbox; how many."""
        p = self.p
        k = [keys.TIMED(p, address=address), keys.DUE(p), keys.INBOX(p, address=address),
             keys.SCHED(p, address=address), keys.READY(p, channel=lane(address)), keys.DRAINERS(p),
             keys.JOBS(p)]  # fmt: skip
        args = [address, f"{now:.3f}", SCHED_TTL, DRAINERS, DRAINERS_TTL, DRAIN_READY]
        return int(self._release(keys=k, args=args))

    def pending(self, address: str) -> list[tuple[Inbound, float]]:
        """A person's events not yet due, with when each is due (earliest first)."""
        items = self.r.zrange(keys.TIMED(self.p, address=address), 0, -1, withscores=True)
        return [(Inbound.from_json(raw), at) for raw, at in items]

    def drop(self, address: str, event: str) -> int:
        """Forget a person's pending events of one kind (reminders, when the polling day
        moves); how many."""
        key = keys.TIMED(self.p, address=address)
        gone = [raw for raw in self.r.zrange(key, 0, -1) if Inbound.from_json(raw).event == event]
        if gone:
            self.r.zrem(key, *gone)
        return len(gone)

    def forget(self, address: str) -> None:
        """Drop every event kept for a person (they said STOP: nothing timed goes to them)."""
        pipe = self.r.pipeline(transaction=True)
        pipe.delete(keys.TIMED(self.p, address=address))
        pipe.zrem(keys.DUE(self.p), address)
        pipe.execute()
