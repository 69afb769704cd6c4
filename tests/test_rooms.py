"""Rooms and targets from CSV (row-and-column errors, all or nothing) and the ranking rule."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from bot.geo import GeocoderUnavailable, OfflineGeocoder
from bot.model.message import Location
from bot.rooms import CsvError, Directory, load_rooms, load_targets, seat_key, write_rooms_csv
from tests.world import room

ROOT = Path(__file__).resolve().parent.parent
SHIFTS = ("morning", "afternoon", "evening")
HEADER = "id,name,address,postcode,constituency,latitude,longitude,capacity,capacity_evening\n"
GOOD_ROW = "r1,Hall,1 High St,N7 6AA,Hendon,51.55,-0.11,4,\n"


class DictGeocoder:
    """A Geocoder over a dict, standing in for the offline index in these tables."""

    def __init__(self, known: dict[str, Location], down: bool = False) -> None:
        self.known, self.down = known, down

    def locate(self, postcode: str) -> Location | None:
        if self.down:
            raise GeocoderUnavailable("timeout")
        return self.known.get(postcode)


def write(tmp_path: Path, text: str, name: str = "rooms.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_rooms_load_with_capacity_overrides_and_geocoding(tmp_path):
    path = write(
        tmp_path,
        HEADER + GOOD_ROW + "r2,Centre,2 Low St,sw1a1aa,E14001172,,,,12\n",
    )
    geo = DictGeocoder({"SW1A 1AA": Location(51.501, -0.1416)})
    r1, r2 = load_rooms(path, SHIFTS, geo)
    assert r1.capacity == {"morning": 4, "afternoon": 4, "evening": 4}
    assert r2.capacity == {"morning": 10, "afternoon": 10, "evening": 12}
    assert r2.postcode == "SW1A 1AA" and r2.location == Location(51.501, -0.1416)
    assert r2.seat == "E14001172"
    # Shown by name, whichever way the spreadsheet wrote it.
    assert (r1.constituency, r2.constituency) == ("Hendon", "Cities of London and Westminster")


@pytest.mark.parametrize(
    "row, problem",
    [
        ("r1,,1 High St,N7 6AA,Hendon,51.5,-0.1,4,", "row 2, column name: empty"),
        ("r 1,Hall,1 High St,N7 6AA,Hendon,51.5,-0.1,4,", "row 2, column id: use 1-40"),
        (
            "r1,Hall,1 High St,N7,Hendon,51.5,-0.1,4,",
            "row 2, column postcode: not a full UK postcode",
        ),
        ("r1,Hall,1 High St,N7 6AA,Hendon,51.5,-0.1,four,", "row 2, column capacity: expected"),
        ("r1,Hall,1 High St,N7 6AA,Hendon,51.5,-0.1,4,-1", "row 2, column capacity_evening:"),
        (
            "r1,Hall,1 High St,N7 6AA,Hendon,north,-0.1,4,",
            "row 2, column latitude: expected a number",
        ),
        (
            "r1,Hall,1 High St,N7 6AA,Hendon,40.7,-74.0,4,",
            "row 2, column latitude: 40.7,-74.0 is not",
        ),
        ("r1,Hall,1 High St,N7 9ZZ,Hendon,,,4,", "row 2, column postcode: N7 9ZZ is not a known"),
        ("r1,Hall,1 High St,N7 6AA,,51.5,-0.1,4,", "row 2, column constituency: empty"),
        (
            "r1,Hall,1 High St,N7 6AA,Hendn,51.5,-0.1,4,",
            "row 2, column constituency: 'Hendn' is not a UK constituency: did you mean Hendon?",
        ),
        ("r1,Hall,1 High St,N7 6AA,E14999999,51.5,-0.1,4,", "row 2, column constituency: 'E1499"),
        # Digits to Python's isdigit(), not to a spreadsheet: a row error, never a crash.
        ("r1,Hall,1 High St,N7 6AA,Hendon,51.5,-0.1,²,", "row 2, column capacity: expected"),
        ("r1,Hall,1 High St,N7 6AA,Hendon,51.5,-0.1,4,٣", "row 2, column capacity_evening:"),
        ("r1,Hall,1 High St,N7 6AA,Hendon,51.5,-0.1,１０,", "row 2, column capacity: expected"),
    ],
)
def test_bad_row_names_row_column_and_reason(tmp_path, row, problem):
    path = write(tmp_path, HEADER + row + "\n")
    with pytest.raises(CsvError) as err:
        load_rooms(path, SHIFTS, DictGeocoder({}))
    assert any(p.startswith(problem) for p in err.value.problems), err.value.problems
    assert str(err.value).startswith(f"{path}: ")


def test_every_bad_row_is_reported_and_nothing_is_loaded(tmp_path):
    text = HEADER + GOOD_ROW + "r2,,x,N7 6AA,Hendon,51.5,-0.1,1,\n" + GOOD_ROW
    with pytest.raises(CsvError) as err:
        load_rooms(write(tmp_path, text), SHIFTS, None)
    assert err.value.problems == [
        "row 3, column name: empty",
        "row 4, column id: duplicate id 'r1'",
    ]


def test_unknown_shift_column_and_missing_columns(tmp_path):
    with pytest.raises(CsvError, match="row 1, column capacity_night: no shift 'night'"):
        load_rooms(write(tmp_path, "id,name,address,postcode,constituency,capacity_night\n"),
                   SHIFTS, None)  # fmt: skip
    with pytest.raises(CsvError, match="row 1: missing column.s. postcode, constituency"):
        load_rooms(write(tmp_path, "id,name,address\n"), SHIFTS, None)


def test_geocoder_down_asks_for_coordinates(tmp_path):
    path = write(tmp_path, HEADER + "r1,Hall,1 High St,N7 6AA,Hendon,,,4,\n")
    with pytest.raises(CsvError, match="could not be looked up .timeout.; add latitude"):
        load_rooms(path, SHIFTS, DictGeocoder({}, down=True))


def test_file_problems(tmp_path):
    with pytest.raises(CsvError, match="file not found"):
        load_rooms(tmp_path / "missing.csv", SHIFTS, None)
    (tmp_path / "bin.csv").write_bytes(b"\xff\xfe\x00id")
    with pytest.raises(CsvError, match="not a readable UTF-8 CSV"):
        load_rooms(tmp_path / "bin.csv", SHIFTS, None)


def test_targets(tmp_path):
    good = write(tmp_path, "constituency,priority\nHendon,1\nE14001172,2\n", "t.csv")
    assert load_targets(good) == {"E14001279": 1, "E14001172": 2}  # keyed by GSS code
    both = write(tmp_path, "constituency,priority,gss_code\nhendon,1,E14001279\n", "t.csv")
    assert load_targets(both) == {"E14001279": 1}  # rooms may use either
    bad = write(
        tmp_path,
        "constituency,priority,gss_code\nHendon,1,\nHENDON,2,\n,x,\nHendn,3,\nHendon,4,E14001172\n",
        "t.csv",
    )
    with pytest.raises(CsvError) as err:
        load_targets(bad)
    assert err.value.problems == [
        "row 3, column constituency: 'HENDON' is listed twice",
        "row 4, column constituency: empty",
        "row 4, column priority: expected a whole number >= 1, got 'x'",
        "row 5, column constituency: 'Hendn' is not a UK constituency: did you mean Hendon?",
        "row 6, column constituency: 'Hendon' is listed twice",
        "row 6, column gss_code: E14001172 is Cities of London and Westminster, not Hendon",
    ]


@pytest.mark.parametrize(
    "a, b",
    [
        ("Bethnal Green and Stepney", "bethnal green & stepney"),
        ("Ynys Môn", "ynys môn"),
        ("Stoke-on-Trent South", "Stoke on Trent South"),
        ("e14001172", "E14001172"),
    ],
)
def test_seat_names_match_loosely(a, b):
    assert seat_key(a) == seat_key(b)


def test_sample_rooms_and_targets_load_with_the_offline_geocoder(geo_cache):
    rooms = load_rooms(ROOT / "data" / "rooms.csv", SHIFTS, OfflineGeocoder.open(geo_cache))
    targets = load_targets(ROOT / "data" / "targets.csv")
    directory = Directory(rooms, targets)
    assert len(rooms) == 36
    # Rooms naming their seat by GSS code match targets named by name, through gss_code.
    assert sorted(r.id for r in directory.unmatched()) == [
        "archway", "holloway", "hoxton", "somers-town", "stoke-town", "swansea"
    ]  # fmt: skip
    assert {directory.priority(directory.rooms[i]) for i in ("parsons-green", "llanelli")} == {
        4, 13
    }  # fmt: skip


def test_choose_ranks_by_distance_with_priority_for_near_ties():
    # Three target rooms at 0.5, 1.2 and 5 km north of the origin; one safe-seat room at 0.1.
    rooms = [
        room("near", "Low Priority", 51.5045, -0.1),
        room("tie", "High Priority", 51.5108, -0.1),
        room("far", "High Priority", 51.545, -0.1),
        room("safe", "Safe", 51.5009, -0.1),
    ]
    d = Directory(rooms, {"low priority": 5, "high priority": 1})
    origin = Location(51.5, -0.1)
    left = lambda pairs: [1] * len(pairs)  # noqa: E731
    assert [o.room_id for o in d.choose(origin, ["morning"], left, tie_km=1.0)] == [
        "tie",
        "near",
        "far",
    ]
    assert [o.room_id for o in d.choose(origin, ["morning"], left, tie_km=0.5)] == [
        "near",
        "tie",
        "far",
    ]
    full_tie = lambda pairs: [0 if r == "tie" else 1 for r, _ in pairs]  # noqa: E731
    assert [o.room_id for o in d.choose(origin, ["morning"], full_tie, 1.0)] == ["near", "far"]


def test_choose_over_10000_rooms_finds_the_true_nearest():
    import random

    rng = random.Random(7)
    rooms = [
        room(f"r{i}", f"Seat {i % 300}", rng.uniform(50, 56), rng.uniform(-5, 1))
        for i in range(10_000)
    ]
    d = Directory(rooms, {f"seat {i}": 1 for i in range(300)})
    origin = Location(52.5, -1.9)
    best = d.choose(origin, ["morning"], lambda p: [1] * len(p), tie_km=0.0)[0]
    from bot.geo import distance_km

    want = min(rooms, key=lambda r: distance_km(origin, r.location))
    assert best.room_id == want.id


def test_a_rooms_file_with_only_a_header_is_refused(tmp_path):
    with pytest.raises(CsvError) as err:
        load_rooms(write(tmp_path, HEADER), SHIFTS, DictGeocoder({}))
    assert err.value.problems == ["row 2: no rooms, only a header (nothing was changed)"]


@pytest.mark.parametrize("priority", ["²", "١", "１"])
def test_a_unicode_digit_priority_is_a_row_error(tmp_path, priority):
    path = write(tmp_path, f"constituency,priority\nHendon,{priority}\n", "t.csv")
    with pytest.raises(CsvError) as err:
        load_targets(path)
    assert err.value.problems == [
        f"row 2, column priority: expected a whole number >= 1, got {priority!r}"
    ]


def test_a_room_kept_with_its_seat_code_is_shown_by_name_and_matched_by_code():
    kept = room("x", "E14001160", 51.48, -0.2)  # as stored before seats were resolved
    assert kept.seat_name == "Chelsea and Fulham" and kept.seat == "E14001160"
    # Targets stored by name before codes were the key still match it.
    assert Directory([kept], {"chelsea and fulham": 2}).priority(kept) == 2


FACTS_HEADER = (
    "id,name,address,postcode,constituency,latitude,longitude,step_free,bring,parking,notes\n"
)


@pytest.mark.parametrize(
    "cells, facts",
    [
        (",,,", (None, "", "", "")),  # nothing said: nothing shown
        ("yes,Comfy shoes,Free after 6pm,", (True, "Comfy shoes", "Free after 6pm", "")),
        ("N,,,Ring the bell twice", (False, "", "", "Ring the bell twice")),
        ("TRUE, a brolly ,,", (True, "a brolly", "", "")),
    ],
)
def test_a_rooms_facts_are_optional_columns(tmp_path, cells, facts):
    row = f"r1,Hall,1 High St,N7 6AA,Hendon,51.5,-0.1,{cells}\n"
    (r,) = load_rooms(write(tmp_path, FACTS_HEADER + row), SHIFTS, None)
    assert (r.step_free, r.bring, r.parking, r.notes) == facts


@pytest.mark.parametrize(
    "cells, problem",
    [
        ("maybe,,,", "row 2, column step_free: expected yes, no or nothing, got 'maybe'"),
        (f",{'x' * 201},,", "row 2, column bring: at most 200 characters"),
        (f",,,{'x' * 201}", "row 2, column notes: at most 200 characters"),
    ],
)
def test_a_bad_fact_is_a_row_error(tmp_path, cells, problem):
    path = write(tmp_path, FACTS_HEADER + f"r1,Hall,1 High St,N7 6AA,Hendon,51.5,-0.1,{cells}\n")
    with pytest.raises(CsvError) as err:
        load_rooms(path, SHIFTS, None)
    assert any(p.startswith(problem) for p in err.value.problems), err.value.problems


def test_the_rooms_download_loads_back_the_same_facts_and_all(tmp_path):
    text = FACTS_HEADER + (
        'r1,Hall,1 High St,N7 6AA,Hendon,51.5,-0.1,no,"Shoes, a brolly",,Bell\n'
        "r2,Centre,2 Low St,N7 6AB,Hendon,51.6,-0.2,,,Car park,\n"
    )
    rooms = load_rooms(write(tmp_path, text), SHIFTS, None)
    out = io.StringIO()
    write_rooms_csv(rooms, SHIFTS, out)
    assert load_rooms(write(tmp_path, out.getvalue(), "again.csv"), SHIFTS, None) == rooms
