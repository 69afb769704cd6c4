"""Referrals: each sharer's code, and how many people their forwards brought in.

A code derives from the address with the keyed hash (so nothing more need be stored to
find it again, and nobody can work a phone number out of a code); the ``codes:{part}``
hashes map it back (codes given before them stay in the one ``codes`` hash they were kept
in, and are looked for there too). A newcomer credits their sharer once, ever (the
``seen`` suppression set), and the credit is remembered by the message that made it, so a
replayed turn says the same.
"""

from __future__ import annotations

import hashlib
import hmac

import redis

from bot.store import keys

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: codes get read aloud
TRIES = 5

FIRST_CONTACT = """
-- KEYS: 1 seen, 2 referrals, 3 credited:<message>
-- ARGV: 1 sharer address ('' : none), 2 newcomer's one-way id, 3 credited TTL (0: the
--       message is not known, nothing remembered)
-- Mark the newcomer seen; credit the sharer only the first time they are ever seen.
-- Returns the sharer's new total, or -1 (no credit). A replay of the same message
-- returns what the first run did.
local remember = ARGV[3] ~= '0'
if remember then
  local before = redis.call('GET', KEYS[3])
  if before then return tonumber(before) end
end
if redis.call('SADD', KEYS[1], ARGV[2]) == 0 or ARGV[1] == '' then return -1 end
local n = redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
if remember then redis.call('SET', KEYS[3], n, 'EX', ARGV[3]) end
return n
"""


class Referrals:
    """Codes and counts."""

    def __init__(self, r: redis.Redis, prefix: str, secret: bytes) -> None:
        self.r, self.p, self.secret = r, prefix, secret
        self._first = r.register_script(FIRST_CONTACT)

    def candidates(self, address: str) -> list[str]:
        """The codes this address may have: 8 characters (40 bits) of a keyed hash each."""
        out = []
        for i in range(TRIES):
            digest = hmac.new(self.secret, f"{i}:{address}".encode(), hashlib.sha256).digest()
            n = int.from_bytes(digest[:5], "big")
            out.append("".join(CODE_ALPHABET[(n >> (5 * k)) & 31] for k in range(8)))
        return out

    def code_for(self, address: str) -> str:
        """This address's referral code, claimed on first use (the next candidate on the
        rare clash)."""
        before, mine = keys.CODES_BEFORE(self.p), address.encode()
        for code in self.candidates(address):
            if self.r.hget(before, code) not in (None, mine):
                continue  # given to someone else before the small hashes
            if self.r.hsetnx(self._key(code), code, address):
                return code
            if self.r.hget(self._key(code), code) == mine:
                return code
        raise RuntimeError("no free referral code")  # 2**40 codes: not in this universe

    def sharer_of(self, code: str) -> str | None:
        """The address behind a referral code (also where codes were kept before)."""
        code = code.upper()
        raw = self.r.hget(self._key(code), code) or self.r.hget(keys.CODES_BEFORE(self.p), code)
        return raw.decode() if raw else None

    def places(self, address: str) -> list[tuple[str, str]]:
        """Where the codes this address may have are kept: (key, code), for DELETE."""
        codes = self.candidates(address)
        before = keys.CODES_BEFORE(self.p)
        return [(self._key(c), c) for c in codes] + [(before, c) for c in codes]

    def _key(self, code: str) -> str:
        return keys.CODES(self.p, part=code[:2])

    def first_contact(self, address: str, sharer: str | None, message: str = "") -> int | None:
        """Mark the address seen; credit the sharer if it had never been seen: their new
        total, or None. ``message`` (a digest of the message) makes a replay answer alike."""
        k = [keys.SEEN(self.p), keys.REFERRALS(self.p), keys.CREDITED(self.p, msg=message)]
        args = [sharer or "", keys.hid(self.secret, address), keys.CREDITED.ttl if message else 0]
        count = int(self._first(keys=k, args=args))
        return None if count < 0 else count

    def counts(self) -> dict[str, int]:
        """Every sharer and how many people they brought in."""
        raw = self.r.hgetall(keys.REFERRALS(self.p))
        return {k.decode(): int(v) for k, v in raw.items()}
