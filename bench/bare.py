"""The baseline for the ingest benchmark: a bare Flask endpoint that answers 200."""

from __future__ import annotations

from flask import Flask


def create_app() -> Flask:
    """One POST route returning 200 (and /healthz, for start-up), served with the
    Procfile's gunicorn settings."""
    app = Flask(__name__)

    @app.get("/healthz")
    def healthz() -> tuple[str, int]:
        return "ok", 200

    @app.post("/webhooks/telegram")
    def ok() -> tuple[str, int]:
        return "ok", 200

    return app
