"""The one shape of every error the web process returns: JSON with a reason, never a page."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify


def json_error(status: int, reason: str, **extra: Any) -> tuple[Response, int]:
    """``{"ok": false, "error": reason, ...}`` with ``status``."""
    return jsonify(ok=False, error=reason, **extra), status
