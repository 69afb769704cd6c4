"""Room coordinators: the secret link to each room's phone page, the messages a coordinator
sent through the bot, volunteers' replies to them, and rooms reporting too many people.

A link is a random token given once; Redis keeps only its SHA-256 (ROOM_LINK, expiring when
polling day ends), and the room's current one (ROOM_LINKS), so a new link or a revocation
makes the old one stop working at once. Both change in one script each, so two made at once
leave exactly one working (and it is the one the room's entry names: revocable).
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass

import redis

from bot.store import keys

REPLIES_KEPT = 5  # a volunteer's latest replies shown to their room
SAID_KEPT = 20  # a room's latest messages from its coordinator

CREATE = """
-- KEYS: 1 the room -> link digest hash, 2 the new link's key. ARGV: 1 room, 2 its digest,
-- 3 when it expires (unix s), 4 the link keys' prefix (+ a digest: a link's key).
-- The room's link becomes the new one; the one it replaces stops working.
local old = redis.call('HGET', KEYS[1], ARGV[1])
if old then redis.call('DEL', ARGV[4] .. old) end
redis.call('SET', KEYS[2], ARGV[1], 'EXAT', ARGV[3])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
"""

REVOKE = """
-- KEYS: 1 the room -> link digest hash. ARGV: 1 room, 2 the link keys' prefix.
-- The room's link stops working; 1 if it had one.
local old = redis.call('HGET', KEYS[1], ARGV[1])
if not old then return 0 end
redis.call('DEL', ARGV[2] .. old)
redis.call('HDEL', KEYS[1], ARGV[1])
return 1
"""


def digest(token: str) -> str:
    """What Redis keeps of a link's token."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Reply:
    """A volunteer's reply to their room's coordinator."""

    address: str
    name: str
    at: int
    text: str


@dataclass(frozen=True)
class Surplus:
    """A room that reported too many people for a shift, and how the moves went."""

    room: str
    shift: str
    at: int
    too_many: int
    offered: int
    moved: int


class Coordinators:
    """Coordinator links, relayed messages and replies, surplus reports."""

    def __init__(self, r: redis.Redis, prefix: str) -> None:
        self.r, self.p = r, prefix
        self._create = r.register_script(CREATE)
        self._revoke = r.register_script(REVOKE)

    def create_link(self, room: str, expires_at: int) -> str:
        """A new secret link token for ``room``, working until ``expires_at`` (unix s); the
        room's earlier link stops working."""
        token = secrets.token_urlsafe(24)
        k = [keys.ROOM_LINKS(self.p), keys.ROOM_LINK(self.p, digest=digest(token))]
        prefix = keys.ROOM_LINK(self.p, digest="")  # the old link's key is this + its digest
        self._create(keys=k, args=[room, digest(token), expires_at, prefix])
        return token

    def revoke(self, room: str) -> bool:
        """Stop the room's link working; False if it had none."""
        k = [keys.ROOM_LINKS(self.p)]
        return bool(self._revoke(keys=k, args=[room, keys.ROOM_LINK(self.p, digest="")]))

    def room_of(self, token: str) -> str | None:
        """The room a link token opens, or None (unknown, revoked or expired)."""
        if not token or len(token) > 100:
            return None
        raw = self.r.get(keys.ROOM_LINK(self.p, digest=digest(token)))
        return raw.decode() if raw else None

    def said(self, room: str, text: str, at: int, to: int, unreached: int = 0) -> None:
        """Keep a message the coordinator sent (``to`` people; ``unreached`` left out, on
        WhatsApp outside its 24-hour window) for their page."""
        entry = json.dumps({"at": at, "text": text, "to": to, "unreached": unreached},
                           separators=(",", ":"))  # fmt: skip
        key = keys.ROOM_SAID(self.p, room=room)
        pipe = self.r.pipeline()
        pipe.lpush(key, entry)
        pipe.ltrim(key, 0, SAID_KEPT - 1)
        pipe.execute()

    def first_time(self, room: str, text: str, seconds: int = 10) -> bool:
        """False when the room sent this very message a moment ago (a double tap)."""
        mark = digest(text)
        was = self.r.set(keys.ROOM_SENDING(self.p, room=room), mark, ex=seconds, get=True)
        return was is None or was.decode() != mark

    def sent(self, room: str) -> list[dict[str, object]]:
        """The coordinator's messages, newest first."""
        return [json.loads(x) for x in self.r.lrange(keys.ROOM_SAID(self.p, room=room), 0, -1)]

    def reply(self, room: str, address: str, name: str, text: str, at: int) -> None:
        """Keep a volunteer's reply for the page of the room whose coordinator wrote to
        them (their latest few)."""
        key = keys.ROOM_REPLIES(self.p, room=room)
        raw = self.r.hget(key, address)
        kept = json.loads(raw) if raw else []
        kept = [*kept, [name, at, text]][-REPLIES_KEPT:]
        self.r.hset(key, address, json.dumps(kept, separators=(",", ":")))

    def replies(self, room: str) -> list[Reply]:
        """Every kept reply to the room, newest first."""
        out = [
            Reply(a.decode(), name, at, text)
            for a, raw in self.r.hgetall(keys.ROOM_REPLIES(self.p, room=room)).items()
            for name, at, text in json.loads(raw)
        ]
        return sorted(out, key=lambda r: -r.at)

    def too_many(self, room: str, shift: str, n: int, offered: int, at: int) -> None:
        """The coordinator reported ``n`` too many; ``offered`` were asked to move."""
        key = keys.SURPLUS(self.p, room=room, shift=shift)
        pipe = self.r.pipeline()
        pipe.hset(key, mapping={"at": at, "too_many": n})
        pipe.hincrby(key, "offered", offered)
        pipe.zadd(keys.SURPLUSES(self.p), {f"{room}|{shift}": at})
        pipe.execute()

    def moved(self, room: str, shift: str) -> None:
        """Someone moved from this room (for a shift it reported too many for)."""
        key = keys.SURPLUS(self.p, room=room, shift=shift)
        if self.r.exists(key):
            self.r.hincrby(key, "moved", 1)

    def surpluses(self) -> list[Surplus]:
        """Every surplus report, newest first."""
        pairs = [m.decode().split("|", 1) for m in self.r.zrevrange(keys.SURPLUSES(self.p), 0, -1)]
        pipe = self.r.pipeline(transaction=False)
        for room, shift in pairs:
            pipe.hgetall(keys.SURPLUS(self.p, room=room, shift=shift))
        out = []
        for (room, shift), raw in zip(pairs, pipe.execute(), strict=True):
            d = {k.decode(): int(v) for k, v in raw.items()}
            names = ("at", "too_many", "offered", "moved")
            out.append(Surplus(room, shift, *(d.get(n, 0) for n in names)))
        return out
