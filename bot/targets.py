"""Target seats derived from the House of Commons Library general election results file.

The input is ``HoC-GE2024-results-by-constituency.csv`` (columns ``ONS ID``, ``Constituency
name``, ``First party``, ``Second party``, ``Valid votes``, ``Majority``, ...; numbers may be
quoted with thousands separators such as "72,580"). A seat is a target for a party when the
party came first or second and the majority is at most a given percentage of valid votes.
The output is the project's targets CSV, as read by :func:`bot.rooms.load_targets`.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TextIO

from bot.rooms import MAX_ERRORS, CsvError, Source, describe, read_csv
from bot.seats import normalise

REQUIRED = ("ONS ID", "Constituency name", "First party", "Second party", "Valid votes", "Majority")
NUMBER = re.compile(r"^(?:[0-9]+|[0-9]{1,3}(?:,[0-9]{3})+)$")
SPEAKER = "spk"
# How people write the parties the results file abbreviates (normalised: bot/seats.py).
PARTY_NAMES = {
    "lab": ("labour", "labour party", "labour and co operative", "lab co op", "labour co op"),
    "con": ("conservative", "conservatives", "conservative party", "tory", "tories",
            "conservative and unionist party"),
    "ld": ("lib dem", "lib dems", "libdem", "libdems", "liberal democrat", "liberal democrats"),
    "ruk": ("reform", "reform uk", "reform party"),
    "green": ("greens", "green party", "the green party"),
    "snp": ("scottish national party",),
    "pc": ("plaid", "plaid cymru"),
    "dup": ("democratic unionist party", "democratic unionists"),
    "sf": ("sinn fein",),
    "sdlp": ("social democratic and labour party",),
    "uup": ("ulster unionist party", "ulster unionists"),
    "apni": ("alliance", "alliance party"),
}  # fmt: skip


@dataclass(frozen=True)
class Target:
    """One target seat: ``priority`` 1 is the closest; ``majority_pct`` is rounded to 2 dp."""

    constituency: str
    gss_code: str
    priority: int
    majority_pct: float
    first: str
    second: str


def targets_from_results(source: Source, party: str, max_majority_pct: float) -> list[Target]:
    """Seats where `party` came first or second with a majority <= max_majority_pct of valid
    votes, priority by closeness (smallest majority % first; ties by name).

    Raises ``ValueError`` for an empty party or a percentage outside (0, 100], and
    :class:`bot.rooms.CsvError` for a file that is missing, lacks a required column or has a
    bad number (every bad row is listed, up to ``MAX_ERRORS``).
    """
    if not normalise(party):
        raise ValueError("party is empty: give a name or an abbreviation, such as Labour or Lab")
    if not 0 < max_majority_pct <= 100:
        raise ValueError(f"max majority % must be above 0 and at most 100, got {max_majority_pct}")
    rows = _read_rows(source)
    wanted = _party(party, {r[c].strip() for _, r in rows for c in ("first party", "second party")})
    problems: list[str] = []
    found: list[tuple[float, str, str, str, str]] = []
    for n, row in rows:
        valid = _number(row, "Valid votes", n, problems)
        majority = _number(row, "Majority", n, problems)
        if valid == 0:
            problems.append(
                f"row {n}, column Valid votes: is 0, so no majority % can be worked out"
            )
        elif valid is not None and majority is not None and majority > valid:
            problems.append(f"row {n}, column Majority: {majority} is more than the valid votes")
        if len(problems) >= MAX_ERRORS:
            break
        if problems or valid is None or majority is None:
            continue
        first, second = row["first party"].strip(), row["second party"].strip()
        # The Speaker's seat is not contested by the main parties, so it is never a target.
        if first.lower() == SPEAKER or wanted not in (first.lower(), second.lower()):
            continue
        # Multiplying before dividing keeps an exact boundary (e.g. 500 of 10,000 = 5%) exact.
        pct = majority * 100 / valid
        if pct <= max_majority_pct:
            name, code = row["constituency name"].strip(), row["ons id"].strip()
            found.append((pct, name, code, first, second))
    if problems:
        raise CsvError(describe(source), problems[:MAX_ERRORS])
    found.sort(key=lambda t: (t[0], t[1].casefold()))
    return [
        Target(name, code, i, round(pct, 2), first, second)
        for i, (pct, name, code, first, second) in enumerate(found, start=1)
    ]


def _party(written: str, in_file: set[str]) -> str:
    """The party ``written`` means, as the file writes it (lower case); ValueError listing
    the file's parties if it is none of them."""
    key = normalise(written)
    for party in in_file:
        short = normalise(party)
        if key == short or key in PARTY_NAMES.get(short, ()):
            return party.lower()
    listed = ", ".join(sorted(p for p in in_file if p and p.lower() != SPEAKER))
    raise ValueError(f"no party {written!r} in the results file; its parties are: {listed}")


def write_targets_csv(targets: Sequence[Target], out: TextIO) -> None:
    """Write in the project's targets CSV format: header `constituency,priority,gss_code`
    (see bot/rooms.py load_targets), and nothing else, so the file loads with
    bot.rooms.load_targets."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["constituency", "priority", "gss_code"])
    writer.writerows([t.constituency, t.priority, t.gss_code] for t in targets)


def _read_rows(source: Source) -> list[tuple[int, dict[str, str]]]:
    """The rows with their file row numbers (the header is row 1), keyed by lower-case column."""
    header, rows = read_csv(source, ())
    missing = [c for c in REQUIRED if c.lower() not in header]
    if missing:
        raise CsvError(describe(source), [f"row 1: missing column(s) {', '.join(missing)}"])
    # A short row leaves None in the cells it lacks; treat those as empty.
    return [(n, {k: v or "" for k, v in row.items() if k is not None}) for n, row in rows]


def _number(row: dict[str, str], column: str, n: int, problems: list[str]) -> int | None:
    """The cell as a whole number (thousands separators allowed), or None after noting why."""
    raw = row[column.lower()].strip()
    if NUMBER.match(raw):
        return int(raw.replace(",", ""))
    problems.append(f"row {n}, column {column}: expected a whole number, got {raw!r}")
    return None
