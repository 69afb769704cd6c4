"""Where someone votes: Democracy Club's developer API, when ``DEMOCRACY_CLUB_API_KEY`` is
set (https://developers.democracyclub.org.uk/api/v1/postcode/<postcode>/).

Optional and never worth a failed turn: without a key, or when the API is slow, down or
does not know the postcode's station, the morning message links to Democracy Club's own
finder for the postcode instead (handlers/say.where_to_vote). Answers are kept for the
process's life (a station does not change on the day, and many people share a postcode).
"""

from __future__ import annotations

import logging
import threading
from typing import Any
from urllib.parse import quote

import requests

log = logging.getLogger(__name__)
DEFAULT_URL = "https://developers.democracyclub.org.uk/api/v1"


class PollingStations:
    """The polling station for a postcode, from Democracy Club's API."""

    def __init__(self, api_key: str, base_url: str = DEFAULT_URL, timeout: float = 3.0) -> None:
        self._key, self._base = api_key, base_url.rstrip("/")
        self._timeout = timeout
        self._session = requests.Session()
        self._known: dict[str, str | None] = {}
        self._lock = threading.Lock()

    def station(self, postcode: str) -> str | None:
        """``address, postcode`` of the polling station, or None (unknown, or not now)."""
        with self._lock:
            if postcode in self._known:
                return self._known[postcode]
        url = f"{self._base}/postcode/{quote(postcode.replace(' ', ''), safe='')}/"
        try:
            answer = self._session.get(url, params={"auth_token": self._key},
                                       timeout=self._timeout)  # fmt: skip
        except requests.RequestException as exc:
            log.warning("Democracy Club API unavailable: %s", type(exc).__name__)
            return None  # not kept: it may answer next time
        if answer.status_code != 200:
            log.warning("Democracy Club API answered HTTP %d", answer.status_code)
            return None
        try:
            found = _station(answer.json())
        except (ValueError, TypeError, KeyError, AttributeError):
            log.warning("Democracy Club API sent an answer we cannot read")
            return None
        with self._lock:
            self._known[postcode] = found
        return found


def _station(body: dict[str, Any]) -> str | None:
    """The next election date's station, as ``address, postcode`` on one line."""
    dates = body.get("dates") or []
    if not dates or not dates[0]["polling_station"]["polling_station_known"]:
        return None
    props = dates[0]["polling_station"]["station"]["properties"]
    lines = [line.strip() for line in str(props.get("address") or "").splitlines()]
    where = ", ".join(line for line in lines if line)
    postcode = str(props.get("postcode") or "").strip()
    return f"{where}, {postcode}" if where and postcode else where or None
