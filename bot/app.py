"""The web process: webhooks, health. ``create_app()`` is what gunicorn serves.

A webhook request only verifies, parses, dedupes and queues (one Redis script and, for
the first message of a burst, one RQ enqueue); it never calls a platform API.
"""

from __future__ import annotations

import logging
from typing import Any

import redis
from flask import Flask, Response, jsonify, redirect, request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from werkzeug.exceptions import HTTPException

from bot import daytime, pulse, scrub
from bot.admin.api import blueprint as admin_blueprint
from bot.admin.pages import blueprint as pages_blueprint
from bot.admin.room_page import blueprint as room_blueprint
from bot.channels import Webhook, capabilities, enabled
from bot.config import Settings, load_settings
from bot.http import json_error
from bot.outage import OUTAGE
from bot.store import Store
from handlers.words import Command, command

MAX_BODY = 64 * 1024


def create_app(settings: Settings | None = None) -> Flask:
    """Build the Flask app from settings (default: environment and config.yaml)."""
    settings = settings or load_settings()
    if not logging.getLogger().handlers:  # under gunicorn: our records would go unfiltered
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    scrub.install()
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY
    r = redis.Redis.from_url(settings.redis_url or "redis://127.0.0.1:6379/0")
    store = Store(r, settings.key_prefix, settings.id_secret)
    app.extensions["pollday"] = {"settings": settings, "redis": r, "store": store}

    app.register_blueprint(admin_blueprint(settings, store))
    app.register_blueprint(pages_blueprint(settings, store))
    app.register_blueprint(room_blueprint(settings, store))

    @app.get("/")
    def home() -> Any:
        return redirect("/admin/")

    channels = enabled(settings)

    @app.post("/webhooks/<name>")
    def webhook(name: str) -> Any:
        channel = channels.get(name)
        if channel is None or not channel.receiving:
            return json_error(404, f"{name} channel is not configured")
        # Platforms sign the public URL, not the one Flask sees behind a proxy.
        url = settings.public_url + request.full_path.rstrip("?")
        hook = Webhook(url, request.headers, request.get_data(), request.content_type or "")
        got = channel.receive(hook, daytime.now())
        if got.status != 200:
            return json_error(got.status, got.reason)
        opt_outs = set()  # STOP and DELETE: never cut by the flood quota
        for msg in got.messages:
            cmd = command(msg.text) if msg.text else None
            # Both are honoured from this moment, whatever still waits in the queue ahead
            # of them: a broadcast checks before each send, and the replies to messages
            # ahead are held for this one's turn (bot/store/people.py).
            if cmd is Command.STOP:
                store.suppression.set_stopped(msg.address, True)
            elif cmd is Command.DELETE:
                store.leaving(msg.address)
            if cmd in (Command.STOP, Command.DELETE):
                opt_outs.add(msg.external_id)
        quota = settings.campaign.message_quota
        store.inbox.accept(got.messages, quota, _windowed, lambda m: m.external_id in opt_outs)
        return Response(channel.reply, mimetype=channel.reply_type)

    @app.get("/healthz")
    def healthz() -> Any:
        try:
            body, status = pulse.health(store, settings.campaign)
        except redis.RedisError as exc:
            OUTAGE.went(exc)
            return jsonify(status="unavailable", redis="down"), 503
        return jsonify(body), status

    metrics = pulse.registry(store)

    @app.get("/metrics")
    def metrics_() -> Any:
        try:
            return Response(generate_latest(metrics), mimetype=CONTENT_TYPE_LATEST)
        except redis.RedisError as exc:
            OUTAGE.went(exc)
            return json_error(503, "redis is unavailable")

    @app.after_request
    def redis_back(resp: Response) -> Response:
        if OUTAGE.down and resp.status_code < 500:  # a request got through: it is back
            OUTAGE.back()
        return resp

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Any:
        return json_error(exc.code or 500, exc.description or exc.name)

    @app.errorhandler(RecursionError)
    def too_deep(exc: RecursionError) -> Any:
        # json.loads gives up on very deep nesting with RecursionError, not a ValueError.
        return json_error(400, "body is JSON nested too deeply")

    @app.errorhandler(redis.RedisError)
    def redis_down(exc: redis.RedisError) -> Any:
        OUTAGE.went(exc)  # logged once per outage, not once per request
        return json_error(503, "storage unavailable, try again")

    return app


def _windowed(channel: str) -> bool:
    """Whether when someone last wrote matters on this channel (it has a reply window)."""
    return capabilities(channel).reply_window is not None
