"""A fake postcodes.io: postcode lookup, validation, reverse geocoding and bulk lookup.

Constructed with ``{postcode: (lat, lon)}``, ``(lat, lon, constituency)`` or a dict of result
fields (which must hold ``latitude`` and ``longitude``); postcodes in any case or spacing.
Answers are shaped like api.postcodes.io: ``{"status": 200, "result": {...}}`` or
``{"status": 404, "error": "Postcode not found"}`` ("Invalid postcode" when it is not one).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from .server import FakeServer, Recorded, Response

_FORMAT = re.compile(r"^[A-Z]{1,2}[0-9][A-Z0-9]? ?[0-9][A-Z]{2}$")
_LOOKUP = re.compile(r"^/postcodes/(?P<postcode>[^/]+)/?$")
_VALIDATE = re.compile(r"^/postcodes/(?P<postcode>[^/]+)/validate/?$")


def normalise(postcode: str) -> str:
    """Upper case with one space before the inward code: " n76aa" → "N7 6AA"."""
    compact = re.sub(r"\s+", "", postcode).upper()
    return f"{compact[:-3]} {compact[-3:]}" if len(compact) > 3 else compact


def _distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6_371_000 * math.asin(math.sqrt(a))


def _result(postcode: str, entry: Any) -> dict[str, Any]:
    outcode, incode = postcode.split(" ")
    if isinstance(entry, Mapping):
        fields = dict(entry)
    else:
        lat, lon, *rest = entry
        fields = {"latitude": lat, "longitude": lon}
        if rest:
            fields["parliamentary_constituency"] = rest[0]
    constituency = fields.get("parliamentary_constituency")
    result: dict[str, Any] = {
        "postcode": postcode,
        "quality": 1,
        "eastings": None,
        "northings": None,
        "country": "England",
        "nhs_ha": None,
        "longitude": None,
        "latitude": None,
        "european_electoral_region": None,
        "primary_care_trust": None,
        "region": None,
        "lsoa": None,
        "msoa": None,
        "incode": incode,
        "outcode": outcode,
        "parliamentary_constituency": constituency,
        "parliamentary_constituency_2024": constituency,
        "admin_district": None,
        "parish": None,
        "admin_county": None,
        "date_of_introduction": None,
        "admin_ward": None,
        "ced": None,
        "ccg": None,
        "nuts": None,
        "pfa": None,
        "codes": {},
    }
    result.update(fields)
    return result


class FakePostcodesIo(FakeServer):
    """Fake api.postcodes.io over a fixed table of postcodes."""

    def __init__(self, postcodes: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        self.postcodes = {normalise(pc): entry for pc, entry in (postcodes or {}).items()}
        self._fail_status: int | None = None

    def fail_all(self, status: int | None = 500) -> None:
        """Answer every request with ``status`` (None: answer normally again)."""
        with self._lock:
            self._fail_status = status

    def lookup(self, postcode: str) -> dict[str, Any] | None:
        """The result the fake gives for ``postcode``, or None."""
        key = normalise(postcode)
        return _result(key, self.postcodes[key]) if key in self.postcodes else None

    def handle(self, rec: Recorded) -> Response:
        with self._lock:
            fail_status = self._fail_status
        if fail_status is not None:
            return fail_status, {"status": fail_status, "error": "Internal server error"}
        if match := _VALIDATE.match(rec.path):
            return 200, {"status": 200, "result": self.lookup(match["postcode"]) is not None}
        if match := _LOOKUP.match(rec.path):
            return self._one(match["postcode"])
        if rec.path.rstrip("/") == "/postcodes" and rec.method == "GET" and "lat" in rec.query:
            return self._nearest(rec.query)
        if rec.path.rstrip("/") == "/postcodes" and rec.method == "POST":
            return self._bulk(rec.json)
        return 404, {"status": 404, "error": "Resource not found"}

    def _one(self, postcode: str) -> Response:
        result = self.lookup(postcode)
        if result is not None:
            return 200, {"status": 200, "result": result}
        if not _FORMAT.match(normalise(postcode)):
            return 404, {"status": 404, "error": "Invalid postcode"}
        return 404, {"status": 404, "error": "Postcode not found"}

    def _nearest(self, query: dict[str, str]) -> Response:
        try:
            lat, lon = float(query["lat"]), float(query.get("lon", query.get("lng", "")))
            radius = min(float(query.get("radius", 100)), 2000)
            limit = min(int(query.get("limit", 10)), 100)
        except ValueError:
            return 400, {"status": 400, "error": "Invalid longitude/latitude submitted"}
        found = []
        for postcode in self.postcodes:
            result = _result(postcode, self.postcodes[postcode])
            distance = _distance_m(lat, lon, result["latitude"], result["longitude"])
            if distance <= radius:
                found.append({**result, "distance": distance})
        found.sort(key=lambda r: r["distance"])
        return 200, {"status": 200, "result": found[:limit] or None}

    def _bulk(self, body: Any) -> Response:
        if not isinstance(body, dict) or not isinstance(body.get("postcodes"), list):
            return 400, {
                "status": 400,
                "error": "Invalid data submitted. You need to provide a "
                "JSON object with an array of postcodes as value to the key 'postcodes'",
            }
        results = [{"query": q, "result": self.lookup(str(q))} for q in body["postcodes"][:100]]
        return 200, {"status": 200, "result": results}
