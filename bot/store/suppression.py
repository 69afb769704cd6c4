"""Suppression records: what outlives DELETE and the purge, by one-way id only.

``seen`` (a referral is credited once), ``stopped`` (STOP holds even after DELETE, until
START) and the consent evidence (written with the turn, see people.py).
"""

from __future__ import annotations

import redis

from bot.store import keys


class Suppression:
    """STOP and the seen set, by one-way id."""

    def __init__(self, r: redis.Redis, prefix: str, secret: bytes) -> None:
        self.r, self.p, self.secret = r, prefix, secret

    def hid(self, address: str) -> str:
        """This address's one-way id."""
        return keys.hid(self.secret, address)

    def set_stopped(self, address: str, stopped: bool) -> None:
        """Record STOP (or START)."""
        pipe = self.r.pipeline()
        pipe.sadd(keys.SEEN(self.p), self.hid(address))
        (pipe.sadd if stopped else pipe.srem)(keys.STOPPED(self.p), self.hid(address))
        pipe.execute()

    def was_stopped(self, address: str) -> bool:
        """True while the suppression record says STOP."""
        return bool(self.r.sismember(keys.STOPPED(self.p), self.hid(address)))
