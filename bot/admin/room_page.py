"""A room coordinator's phone page, /room/<token>: the one room the secret link opens, with
who is expected per shift, check-in for someone without a phone, "we need N more", "we
have N too many", and a message relayed to everyone expected (replies shown below it).

The link is the only key (no sign-in on a busy polling day), so the page never shows a
number or chat id, sends no referrer, is not cached, is masked in the request logs, and
stops working when revoked or when polling day ends. Actions are forms that post back and
redirect (a reload never sends a message twice). The logic is bot/coordinating.py.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, redirect, render_template, request
from flask.blueprints import BlueprintSetupState

from bot import coordinating, daytime
from bot.campaign import Campaign
from bot.config import Settings
from bot.coordinating import Refused
from bot.store import Store

NOTES = {
    "checked_in": "Checked in.",
    "need": "Asking supporters nearby: the room now has {n} places for that shift.",
    "moves": "{n} of the people who arrived last have been asked if they would move.",
    "sent": "Sent to {n} people.",
}


Action = Callable[[Store, Campaign, str, Mapping[str, str], datetime], tuple[str, int | None]]


# The page's forms, /room/<token>/<action>: each does its part of bot/coordinating.py and
# names the note shown after it (with a number, for some).
ACTIONS: dict[str, Action] = {
    "checkin": lambda s, c, room, f, at: (
        "checked_in", coordinating.check_in(s, c, room, f.get("ref", ""), at)
    ),
    "need": lambda s, c, room, f, at: (
        "need", coordinating.need_more(s, c, room, f.get("shift", ""), f.get("n", ""), at)
    ),
    "too-many": lambda s, c, room, f, at: (
        "moves", coordinating.too_many(s, c, room, f.get("shift", ""), f.get("n", ""), at)
    ),
    "message": lambda s, c, room, f, at: (
        "sent", coordinating.message(s, c, room, f.get("text", ""), at)
    ),
}  # fmt: skip


_LINK = re.compile(r"(/room/)[^/?#\s\"]+")


def mask(text: str) -> str:
    """``text`` with any room link's token replaced."""
    return _LINK.sub(r"\1<link>", text) if "/room/" in text else text


class MaskLinks(logging.Filter):
    """Keeps the link's token out of the logs: gunicorn's access log (Procfile) writes each
    request line and the redirect's Location, werkzeug's that of the dev server, Flask's
    the path of a request that failed."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = mask(record.msg)
        if isinstance(record.args, dict):  # gunicorn's atoms: changed in place, so that
            for k, v in list(record.args.items()):  # its lookups ('-' if none) still work
                if isinstance(v, str):
                    record.args[k] = mask(v)
        elif isinstance(record.args, tuple):
            record.args = tuple(mask(a) if isinstance(a, str) else a for a in record.args)
        return True


MASK_LINKS = MaskLinks()  # one instance: a logger keeps a filter once, however many apps


def now() -> datetime:
    """The time of a coordinator's action (the day's: a rehearsal's runs fast)."""
    return daytime.now_dt()


def blueprint(settings: Settings, store: Store) -> Blueprint:
    """The coordinator pages, bound to one settings object and store."""
    bp = Blueprint("room", __name__, url_prefix="/room", template_folder="templates")
    campaign = settings.campaign

    @bp.record_once
    def quiet_links(state: BlueprintSetupState) -> None:
        for log in (logging.getLogger("gunicorn.access"), logging.getLogger("gunicorn.error"),
                    logging.getLogger("werkzeug"), state.app.logger):  # fmt: skip
            log.addFilter(MASK_LINKS)

    @bp.app_template_filter("clock")
    def clock(at: int) -> str:
        return datetime.fromtimestamp(at, campaign.timezone).strftime("%H:%M")

    @bp.after_request
    def private(resp: Response) -> Response:
        resp.headers["Referrer-Policy"] = "no-referrer"  # the link is the key: never passed on
        resp.headers["Cache-Control"] = "no-store"
        resp.headers["X-Robots-Tag"] = "noindex"
        return resp

    def page(token: str, status: int = 200, problem: str = "") -> Any:
        room_id = store.coordinators.room_of(token)
        # Its own room alone, afresh: the page refreshes every 15 s on every coordinator's
        # phone, and just after "we need N more" it shows the new places.
        room = store.rooms.room(room_id) if room_id else None
        if room is None:
            return render_template("room_gone.html", campaign=campaign), 404
        part = request.headers.get("X-Partial") and status == 200
        note = NOTES.get(request.args.get("note", ""), "")
        return render_template(
            "room_part.html" if part else "room.html", campaign=campaign, room=room,
            token=token, shifts=coordinating.shifts(store, campaign, room),
            sent=store.coordinators.sent(room.id), replies=store.coordinators.replies(room.id),
            note=note.format(n=request.args.get("n", "")) if note else "", problem=problem,
            now=f"{daytime.now_dt(campaign.timezone):%H:%M:%S}", limit=coordinating.MAX_MESSAGE,
        ), status  # fmt: skip

    @bp.get("/<token>")
    def show(token: str) -> Any:
        return page(token)

    @bp.post("/<token>/<action>")
    def act(token: str, action: str) -> Any:
        room_id = store.coordinators.room_of(token)
        if room_id is None or action not in ACTIONS:
            return page(token)
        try:
            note, n = ACTIONS[action](store, campaign, room_id, request.form, now())
        except Refused as exc:
            return page(token, 400, f"Sorry: {exc}.")
        shown = {"note": note} | ({"n": str(n)} if n is not None else {})
        return redirect(f"/room/{token}?" + urlencode(shown), 303)

    return bp
