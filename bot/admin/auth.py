"""Who may use the organiser pages and API: tokens, roles, sessions and CSRF.

An organiser holds a token: ``ADMIN_TOKEN`` (role ``admin``), or a named login from
config.yaml (``organiser_logins``: name, role, the token's SHA-256). The JSON API takes the
token as ``Authorization: Bearer``; the pages exchange it once, on the sign-in form, for a
session (bot/store/sessions.py) whose id is an HttpOnly, SameSite=Lax cookie (Secure when
the bot is served over https). Every form and state-changing call carries the session's
CSRF token; the sign-in form, before there is a session, carries one paired with a cookie.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import TYPE_CHECKING

from flask import abort

from bot.config import Settings

if TYPE_CHECKING:
    from bot.store.sessions import Session

SESSION_COOKIE = "pd_session"
SIGNIN_COOKIE = "pd_signin"  # pairs with the sign-in form's hidden field (login CSRF)
SIGNIN_LIMIT = 10  # sign-in attempts a minute from one network address
CSRF_HEADER = "X-CSRF-Token"


@dataclass(frozen=True)
class Organiser:
    """Someone the token named: ``admin`` may send and import, ``viewer`` only looks."""

    name: str
    role: str

    @property
    def can_act(self) -> bool:
        return self.role == "admin"


def identify(settings: Settings, token: str) -> Organiser | None:
    """The organiser this token belongs to, or None. Every login is compared, in constant
    time, so how long it takes says nothing about which one nearly matched."""
    token = token.strip()
    if not token:
        return None
    found = None
    if settings.admin_token and hmac.compare_digest(token.encode(), settings.admin_token.encode()):
        found = Organiser("admin", "admin")
    digest = hashlib.sha256(token.encode()).hexdigest()
    for login in settings.campaign.logins:
        if hmac.compare_digest(digest, login.token_sha256) and found is None:
            found = Organiser(login.name, login.role)
    return found


def same(given: str | None, expected: str) -> bool:
    """A CSRF token check: present, and equal in constant time."""
    return bool(given) and hmac.compare_digest(str(given).encode(), expected.encode())


def secure(settings: Settings, request_is_secure: bool) -> bool:
    """Whether cookies get the Secure flag: served over https, directly or behind a proxy
    that the public URL names."""
    return request_is_secure or settings.public_url.startswith("https://")


def require_admin(session: Session) -> None:
    """Refuse (403) a viewer's attempt to change something."""
    if session.role != "admin":
        abort(403, f"{session.name} is a viewer: viewers may look, not change things")
