"""Organisers signed in to the organiser pages: a session per sign-in, kept in Redis, and
the files they upload, kept between a preview and its "apply".

The browser's cookie holds only a random session id; Redis keeps who it is, their role and
the session's CSRF token under a hash of that id (so reading Redis gives no one a usable
cookie). Signing out deletes it, and it lapses after a polling day's length of time.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

import redis

from bot.rooms import Upload
from bot.store import keys

TTL = keys.SESSION.ttl or 12 * 3600


@dataclass(frozen=True)
class Session:
    """Who is signed in, with the token every form and state-changing call must carry."""

    name: str
    role: str
    csrf: str


class Sessions:
    """Sign-ins, their sessions, and sign-in attempts by network address."""

    def __init__(self, r: redis.Redis, prefix: str, secret: bytes) -> None:
        self.r, self.p, self.secret = r, prefix, secret

    def _key(self, sid: str) -> str:
        return keys.SESSION(self.p, sid=hashlib.sha256(sid.encode()).hexdigest())

    def open(self, name: str, role: str) -> tuple[str, Session]:
        """A new session for this organiser: (the cookie's id, the session)."""
        sid, session = secrets.token_urlsafe(32), Session(name, role, secrets.token_urlsafe(32))
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(self._key(sid), mapping={"name": name, "role": role, "csrf": session.csrf})
        pipe.expire(self._key(sid), TTL)
        pipe.execute()
        return sid, session

    def get(self, sid: str) -> Session | None:
        """The session behind a cookie's id, if it is still open."""
        if not sid:
            return None
        got = self.r.hgetall(self._key(sid))
        if not got:
            return None
        return Session(got[b"name"].decode(), got[b"role"].decode(), got[b"csrf"].decode())

    def close(self, sid: str) -> None:
        """Sign out: the cookie's id no longer opens anything."""
        self.r.delete(self._key(sid))

    def attempt(self, address: str) -> int:
        """Count a sign-in attempt from this network address; how many this minute."""
        who = keys.hid(self.secret, f"net:{address}")
        key = keys.SIGNIN(self.p, who=who, minute=int(time.time() // 60))
        pipe = self.r.pipeline(transaction=True)
        pipe.incr(key)
        pipe.expire(key, keys.SIGNIN.ttl or 120)
        return int(pipe.execute()[0])

    def keep_upload(self, upload: Upload) -> str:
        """Keep an uploaded file for an hour, for the "apply" after its preview; its id."""
        uid = secrets.token_urlsafe(16)
        key = keys.UPLOAD(self.p, uid=uid)
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(key, mapping={"name": upload.name, "data": upload.data})
        pipe.expire(key, keys.UPLOAD.ttl or 3600)
        pipe.execute()
        return uid

    def upload(self, uid: str) -> Upload | None:
        """An uploaded file still kept, or None (applied already, or over an hour old)."""
        got = self.r.hgetall(keys.UPLOAD(self.p, uid=uid)) if uid else {}
        return Upload(got[b"name"].decode(), got[b"data"]) if got else None

    def drop_upload(self, uid: str) -> bool:
        """Forget an uploaded file once applied; False if it had gone (applied twice)."""
        return bool(self.r.delete(keys.UPLOAD(self.p, uid=uid)))
