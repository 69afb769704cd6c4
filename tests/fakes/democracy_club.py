"""A fake of Democracy Club's developer API: ``/api/v1/postcode/<postcode>/`` over a
fixed table, refusing a missing or wrong ``auth_token`` with 401 as the real one does."""

from __future__ import annotations

from collections.abc import Mapping

from tests.fakes.server import FakeServer, Recorded, Response


class FakeDemocracyClub(FakeServer):
    """Postcode (no space, upper case) -> (address lines, postcode) of its station."""

    def __init__(self, token: str, stations: Mapping[str, tuple[str, str]]) -> None:
        super().__init__()
        self.token, self.stations = token, dict(stations)
        self.fail_status: int | None = None

    def handle(self, rec: Recorded) -> Response:
        if self.fail_status is not None:
            return self.fail_status, {"detail": "Internal server error"}
        if rec.query.get("auth_token") != self.token:
            return 401, {"detail": "Invalid token."}
        parts = rec.path.strip("/").split("/")
        if parts[:3] != ["api", "v1", "postcode"] or len(parts) != 4:
            return 404, {"detail": "Not found."}
        postcode = parts[3].upper()
        known = postcode in self.stations
        station = None
        if known:
            address, station_postcode = self.stations[postcode]
            props = {"address": address, "postcode": station_postcode}
            station = {"id": "s1", "type": "Feature", "geometry": None, "properties": props}
        date = {"date": "2029-05-03", "notifications": [],
                "polling_station": {"polling_station_known": known, "custom_finder": None,
                                    "report_problem_url": None, "station": station}}  # fmt: skip
        return 200, {"address_picker": False, "addresses": [], "dates": [date],
                     "electoral_services": None, "registration": None}  # fmt: skip
