"""Benchmark the offline postcode index: build time, cold start from cache, lookup speed.

Run with ``python -m bench.bench_geo`` from the repository root. It builds a fresh index
in a temporary directory (the repository's ``var/geo`` is left alone), then starts new
Python processes that open that index, and finally times single lookups of real and
unknown postcodes in this process.
"""

from __future__ import annotations

import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bot.geo import OfflineGeocoder, find_postcode

REPO = Path(__file__).resolve().parents[1]
LOOKUPS = 200_000
COLD_STARTS = 5

_COLD_START = """
import time
t0 = time.perf_counter()
from bot.geo import OfflineGeocoder
t1 = time.perf_counter()
geocoder = OfflineGeocoder.open({cache!r})
t2 = time.perf_counter()
assert geocoder.locate("N7 6AA") is not None
t3 = time.perf_counter()
print(t1 - t0, t2 - t1, t3 - t2)
"""


def _postcode_from_key(key: int) -> str:
    compact = np.base_repr(key, 36)
    return f"{compact[:-3]} {compact[-3:]}"


def _percentile(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def main() -> None:
    """Print build time, cold-start times and lookup throughput/latency."""
    with tempfile.TemporaryDirectory(prefix="bench-geo-") as cache:
        started = time.perf_counter()
        geocoder = OfflineGeocoder.open(cache)
        build_s = time.perf_counter() - started
        size_mb = sum(f.stat().st_size for f in Path(cache).rglob("*.npy")) / 1e6
        print(f"build: {build_s:.2f} s, {len(geocoder):,} postcodes, {size_mb:.1f} MB of .npy")

        totals, imports, opens, firsts = [], [], [], []
        for _ in range(COLD_STARTS):
            started = time.perf_counter()
            out = subprocess.run(
                [sys.executable, "-c", _COLD_START.format(cache=cache)],
                cwd=REPO,
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            totals.append(time.perf_counter() - started)
            imp, opn, first = (float(x) for x in out.split())
            imports.append(imp)
            opens.append(opn)
            firsts.append(first)
        print(
            f"cold start (new process, page cache warm), median of {COLD_STARTS}: "
            f"whole process {statistics.median(totals):.3f} s = "
            f"import bot.geo {statistics.median(imports) * 1e3:.0f} ms + "
            f"open {statistics.median(opens) * 1e3:.1f} ms + "
            f"first lookup {statistics.median(firsts) * 1e3:.2f} ms"
        )

        # The same with the index's pages evicted from the page cache (first start after
        # a reboot); only the .npy files are evicted, not the Python install.
        evicted_totals = []
        for _ in range(COLD_STARTS):
            for npy in Path(cache).rglob("*.npy"):
                fd = os.open(npy, os.O_RDONLY)
                try:
                    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                finally:
                    os.close(fd)
            started = time.perf_counter()
            subprocess.run(
                [sys.executable, "-c", _COLD_START.format(cache=cache)],
                cwd=REPO,
                check=True,
                capture_output=True,
            )
            evicted_totals.append(time.perf_counter() - started)
        print(
            f"cold start, index evicted from page cache: {statistics.median(evicted_totals):.3f} s"
        )

        rng = random.Random(7)
        keys = geocoder._keys  # the bench may look inside: it needs real postcodes
        known = [_postcode_from_key(int(keys[rng.randrange(len(keys))])) for _ in range(LOOKUPS)]
        # One lookup in ten is a well-formed postcode that is not in the index.
        queries = [pc if i % 10 else "ZZ99 9ZZ" for i, pc in enumerate(known)]
        latencies: list[float] = []
        found = 0
        started = time.perf_counter()
        for postcode in queries:
            t0 = time.perf_counter_ns()
            location = geocoder.locate(postcode)
            latencies.append((time.perf_counter_ns() - t0) / 1e3)
            found += location is not None
        elapsed = time.perf_counter() - started
        started = time.perf_counter()
        for postcode in queries:
            geocoder.locate(postcode)
        untimed = LOOKUPS / (time.perf_counter() - started)
        latencies.sort()
        p50, p99 = _percentile(latencies, 0.50), _percentile(latencies, 0.99)
        print(
            f"locate: {untimed:,.0f} lookups/s ({LOOKUPS / elapsed:,.0f} with per-call timing), "
            f"p50 {p50:.1f} us, p99 {p99:.1f} us, "
            f"max {latencies[-1]:.0f} us; {found:,} found"
        )

        texts = ["I'm at n7 6aa thanks", "yes", "N7", "1 and 3", "QQ1 1QQ", "morning"] * 10_000
        started = time.perf_counter()
        for text in texts:
            find_postcode(text)
        elapsed = time.perf_counter() - started
        print(f"find_postcode: {len(texts) / elapsed:,.0f} messages/s")


if __name__ == "__main__":
    main()
