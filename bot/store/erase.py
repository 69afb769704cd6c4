"""DELETE and the purge, both by walking the declarations in keys.py.

A key added tomorrow is erased by DELETE and by the purge as soon as it is declared:
nobody keeps a second list. What each rule does is in keys.py's docstring.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import redis

from bot.store import keys
from bot.store.keys import Erase, Key

ERASED = ""  # what an erased person's place in a list read by position becomes

ITEM_ERASE = """
-- KEYS: 1 a recipient list. ARGV: 1 address, 2 the blank it becomes.
-- Blank every place the address holds, so everyone else keeps their position.
local n = 0
while true do
  local i = redis.call('LPOS', KEYS[1], ARGV[1])
  if not i then return n end
  redis.call('LSET', KEYS[1], i, ARGV[2])
  n = n + 1
end
"""


class Eraser:
    """Erases one person, or everyone (the purge), as keys.py declares."""

    def __init__(
        self, r: redis.Redis, prefix: str, secret: bytes,
        codes: Callable[[str], list[tuple[str, str]]],
    ) -> None:  # fmt: skip
        self.r, self.p, self.secret = r, prefix, secret
        self.codes = codes  # address -> (key, field) of each referral code it may have
        self._item_erase = r.register_script(ITEM_ERASE)

    def _concrete(self, key: Key, **known: object) -> Iterator[str]:
        """The keys of a declaration: one, or every match when a placeholder is unknown."""
        if set(key.placeholders) <= set(known):
            yield key(self.p, **known)
        else:
            yield from (k.decode() for k in self.r.scan_iter(key.glob(self.p, **known), 1000))

    def erase(self, address: str) -> None:
        """Everything about ``address`` goes, except the suppression records (and a seen
        mark, so a later referral is not credited twice)."""
        hid = keys.hid(self.secret, address)
        self.leave(address)  # first: a broadcast running now checks it before writing
        self.r.sadd(keys.SEEN(self.p), hid)
        for key in keys.KEYS:
            mine = {n: v for n, v in (("address", address), ("hid", hid)) if n in key.placeholders}
            if key.erase is Erase.KEY:
                if mine:
                    for k in list(self._concrete(key, **mine)):
                        self.r.delete(k)
            elif key.erase is Erase.FIELD:
                for k in self._concrete(key):
                    self.r.hdel(k, address)
            elif key.erase is Erase.MEMBER:
                remove = self.r.zrem if key.type == "zset" else self.r.srem
                for k in self._concrete(key):
                    remove(k, address)
            elif key.erase is Erase.QUEUE:
                for k in self._concrete(key):
                    self.r.lrem(k, 0, address)
            elif key.erase is Erase.ITEM:
                for k in self._concrete(key):
                    self._item_erase(keys=[k], args=[address, ERASED])
            elif key.erase is Erase.VALUE:
                for k, field in self.codes(address):
                    if key.regex(self.p).match(k) and self.r.hget(k, field) == address.encode():
                        self.r.hdel(k, field)

    def leave(self, address: str) -> None:
        """Leave the people index (and the count of supporters): no broadcast or reply
        reaches them from now on (store/people.py: held replies)."""
        self.r.zrem(keys.NEARBY(self.p), address)  # nor is anyone asked to help
        if self.r.srem(keys.PEOPLE(self.p), address):
            self.r.hincrby(keys.SUPPORTERS(self.p), address.split(":", 1)[0], -1)

    def plan(self) -> dict[str, int]:
        """What the purge would remove, by declared pattern: how many keys, or for a key of
        its own (an index), how many entries."""
        sizes = {"hash": self.r.hlen, "set": self.r.scard, "list": self.r.llen,
                 "zset": self.r.zcard}  # fmt: skip
        found = {}
        for key in keys.KEYS:
            if not key.purge:
                continue
            if key.placeholders:
                found[key.pattern] = sum(1 for _ in self._concrete(key))
            else:
                found[key.pattern] = int(sizes.get(key.type, self.r.exists)(key(self.p)))
        return found

    def purge(self) -> dict[str, int]:
        """Remove every key the declarations mark ``purge``; what went, by pattern. Everyone
        is marked seen first, as DELETE does, so no referral is credited for them again."""
        found = self.plan()
        people = [a.decode() for a in self.r.smembers(keys.PEOPLE(self.p))]
        if people:
            self.r.sadd(keys.SEEN(self.p), *(keys.hid(self.secret, a) for a in people))
        for key in keys.KEYS:
            if key.purge:
                for k in list(self._concrete(key)):
                    self.r.delete(k)
        return found
