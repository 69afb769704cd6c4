"""The web process: webhooks, health. ``create_app()`` is what gunicorn serves.

A webhook request only verifies, parses, dedupes and queues (one Redis script and, for
the first message of a burst, one RQ enqueue); it never calls a platform API.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import redis
from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from bot.admin.api import blueprint as admin_blueprint
from bot.channels import ParseError, telegram, twilio
from bot.config import Settings, load_settings
from bot.http import json_error
from bot.store import Store

MAX_BODY = 64 * 1024
OK = b'{"ok":true}'  # the same answer every time, without building it
log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> Flask:
    """Build the Flask app from settings (default: environment and config.yaml)."""
    settings = settings or load_settings()
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY
    r = redis.Redis.from_url(settings.redis_url or "redis://127.0.0.1:6379/0")
    store = Store(r, settings.key_prefix, settings.id_secret)
    app.extensions["pollday"] = {"settings": settings, "redis": r, "store": store}

    app.register_blueprint(admin_blueprint(settings, store))

    @app.post("/webhooks/telegram")
    def telegram_webhook() -> Any:
        if not settings.telegram_on:
            return json_error(404, "telegram channel is not configured")
        if not telegram.verify(settings.telegram_secret, request.headers):
            return json_error(403, "bad or missing secret token")
        update = request.get_json(silent=True)
        if update is None:
            return json_error(400, "body is not JSON")
        try:
            messages = telegram.parse(update, time.time())
        except ParseError as exc:
            return json_error(400, str(exc))
        store.inbox.accept(messages, settings.campaign.message_quota)
        return Response(OK, mimetype="application/json")

    @app.post("/webhooks/twilio")
    def twilio_webhook() -> Any:
        if not settings.twilio_on:
            return json_error(404, "twilio channels are not configured")
        form = request.form.to_dict()
        url = settings.public_url + request.full_path.rstrip("?")
        signature = request.headers.get(twilio.SIGNATURE_HEADER, "")
        if not twilio.verify(settings.twilio_auth_token, url, form, signature):
            return json_error(403, "bad or missing X-Twilio-Signature")
        try:
            messages = twilio.parse(form, time.time())
        except ParseError as exc:
            return json_error(400, str(exc))
        on = {"whatsapp": settings.twilio_whatsapp_from, "sms": settings.twilio_sms_from}
        wanted = [m for m in messages if on.get(m.channel)]
        store.inbox.accept(wanted, settings.campaign.message_quota)
        return Response(twilio.EMPTY_TWIML, mimetype="text/xml")

    @app.get("/healthz")
    def healthz() -> Any:
        try:
            r.ping()
        except redis.RedisError:
            return jsonify(status="unavailable", redis="down"), 503
        return jsonify(status="ok", redis="ok")

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Any:
        return json_error(exc.code or 500, exc.description or exc.name)

    @app.errorhandler(redis.RedisError)
    def redis_down(exc: redis.RedisError) -> Any:
        log.error("redis unavailable: %s", type(exc).__name__)
        return json_error(503, "storage unavailable, try again")

    return app
