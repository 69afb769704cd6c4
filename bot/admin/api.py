"""The organiser API under /admin/api/: JSON, every call needing ``Bearer <token>`` (the
``ADMIN_TOKEN`` or a named login's, bot/admin/auth.py; a viewer's token only reads)."""

from __future__ import annotations

from functools import cache
from typing import Any

from flask import Blueprint, jsonify, request

from bot import organising
from bot.admin.auth import identify
from bot.broadcasts import Audience, AudienceError, render, text_problem
from bot.config import Settings
from bot.geo import Geocoder, make_geocoder
from bot.http import json_error
from bot.rooms import CsvError, Upload
from bot.store import Store
from bot.store.broadcasts import Broadcasts

MAX_UPLOAD = 16 * 1024 * 1024  # a spreadsheet of thousands of rooms, not a webhook


def blueprint(settings: Settings, store: Store) -> Blueprint:
    """The organiser routes, bound to one settings object and store."""
    bp = Blueprint("admin", __name__, url_prefix="/admin/api")
    campaign = settings.campaign

    @cache
    def geocoder() -> Geocoder:
        return make_geocoder(settings.geocoder, settings.var_dir / "geo", settings.postcodes_io_url)

    @bp.before_request
    def authorise() -> Any:
        request.max_content_length = MAX_UPLOAD
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        who = identify(settings, token) if scheme == "Bearer" else None
        if who is None:
            return json_error(401, "missing or wrong Authorization: Bearer token")
        if request.method not in ("GET", "HEAD") and not who.can_act:
            return json_error(403, f"{who.name} is a viewer: viewers may only read")
        return None

    def _forced() -> bool:
        return request.args.get("force", "").lower() in ("1", "true", "yes")

    @bp.get("/rooms")
    def rooms() -> Any:
        return jsonify(rooms=organising.rooms_report(store, campaign))

    @bp.post("/rooms/<room_id>/coordinator-link")
    def coordinator_link(room_id: str) -> Any:
        base = settings.public_url or request.host_url
        made = organising.coordinator_link(store, campaign, room_id, base)
        if made is None:
            return json_error(404, f"no room {room_id!r}")
        return jsonify(made), 201

    @bp.delete("/rooms/<room_id>/coordinator-link")
    def revoke_coordinator_link(room_id: str) -> Any:
        if not store.coordinators.revoke(room_id):
            return json_error(404, f"room {room_id!r} has no coordinator link")
        return "", 204

    @bp.get("/backfills")
    def backfills() -> Any:
        return jsonify(
            backfills=organising.backfills(store, campaign), moves=organising.moves(store, campaign)
        )

    @bp.get("/summary")
    def summary() -> Any:
        return jsonify(organising.summary(store, campaign))

    @bp.post("/rooms/import")
    def import_rooms() -> Any:
        try:
            result = organising.import_rooms(
                store, campaign, _upload(), geocoder(), force=_forced()
            )
        except CsvError as exc:
            return json_error(400, "the file was not loaded", errors=exc.problems)
        except organising.RoomsInUse as exc:
            return json_error(
                409, f"{exc}; nothing changed (add ?force=1 to move them)", rooms=exc.rooms
            )
        return jsonify(ok=True, **vars(result))

    @bp.post("/targets/import")
    def import_targets() -> Any:
        try:
            result = organising.import_targets(store, _upload(), force=_forced())
        except CsvError as exc:
            return json_error(400, "the file was not loaded", errors=exc.problems)
        except organising.NoTargets as exc:
            return json_error(409, str(exc))
        return jsonify(ok=True, **vars(result))

    @bp.post("/broadcasts")
    def create_broadcast() -> Any:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return json_error(400, "expected a JSON object with text, audience, dry_run")
        text = body.get("text")
        if problem := text_problem(text):
            return json_error(400, problem)
        if not isinstance(body.get("dry_run", False), bool):
            return json_error(400, "dry_run: expected true or false")
        directory = organising.directory(store)
        try:
            audience = Audience.parse(body.get("audience"), campaign, directory)
        except AudienceError as exc:
            return json_error(400, str(exc))
        bc = Broadcasts(store)
        recipients, no_consent = bc.select(audience, directory, campaign.rate_limits)
        if body.get("dry_run"):
            sample = render(text.strip(), campaign)
            return jsonify(recipients=len(recipients), no_consent=no_consent, sample=sample)
        if not recipients:
            return json_error(
                409,
                f"no recipients: nobody in this audience has agreed to updates ({no_consent} "
                "did not); nothing was sent",
            )
        bid = bc.create(text.strip(), audience, recipients, no_consent, launch=True)
        return jsonify(id=bid, recipients=len(recipients)), 202

    @bp.get("/broadcasts")
    def list_broadcasts() -> Any:
        """The last 20 broadcasts, newest first, each as its status."""
        bc = Broadcasts(store)
        return jsonify(broadcasts=[s for b in bc.recent(20) if (s := bc.status(b))])

    @bp.get("/broadcasts/<int:bid>")
    def broadcast_status(bid: int) -> Any:
        status = Broadcasts(store).status(bid)
        return jsonify(status) if status else json_error(404, f"no broadcast {bid}")

    @bp.post("/broadcasts/<int:bid>/cancel")
    def cancel_broadcast(bid: int) -> Any:
        bc = Broadcasts(store)
        if not bc.meta(bid):
            return json_error(404, f"no broadcast {bid}")
        if not bc.cancel(bid):
            return json_error(409, f"broadcast {bid} has already ended")
        return jsonify(bc.status(bid))

    return bp


def _upload() -> Upload:
    """The CSV from a multipart ``file`` field, or the raw request body."""
    if request.mimetype == "multipart/form-data":
        f = request.files.get("file")
        return Upload(f.filename or "upload.csv", f.read()) if f else Upload("upload.csv", b"")
    # Any other body is the CSV itself (curl --data-binary sends it as a form type).
    return Upload("upload.csv", request.get_data())
