"""Which seat a postcode is in: mySociety's range file (a small one written here, and the
real one in ../shared/data when it is beside the project), and choosing the source."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.geo import PostcodesIoGeocoder
from bot.postcode_seats import RangeFile, Unknown, postcode_seats
from tests.conftest import SHARED_DATA

REAL = SHARED_DATA / "pcon2024" / "pcon_2024.json"


def _key(compact: str) -> int:
    return int(compact, 36)


def write_range_file(folder: Path, starts: list[int], values: list[int]) -> Path:
    """A range file as mySociety writes it: start differences, and values squeezed."""
    diffs = [starts[0]] + [b - a for a, b in zip(starts, starts[1:], strict=False)]
    path = folder / "pcon_2024.json"
    path.write_text(
        json.dumps(
            {
                "postcode_keys": diffs,
                "value_key": values,
                "value_values": [None, "UKPARL.2025.ISN", "UKPARL.2025.CLW"],
            }
        )
    )
    (folder / "pcon_2024_lookup.json").write_text(
        json.dumps(
            {
                "UKPARL.2025.ISN": {"parlcon_2024_gss_code": "E14001305"},
                "UKPARL.2025.CLW": {"parlcon_2024_gss_code": "E14001172"},
            }
        )
    )
    return path


def test_a_range_file_is_read_with_its_squeeze_undone(tmp_path: Path) -> None:
    starts = [_key("N76AA"), _key("N76BA"), _key("SW1A1AA"), _key("SW1A1BA"), _key("SW1A2AA")]
    # index+1: Islington North, none, Cities..., then 0 = "as two back" (none), then 0 again
    # (as two back: Cities...).
    path = write_range_file(tmp_path, starts, [2, 1, 3, 0, 0])
    seats = RangeFile.open(path)
    assert len(seats) == 5
    found = {
        postcode: (seat.name if (seat := seats.seat_of(postcode)) else None)
        for postcode in ["N7 6AA", "n7 6az", "N7 6BA", "SW1A 1AA", "SW1A 1BB", "SW1A 2AA", "A1 1AA"]
    }
    assert found == {
        "N7 6AA": "Islington North",
        "n7 6az": "Islington North",
        "N7 6BA": None,  # a range with no seat
        "SW1A 1AA": "Cities of London and Westminster",
        "SW1A 1BB": None,
        "SW1A 2AA": "Cities of London and Westminster",
        "A1 1AA": None,  # before the first range
    }
    assert seats.seat_of("N7 6A!") is None


@pytest.mark.parametrize(
    "damage",
    [
        lambda folder: (folder / "pcon_2024_lookup.json").unlink(),
        lambda folder: (folder / "pcon_2024.json").write_text("{not json"),
        lambda folder: (folder / "pcon_2024.json").write_text('{"postcode_keys": [1]}'),
        lambda folder: (folder / "pcon_2024.json").write_text(
            '{"postcode_keys": [1, 2], "value_key": [1], "value_values": [null]}'
        ),
    ],
    ids=["no lookup beside it", "not json", "missing lists", "lists differ in length"],
)
def test_a_damaged_range_file_is_refused_naming_it(tmp_path: Path, damage) -> None:
    path = write_range_file(tmp_path, [_key("N76AA")], [2])
    damage(tmp_path)
    with pytest.raises(ValueError, match=str(path)):
        RangeFile.open(path)


def test_the_source_is_the_range_file_then_a_geocoder_that_names_seats(tmp_path: Path) -> None:
    path = write_range_file(tmp_path, [_key("N76AA")], [2])
    online = PostcodesIoGeocoder("http://127.0.0.1:9")
    assert isinstance(postcode_seats(online, path), RangeFile)
    assert postcode_seats(online, None) is online
    assert isinstance(postcode_seats(object(), None), Unknown)
    assert Unknown().seat_of("N7 6AA") is None
    with pytest.raises(ValueError, match="no-such.json"):
        postcode_seats(online, tmp_path / "no-such.json")


@pytest.mark.skipif(not REAL.exists(), reason=f"{REAL} is only beside the project in CI")
@pytest.mark.parametrize(
    "postcode, seat",
    [
        ("SW1A 1AA", "Cities of London and Westminster"),
        ("M1 1AD", "Manchester Central"),
        ("CF10 1EP", "Cardiff South and Penarth"),
        ("N7 6AA", "Islington North"),
        ("EH1 1YZ", "Edinburgh East and Musselburgh"),
    ],
)
def test_mysocietys_real_range_file(postcode: str, seat: str) -> None:
    found = RangeFile.open(REAL).seat_of(postcode)
    assert found is not None and found.name == seat
