"""The organiser pages under /admin: sign-in, sign-out, the staffing board, rooms and
targets (the broadcast pages are bot/admin/broadcast_pages.py, on the same blueprint).

Server-rendered (Jinja, bot/admin/templates), styled from bot/admin/static, nothing from
elsewhere. A signed-out visitor is sent to the sign-in form whatever they asked for; a
viewer may look at everything and change nothing (see bot/admin/auth.py).
"""

from __future__ import annotations

import io
import secrets
from datetime import datetime
from functools import cache
from typing import Any
from urllib.parse import urlencode, urlsplit

import redis
from flask import Blueprint, Response, abort, g, make_response, redirect, render_template, request
from werkzeug.exceptions import HTTPException

from bot import daytime, organising, pulse
from bot.admin import auth, board, broadcast_pages
from bot.config import Settings
from bot.geo import Geocoder, make_geocoder
from bot.outage import OUTAGE
from bot.rooms import CsvError, Upload, write_rooms_csv
from bot.seats import seats as seat_table
from bot.store import Store
from bot.targets import targets_from_results, write_targets_csv

PUBLIC = {"pages.sign_in", "pages.sign_in_post", "pages.static"}


def blueprint(settings: Settings, store: Store) -> Blueprint:
    """The organiser pages, bound to one settings object and store."""
    bp = Blueprint(
        "pages", __name__, url_prefix="/admin", template_folder="templates", static_folder="static"
    )
    campaign = settings.campaign

    @cache
    def geocoder() -> Geocoder:  # for rooms given by postcode alone
        return make_geocoder(settings.geocoder, settings.var_dir / "geo", settings.postcodes_io_url)

    @bp.before_request
    def signed_in() -> Any:
        if request.endpoint == "pages.static":
            return None  # public, and served while Redis is away (the error page needs it)
        g.session = store.sessions.get(request.cookies.get(auth.SESSION_COOKIE, ""))
        if request.endpoint in PUBLIC:
            return None
        if g.session is None:
            return redirect("/admin/sign-in?" + urlencode({"next": request.full_path.rstrip("?")}))
        if request.method not in ("GET", "HEAD"):
            given = request.form.get("csrf") or request.headers.get(auth.CSRF_HEADER)
            if not auth.same(given, g.session.csrf):
                abort(400, "this form has expired or did not come from this site: reload it")
        return None

    @bp.errorhandler(HTTPException)
    def error_page(exc: HTTPException) -> Any:
        page = render_template("error.html", code=exc.code, reason=exc.description)
        return page, exc.code or 500

    @bp.errorhandler(redis.RedisError)
    def redis_down(exc: redis.RedisError) -> Any:
        OUTAGE.went(exc)  # logged once per outage, as the app's own handler does
        reason = ("The bot's database (Redis) is not answering, so nothing can be shown or "
                  "changed, and supporters' messages wait until it is back. This page works "
                  "again by itself when it is; /healthz says the same.")  # fmt: skip
        return render_template("error.html", code=503, reason=reason), 503

    @bp.get("/sign-in")
    def sign_in() -> Any:
        return _sign_in_form(settings, "", _next(), 200)

    @bp.post("/sign-in")
    def sign_in_post() -> Any:
        if store.sessions.attempt(request.remote_addr or "") > auth.SIGNIN_LIMIT:
            return _sign_in_form(settings, "Too many sign-in attempts from here: wait a minute "
                                 "and try again.", _next(), 429)  # fmt: skip
        pair = request.cookies.get(auth.SIGNIN_COOKIE, "")
        if not pair or not auth.same(request.form.get("csrf"), pair):
            return _sign_in_form(settings, "This form had expired: please sign in again.",
                                 _next(), 400)  # fmt: skip
        who = auth.identify(settings, request.form.get("token", ""))
        if who is None:
            return _sign_in_form(settings, "That token was not recognised.", _next(), 401)
        sid, _ = store.sessions.open(who.name, who.role)
        resp = redirect(_next())
        _cookie(settings, resp, auth.SESSION_COOKIE, sid, None)
        resp.delete_cookie(auth.SIGNIN_COOKIE, path="/admin")
        return resp

    @bp.post("/sign-out")
    def sign_out() -> Any:
        store.sessions.close(request.cookies.get(auth.SESSION_COOKIE, ""))
        resp = redirect("/admin/sign-in")
        resp.delete_cookie(auth.SESSION_COOKIE, path="/admin")
        return resp

    @bp.get("/")
    def staffing() -> Any:
        report = organising.rooms_report(store, campaign)
        labels = {s.id: s.label for s in campaign.shifts}
        args = request.args
        chosen = {
            "sort": args["sort"] if args.get("sort") in board.SORTS else "short",
            "seat": args.get("seat", ""),
            "shift": args["shift"] if args.get("shift") in labels else "",
        }
        shifts = board.shifts(report, labels, **chosen)
        health, _ = pulse.health(store, campaign)
        now = daytime.now_dt(campaign.timezone)
        page = "board_part.html" if request.headers.get("X-Partial") else "board.html"
        return render_template(
            page, campaign=campaign, session=g.session, shifts=shifts, chosen=chosen,
            labels=labels, sorts=board.SORTS, seats=board.seats(shifts), health=health,
            seat_names=sorted({r["constituency"] for r in report}), now=f"{now:%H:%M:%S}",
            summary=organising.summary(store, campaign),
            backfills=organising.backfills(store, campaign),
            moves=organising.moves(store, campaign),
            outside_window=store.pulse.counts().get("sends:whatsapp:outside_window", 0),
            chart=board.chart(store.pulse.timeline(), int(now.timestamp() // 3600)),
        )  # fmt: skip

    def rooms_page(status: int = 200, **shown: Any) -> Any:
        d = organising.directory(store)
        names = sorted((r.name, r.id) for r in d.rooms.values())
        page = render_template("rooms.html", campaign=campaign, session=g.session,
                               rooms=len(d.rooms), targets=len(d.targets), names=names,
                               **shown)  # fmt: skip
        return page, status

    def kept() -> tuple[str, Upload]:
        """The file a preview kept, for its "apply"."""
        uid = request.form.get("upload", "")
        upload = store.sessions.upload(uid)
        if upload is None:
            abort(410, "that file has gone (applied already, or over an hour old): upload it again")
        return uid, upload

    def done(what: str) -> Any:
        return redirect("/admin/rooms?" + urlencode({"done": what}))

    @bp.get("/rooms")
    def rooms() -> Any:
        return rooms_page(done=request.args.get("done", ""))

    @bp.post("/rooms/coordinator-link")
    def coordinator_link() -> Any:
        auth.require_admin(g.session)
        room_id = request.form.get("room", "")
        if request.form.get("action") == "revoke":
            if not store.coordinators.revoke(room_id):
                return rooms_page(404, errors=["that room has no coordinator link"])
            return rooms_page(done="the room's coordinator link no longer works")
        made = organising.coordinator_link(
            store, campaign, room_id, settings.public_url or request.host_url
        )
        if made is None:
            return rooms_page(404, errors=["choose a room"])
        return rooms_page(link=made)

    @bp.get("/rooms.csv")
    def rooms_csv() -> Any:
        out = io.StringIO()
        write_rooms_csv(organising.directory(store).rooms.values(), campaign.shift_ids, out)
        saved_as = {"Content-Disposition": "attachment; filename=rooms.csv"}
        return Response(out.getvalue(), mimetype="text/csv", headers=saved_as)

    @bp.post("/rooms/check")
    def rooms_check() -> Any:
        auth.require_admin(g.session)
        if (upload := _chosen_file()) is None:
            return rooms_page(400, errors=["choose a rooms CSV file first"])
        try:
            preview = organising.preview_rooms(store, campaign, upload, geocoder())
        except CsvError as exc:
            return rooms_page(400, errors=exc.problems, file=upload.name)
        uid = store.sessions.keep_upload(upload)
        return rooms_page(preview=preview, uid=uid, file=upload.name)

    @bp.post("/rooms/apply")
    def rooms_apply() -> Any:
        auth.require_admin(g.session)
        uid, upload = kept()
        try:
            result = organising.import_rooms(store, campaign, upload, geocoder(),
                                             force=request.form.get("move") == "yes")  # fmt: skip
        except CsvError as exc:
            return rooms_page(400, errors=exc.problems, file=upload.name)
        except organising.RoomsInUse as exc:
            return rooms_page(
                409, errors=[f"{exc}: tick the box to move them, or keep those rooms"]
            )
        store.sessions.drop_upload(uid)
        return done(f"{result.rooms} rooms loaded: {len(result.added)} added, "
                    f"{len(result.updated)} updated, {len(result.removed)} removed, "
                    f"{result.moved} people moved")  # fmt: skip

    @bp.post("/targets/check")
    def targets_check() -> Any:
        auth.require_admin(g.session)
        if (upload := _chosen_file()) is None:
            return rooms_page(400, errors=["choose a targets or results CSV file first"])
        try:
            if request.form.get("kind") == "results":
                upload = _chosen_targets(upload, request.form)
            targets, warnings = organising.preview_targets(store, upload)
        except CsvError as exc:
            return rooms_page(400, errors=exc.problems, file=upload.name)
        except (ValueError, organising.NoTargets) as exc:
            return rooms_page(400, errors=[str(exc)], file=upload.name)
        names = seat_table()  # targets are kept by GSS code; organisers read names
        seats = sorted((n, names.name(k)) for k, n in targets.items())
        uid = store.sessions.keep_upload(upload)
        return rooms_page(targets_preview=seats, warnings=warnings, uid=uid, file=upload.name)

    @bp.post("/targets/apply")
    def targets_apply() -> Any:
        auth.require_admin(g.session)
        uid, upload = kept()
        try:
            result = organising.import_targets(store, upload)
        except (CsvError, organising.NoTargets) as exc:
            return rooms_page(400, errors=[str(exc)], file=upload.name)
        store.sessions.drop_upload(uid)
        return done(f"{result.targets} target seats loaded")

    @bp.app_template_filter("clock")
    def clock(epoch: float | None) -> str:
        """A time of day in the campaign's time zone (with the day, if not today)."""
        if not epoch:
            return ""
        when = datetime.fromtimestamp(epoch, campaign.timezone)
        if when.date() == daytime.now_dt(campaign.timezone).date():
            return f"{when:%H:%M:%S}"
        return f"{when:%a %d %b %H:%M}"

    @bp.app_template_filter("duration")
    def duration(seconds: float) -> str:
        """A while, as a person would say it: 40 s, 3 min, 1 h 5 min."""
        if seconds < 60:
            return f"{max(1, round(seconds))} s"
        minutes = round(seconds / 60)
        return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"

    broadcast_pages.add_routes(bp, settings, store)
    return bp


def _chosen_file() -> Upload | None:
    """The file the form's ``file`` field carries; None if none was chosen."""
    f = request.files.get("file")
    return Upload(f.filename, f.read()) if f is not None and f.filename else None


def _chosen_targets(results: Upload, form: Any) -> Upload:
    """The targets chosen from the House of Commons results file, as a targets CSV."""
    try:
        pct = float(form.get("max_majority_pct", ""))
    except ValueError:
        raise ValueError("give the largest majority as a number, such as 10") from None
    chosen = targets_from_results(results, form.get("party", ""), pct)
    out = io.StringIO()
    write_targets_csv(chosen, out)
    return Upload(f"{results.name} ({form.get('party')} <= {pct:g}%)", out.getvalue().encode())


def _next() -> str:
    """Where to go after signing in: a page of ours, never another site."""
    target = request.values.get("next", "/admin/")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/admin"):
        return "/admin/"
    return target


def _cookie(settings: Settings, resp: Response, name: str, value: str, age: int | None) -> None:
    """Set one of our cookies: HttpOnly, SameSite=Lax, only for /admin, Secure over https."""
    secure = auth.secure(settings, request.is_secure)
    resp.set_cookie(name, value, max_age=age, path="/admin", httponly=True, samesite="Lax",
                    secure=secure)  # fmt: skip


def _sign_in_form(settings: Settings, error: str, next_url: str, status: int) -> Any:
    """The sign-in form, with a fresh token paired with a short-lived cookie."""
    pair = secrets.token_urlsafe(32)
    resp = make_response(
        render_template("sign_in.html", error=error, next=next_url, csrf=pair), status
    )
    _cookie(settings, resp, auth.SIGNIN_COOKIE, pair, 3600)
    return resp
