"""Arrivals: who has checked in at their room for which shift (HERE on polling day).

One hash per room and shift, address -> when they arrived. Checking in again keeps the
first time, so a replayed turn, or HERE sent twice, changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import redis

from bot.store import keys

Pair = tuple[str, str]  # (room id, shift id)


class Arrivals:
    """Check-ins by room and shift."""

    def __init__(self, r: redis.Redis, prefix: str) -> None:
        self.r, self.p = r, prefix

    def check_in(self, address: str, room: str, shifts: Iterable[str], at: float) -> None:
        """Record the arrival for each shift (the first time stays)."""
        pipe = self.r.pipeline(transaction=True)
        for shift in shifts:
            pipe.hsetnx(keys.ARRIVED(self.p, room=room, shift=shift), address, int(at))
        pipe.execute()

    def forget(self, address: str, pairs: Iterable[Pair]) -> None:
        """Their place is given up (CHANGE, STOP, CAN'T): no longer counted as there."""
        pipe = self.r.pipeline(transaction=False)
        for room, shift in pairs:
            pipe.hdel(keys.ARRIVED(self.p, room=room, shift=shift), address)
        pipe.execute()

    def at(self, room: str, shift: str) -> dict[str, int]:
        """Who has arrived for a room and shift: address -> when."""
        raw = self.r.hgetall(keys.ARRIVED(self.p, room=room, shift=shift))
        return {a.decode(): int(t) for a, t in raw.items()}

    def counts(self, pairs: Sequence[Pair]) -> list[int]:
        """How many have arrived for each (room, shift)."""
        pipe = self.r.pipeline(transaction=False)
        for room, shift in pairs:
            pipe.hlen(keys.ARRIVED(self.p, room=room, shift=shift))
        return [int(n) for n in pipe.execute()]
