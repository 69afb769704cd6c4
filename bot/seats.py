"""The 650 Westminster constituencies (2024 boundaries): GSS code and name, and what people
and spreadsheets write for one.

A seat may be written as its name or its GSS code, in any case, with or without
punctuation, accents or "&" for "and" ("Chelsea & Fulham", "E14001160", "ynys mon"): each
resolves to one ``Seat``, and every part of the bot matches seats by code and shows them by
name. The table (``constituencies.csv``, beside this file) is derived from the House of
Commons Library's 2024 general election results (Open Parliament Licence v3.0).
"""

from __future__ import annotations

import csv
import difflib
import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path

TABLE = Path(__file__).with_name("constituencies.csv")
GSS_CODE = re.compile(r"^[ENSW]\d{8}$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Seat:
    """One constituency."""

    code: str  # GSS code, e.g. E14001160
    name: str  # as the House of Commons Library writes it
    country: str


def normalise(text: str) -> str:
    """Lower case, no accents or punctuation, "&" as "and", single spaces."""
    plain = unicodedata.normalize("NFKD", text.strip())
    plain = "".join(c for c in plain if not unicodedata.combining(c)).lower()
    plain = plain.replace("&", " and ")
    return " ".join(re.sub(r"[^a-z0-9]+", " ", plain).split())


class Seats:
    """Every constituency, found by code or by name as people write it."""

    def __init__(self, seats: list[Seat]) -> None:
        self.by_code = {s.code: s for s in seats}
        self.by_name = {normalise(s.name): s for s in seats}

    def resolve(self, text: str) -> Seat | None:
        """The seat ``text`` names (a name or a GSS code), or None."""
        text = text.strip()
        if GSS_CODE.match(text):
            return self.by_code.get(text.upper())
        return self.by_name.get(normalise(text))

    def suggest(self, text: str, n: int = 3) -> list[str]:
        """The names closest to what was written, best first (for "did you mean...?"): names
        with every word of it ("Hull East"), else those spelt nearly as closely as the
        closest ("Hendn"), so one clear match comes alone."""
        key = normalise(text)
        words = set(key.split())
        having = sorted((k for k in self.by_name if words and words <= set(k.split())), key=len)
        if having:
            return [self.by_name[k].name for k in having[:n]]
        scored = sorted(
            ((difflib.SequenceMatcher(None, key, k).ratio(), k) for k in self.by_name),
            reverse=True,
        )
        best = scored[0][0] if scored and key else 0.0
        return [self.by_name[k].name for r, k in scored[:n] if r >= max(0.75, best - 0.05)]

    def key(self, text: str) -> str:
        """What seats are matched by: the GSS code, or for something that is no seat, the
        text normalised (older data, a typo an import refused since)."""
        if seat := self.resolve(text):
            return seat.code
        return text.strip().upper() if GSS_CODE.match(text.strip()) else normalise(text)

    def name(self, text: str) -> str:
        """What people read for a seat: its name, or the text as written if it is none."""
        seat = self.resolve(text)
        return seat.name if seat else text.strip()

    def __len__(self) -> int:
        return len(self.by_code)


@cache
def seats() -> Seats:
    """The shipped table, read once."""
    with TABLE.open(encoding="utf-8", newline="") as f:
        return Seats([Seat(r["gss_code"], r["name"], r["country"]) for r in csv.DictReader(f)])
