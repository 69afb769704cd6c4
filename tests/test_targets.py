"""Tests for bot.results: target seats from the House of Commons Library results file."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from bot.rooms import CsvError, load_targets, seat_key
from bot.targets import Target, targets_from_results, write_targets_csv

SMALL = Path(__file__).resolve().parent / "data" / "results-small.csv"
REAL = (
    Path(__file__).resolve().parents[2]
    / "shared"
    / "data"
    / "ge2024"
    / "HoC-GE2024-results-by-constituency.csv"
)
needs_real = pytest.mark.skipif(
    not REAL.exists(), reason=f"real GE2024 results file not present at {REAL}"
)


def edited(tmp_path: Path, old: str, new: str) -> Path:
    """A copy of the small fixture with one piece of text replaced."""
    text = SMALL.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "results.csv"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def test_lab_targets_within_five_percent() -> None:
    targets = targets_from_results(SMALL, "lab", 5)
    assert [(t.constituency, t.priority, t.majority_pct) for t in targets] == [
        ("Aldershot", 1, 2.0),  # ties Bethnal Green & Stepney at 2%, first by name
        ("Bethnal Green & Stepney", 2, 2.0),  # Lab second
        ("Kingston upon Hull East", 3, 2.73),  # 1,234 / 45,123 = 2.7347...%
        ("Hendon", 4, 3.0),
        ("Glasgow North", 5, 5.0),  # exactly on the boundary, Lab second
    ]
    assert targets[1] == Target("Bethnal Green & Stepney", "E14001086", 2, 2.0, "Con", "Lab")
    assert targets[4].gss_code == "S14000085"


def test_excluded_seats() -> None:
    names = {t.constituency for t in targets_from_results(SMALL, "Lab", 100)}
    assert "Cardiff West" in names  # Lab first at 20%: only out at a tighter margin
    assert "Cardiff West" not in {t.constituency for t in targets_from_results(SMALL, "Lab", 19.99)}
    assert "Eastbourne" not in names  # Lab third
    assert "Chorley" not in names


def test_speaker_seat_is_never_a_target() -> None:
    # Green were second to the Speaker at about 60.6%, yet the seat is not contested.
    assert targets_from_results(SMALL, "Green", 100) == [
        Target("Aldershot", "E14001063", 1, 2.0, "Lab", "Green")
    ]
    assert targets_from_results(SMALL, "Spk", 100) == []


def test_boundary_just_below_excludes() -> None:
    assert "Glasgow North" not in {t.constituency for t in targets_from_results(SMALL, "Lab", 4.99)}


def test_other_party_and_no_matches() -> None:
    ld = [t.constituency for t in targets_from_results(SMALL, "LD", 10)]
    assert ld == ["Eastbourne", "Kingston upon Hull East"]
    assert targets_from_results(SMALL, "Green", 1) == []  # in the file, but no seat that close
    # A party that is not in the file at all: the parties it has, not an empty list.
    with pytest.raises(ValueError) as err:
        targets_from_results(SMALL, "PC", 50)
    assert str(err.value) == (
        "no party 'PC' in the results file; its parties are: Con, Green, LD, Lab, RUK, SNP"
    )


@pytest.mark.parametrize(
    "written, short",
    [
        ("Labour", "Lab"), ("labour party", "Lab"), ("LAB", "Lab"), ("Lab Co-op", "Lab"),
        ("Conservatives", "Con"), ("tory", "Con"), ("Lib Dems", "LD"),
        ("Liberal Democrat", "LD"), ("reform uk", "RUK"), ("Scottish National Party", "SNP"),
    ],
)  # fmt: skip
def test_the_party_as_people_write_it(written: str, short: str) -> None:
    assert targets_from_results(SMALL, written, 100) == targets_from_results(SMALL, short, 100)


@pytest.mark.parametrize("pct", [0, -1, 100.01])
def test_bad_percentage(pct: float) -> None:
    with pytest.raises(ValueError, match="max majority %"):
        targets_from_results(SMALL, "Lab", pct)


def test_empty_party() -> None:
    with pytest.raises(ValueError, match="party is empty"):
        targets_from_results(SMALL, "  ", 5)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CsvError) as err:
        targets_from_results(tmp_path / "nope.csv", "Lab", 5)
    assert err.value.problems == ["file not found"]


def test_missing_columns(tmp_path: Path) -> None:
    path = edited(tmp_path, "Valid votes,Invalid votes,Majority", "Votes,Invalid votes,Maj")
    with pytest.raises(CsvError) as err:
        targets_from_results(path, "Lab", 5)
    assert err.value.problems == ["row 1: missing column(s) Valid votes, Majority"]


def test_non_numeric_cells(tmp_path: Path) -> None:
    path = edited(tmp_path, '"35,000",80,700', "lots,80,7oo")
    with pytest.raises(CsvError) as err:
        targets_from_results(path, "Lab", 5)
    assert err.value.problems == [
        "row 3, column Valid votes: expected a whole number, got 'lots'",
        "row 3, column Majority: expected a whole number, got '7oo'",
    ]
    assert str(path) in str(err.value)


def test_zero_valid_votes(tmp_path: Path) -> None:
    path = edited(tmp_path, '"45,123",100,"1,234"', "0,100,0")
    with pytest.raises(CsvError, match=r"row 8, column Valid votes: is 0"):
        targets_from_results(path, "Lab", 5)


def test_majority_above_valid_votes(tmp_path: Path) -> None:
    path = edited(tmp_path, '"10,000",50,500', '"10,000",50,"10,001"')
    with pytest.raises(CsvError, match=r"row 7, column Majority: 10001 is more than"):
        targets_from_results(path, "Lab", 5)


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "results.csv"
    path.write_bytes(SMALL.read_bytes().replace(b"Aldershot", b"\xff\xfe Tie"))
    with pytest.raises(CsvError, match="not a readable UTF-8 CSV file"):
        targets_from_results(path, "Lab", 5)


def test_written_csv_loads_as_targets(tmp_path: Path) -> None:
    targets = targets_from_results(SMALL, "Lab", 5)
    out = io.StringIO()
    write_targets_csv(targets, out)
    lines = out.getvalue().splitlines()
    assert lines[0] == "constituency,priority,gss_code"
    assert lines[1] == "Aldershot,1,E14001063"
    path = tmp_path / "targets.csv"
    path.write_text(out.getvalue(), encoding="utf-8")
    loaded = load_targets(path)
    for t in targets:  # one key per seat, its GSS code, whichever way it is written
        assert loaded[seat_key(t.constituency)] == t.priority
        assert loaded[t.gss_code.upper()] == t.priority
    assert loaded[seat_key("bethnal green and stepney")] == 2
    assert len(loaded) == len(targets)


def test_empty_target_list_writes_header_only() -> None:
    out = io.StringIO()
    write_targets_csv([], out)
    assert out.getvalue() == "constituency,priority,gss_code\n"


@needs_real
def test_real_file_lab_ten_percent(tmp_path: Path) -> None:
    targets = targets_from_results(REAL, "Lab", 10)
    print(f"Lab within 10%: {len(targets)} seats; top 5: {targets[:5]}")
    assert len(targets) == 174  # 104 Lab holds/gains, 70 where Lab came second
    assert targets[0].constituency == "Hendon"  # majority 15 of 41,256
    assert targets[0].majority_pct == 0.04
    assert [t.priority for t in targets] == list(range(1, len(targets) + 1))
    assert [t.majority_pct for t in targets] == sorted(t.majority_pct for t in targets)
    for t in targets:
        assert "Lab" in (t.first, t.second)
        assert t.majority_pct <= 10
    assert "Chorley" not in {t.constituency for t in targets}
    # "Harborough, Oadby and Wigston" is among them: a name with commas must round-trip.
    path = tmp_path / "targets.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        write_targets_csv(targets, f)
    loaded = load_targets(path)
    assert loaded[seat_key("hendon")] == 1 and loaded["E14001279"] == 1
    assert seat_key("Harborough, Oadby and Wigston") in loaded
    assert len(loaded) == len(targets)


@needs_real
def test_real_file_lab_five_percent() -> None:
    targets = targets_from_results(REAL, "Lab", 5)
    assert len(targets) == 89
    assert [t.constituency for t in targets[:5]] == [
        "Hendon",
        "Poole",
        "Basildon and Billericay",
        "North West Cambridgeshire",
        "Central Devon",
    ]
    assert all(t.majority_pct <= 5 for t in targets)
