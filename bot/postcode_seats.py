"""Which constituency a postcode is in, so the bot can say back what it understood
("N7 6AA, in Islington North").

Two sources, as the geocoder allows: postcodes.io names the seat in the same answer that
gives the point; with the offline geocoder, the organiser may download mySociety's range
file (``pcon_2024.json`` and ``pcon_2024_lookup.json`` from the 2025-constituencies data,
CC BY 4.0) and name it as ``postcode_seats`` in config.yaml. With neither, the seat is
unknown and the bot says back only the postcode. No postcode data of this kind ships with
the bot: it is the organiser's to choose and to attribute.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from bot.seats import Seat, seats


@runtime_checkable
class PostcodeSeats(Protocol):
    """Finds the constituency of a postcode the geocoder has already located."""

    def seat_of(self, postcode: str) -> Seat | None:
        """The seat of a normalised postcode ("N7 6AA"), or None when unknown."""
        ...


class Unknown:
    """No source configured: every seat is unknown."""

    def seat_of(self, postcode: str) -> Seat | None:
        return None


class RangeFile:
    """mySociety's compact range lookup: sorted postcode ranges, each with one seat.

    A range answers for any postcode-shaped string, so ask only about postcodes the
    geocoder found. Northern Ireland is not covered.
    """

    def __init__(self, starts: np.ndarray, values: np.ndarray, seats_: list[Seat | None]) -> None:
        self._starts, self._values, self._seats = starts, values, seats_

    @classmethod
    def open(cls, path: Path) -> RangeFile:
        """Read ``path`` and the ``*_lookup.json`` beside it; ValueError names what is wrong."""
        lookup_path = path.with_name(f"{path.stem}_lookup{path.suffix}")
        try:
            ranges = json.loads(path.read_text(encoding="utf-8"))
            lookup = json.loads(lookup_path.read_text(encoding="utf-8"))
            starts = np.cumsum(np.asarray(ranges["postcode_keys"], dtype=np.int64))
            values = np.asarray(_unsqueeze(ranges["value_key"]), dtype=np.int64) - 1
            named = ranges["value_values"]
            codes = [lookup[v]["parlcon_2024_gss_code"] if v else None for v in named]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ValueError(
                f"{path}: not mySociety's pcon_2024 range file with {lookup_path.name} beside "
                f"it ({type(exc).__name__}: {exc})"
            ) from None
        if len(starts) != len(values):
            raise ValueError(f"{path}: postcode_keys and value_key differ in length")
        table = seats()
        return cls(starts, values, [table.by_code.get(c) if c else None for c in codes])

    def seat_of(self, postcode: str) -> Seat | None:
        compact = "".join(postcode.split()).upper()
        if not (compact.isascii() and compact.isalnum()):
            return None
        at = int(np.searchsorted(self._starts, int(compact, 36), side="right")) - 1
        if at < 0:
            return None
        value = int(self._values[at])
        return self._seats[value] if 0 <= value < len(self._seats) else None

    def __len__(self) -> int:
        return len(self._starts)


def _unsqueeze(squeezed: list[int]) -> list[int]:
    """Undo the file's one squeeze: after the first two entries, 0 repeats the entry two
    places back."""
    out: list[int] = []
    for i, value in enumerate(squeezed):
        out.append(out[i - 2] if i >= 2 and value == 0 else value)
    return out


def postcode_seats(geocoder: object, range_file: Path | None) -> PostcodeSeats:
    """The organiser's range file when configured, else the geocoder when it names seats
    (postcodes.io), else ``Unknown``. Raises ValueError for a range file it cannot read."""
    if range_file is not None:
        return RangeFile.open(range_file)
    return geocoder if isinstance(geocoder, PostcodeSeats) else Unknown()
