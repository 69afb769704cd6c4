"""Benchmark 4: choosing a room among 10,000, postcode lookups, the geocoder's cold start.

Targets: p99 of choosing a room <= 1 ms; cold start of the offline geocoder <= 2 s.
"""

from __future__ import annotations

import random
import subprocess
import sys
import time

from bench.common import ROOT, decode_postcode, machine, p50_p99, record
from bot.geo import OfflineGeocoder, find_postcode
from bot.model.message import Location
from bot.rooms import Directory, Room
from bot.seats import seats

ROOMS, CHOICES, LOOKUPS = 10_000, 5_000, 100_000
SHIFTS = ("morning", "afternoon", "evening")


SEATS = sorted(s.name for s in seats().by_code.values())  # the 650 real seats


def directory(rng: random.Random) -> Directory:
    """10,000 rooms across Great Britain in 650 seats, 200 of them targets."""
    rooms = [
        Room(
            f"r{i}",
            f"Room {i}",
            f"{i} High Street",
            "N7 6AA",
            SEATS[i % 650],
            Location(rng.uniform(50.2, 57.5), rng.uniform(-5.5, 1.6)),
            {s: rng.randint(0, 12) for s in SHIFTS},
        )  # fmt: skip
        for i in range(ROOMS)
    ]
    return Directory(rooms, {SEATS[i]: 1 + i % 20 for i in range(0, 650, 3)})


def run() -> dict:
    """Time Directory.choose with a places-left lookup as cheap as Redis's would be fast."""
    rng = random.Random(1)
    d = directory(rng)
    taken = {(r, s): rng.randint(0, 12) for r in d.rooms for s in SHIFTS}
    left = lambda pairs: [d.rooms[r].capacity[s] - taken[(r, s)] for r, s in pairs]  # noqa: E731
    times = []
    for _ in range(CHOICES):
        loc = Location(rng.uniform(50.5, 57), rng.uniform(-5, 1.5))
        shifts = rng.sample(SHIFTS, rng.randint(1, 3))
        t = time.perf_counter()
        d.choose(loc, shifts, left, tie_km=1.0)
        times.append((time.perf_counter() - t) * 1000)

    cache = ROOT / "var" / "geo"
    geo = OfflineGeocoder.open(cache)
    keys = geo._keys[:: max(1, len(geo) // LOOKUPS)][:LOOKUPS]  # real postcodes
    postcodes = [decode_postcode(int(k)) for k in keys]
    lookups = []
    for pc in postcodes:
        t = time.perf_counter()
        geo.locate(pc)
        lookups.append((time.perf_counter() - t) * 1e6)
    parse = []
    for pc in postcodes[:20_000]:
        text = f"I'm at {pc.lower()} thanks"
        t = time.perf_counter()
        find_postcode(text)
        parse.append((time.perf_counter() - t) * 1e6)
    script = (
        "import time; t=time.perf_counter(); from bot.geo import OfflineGeocoder; "
        f"g=OfflineGeocoder.open({str(cache)!r}); g.locate('N7 6AA'); "
        "import resource; print(time.perf_counter()-t, "
        "resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    )
    cold = []
    for _ in range(3):
        out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                             check=True, cwd=ROOT).stdout.split()  # fmt: skip
        cold.append((float(out[0]), int(out[1]) / 1024))
    figures = {
        **machine(),
        "rooms": ROOMS,
        "choose a room p50/p99 ms": p50_p99(times, 3),
        "postcode lookup p50/p99 us": p50_p99(lookups),
        "find postcode in text p50/p99 us": p50_p99(parse),
        "geocoder cold start s (new process, import + open + 1 lookup)": ", ".join(
            f"{c[0]:.2f}" for c in cold
        ),
        "geocoder process peak RSS MB": f"{max(c[1] for c in cold):.0f}",
        "postcodes indexed": len(geo),
        "targets": "choose p99 <= 1 ms; cold start <= 2 s",
    }
    record("4. Matching and geocoding", figures)
    return figures


if __name__ == "__main__":
    run()
