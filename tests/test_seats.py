"""The constituency table: every seat found by name or code however it is written, and
the closest names offered for what is none."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from bot.seats import seats

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT.parent / "shared" / "data" / "ge2024" / "HoC-GE2024-results-by-constituency.csv"


@pytest.mark.parametrize(
    "written, code, name",
    [
        ("Chelsea and Fulham", "E14001160", "Chelsea and Fulham"),
        ("E14001160", "E14001160", "Chelsea and Fulham"),
        ("e14001160", "E14001160", "Chelsea and Fulham"),
        ("  chelsea & fulham ", "E14001160", "Chelsea and Fulham"),
        ("CHELSEA AND FULHAM", "E14001160", "Chelsea and Fulham"),
        ("Ynys Mon", "W07000112", "Ynys Môn"),
        ("ynys môn", "W07000112", "Ynys Môn"),
        ("Montgomeryshire and Glyndwr", "W07000102", "Montgomeryshire and Glyndŵr"),
        ("Stoke on Trent South", "E14001522", "Stoke-on-Trent South"),
        ("Bury St. Edmunds and Stowmarket", "E14001146", "Bury St Edmunds and Stowmarket"),
        ("Belfast East", "N05000001", "Belfast East"),
    ],
)
def test_a_seat_is_found_however_it_is_written(written, code, name):
    seat = seats().resolve(written)
    assert seat is not None and (seat.code, seat.name) == (code, name)
    assert seats().key(written) == code and seats().name(written) == name


@pytest.mark.parametrize(
    "written, closest",
    [
        ("Hendn", ["Hendon"]),
        ("Islington Nrth", ["Islington North"]),
        ("Chelsea", ["Chelsea and Fulham"]),  # every word of it in a name
        ("Hull East", ["Kingston upon Hull East"]),
        ("Manchester", ["Manchester Central", "Manchester Rusholme", "Manchester Withington"]),
        ("E14999999", []),
        ("", []),
    ],
)
def test_what_is_no_seat_gets_the_closest_names(written, closest):
    assert seats().resolve(written) is None
    assert seats().suggest(written)[: len(closest)] == closest
    assert seats().name(written) == written.strip()  # shown as written


def test_the_table_has_every_seat_once():
    table = seats()
    assert len(table) == 650 and len(table.by_name) == 650
    countries = {s.country for s in table.by_code.values()}
    assert countries == {"England", "Scotland", "Wales", "Northern Ireland"}


def test_the_table_matches_the_house_of_commons_library_results():
    if not RESULTS.exists():
        pytest.skip(f"{RESULTS} is not here (../shared/data is only beside the project in CI)")
    with RESULTS.open(encoding="utf-8-sig", newline="") as f:
        source = {r["ONS ID"]: r["Constituency name"] for r in csv.DictReader(f)}
    assert {c: s.name for c, s in seats().by_code.items()} == source
