"""``make bench``: run every benchmark and write bench/RESULTS.md. Never part of make test.

python -m bench              all of them
python -m bench ingest e2e   some of them (ingest, e2e, broadcast, matching, memory, surge, pages)
python -m bench --report     only rewrite RESULTS.md from bench/results.json
"""

from __future__ import annotations

import importlib
import json
import sys

from bench.common import RAW, RESULTS

ORDER = ["ingest", "e2e", "broadcast", "matching", "memory", "surge", "pages"]
HEADER = """# Benchmark results

Measured by `make bench` (`python -m bench`) on the machine each section names, against
the processes started exactly as the Procfile says, an embedded Redis and fake platform
servers on 127.0.0.1. Each section is rewritten when its benchmark runs again; the raw
figures are in `bench/results.json`. Targets are from the benchmarks issue.
"""


def report() -> None:
    """Rewrite RESULTS.md from results.json."""
    data = json.loads(RAW.read_text()) if RAW.exists() else {}
    parts = [HEADER]
    for name in sorted(data):
        parts.append(f"\n## {name}\n")
        if data[name].get("notes"):
            parts.append(data[name]["notes"] + "\n")
        parts.append("| figure | value |\n|---|---|")
        parts += [f"| {k} | {v} |" for k, v in data[name]["figures"].items()]
    RESULTS.write_text("\n".join(parts) + "\n")
    print(f"wrote {RESULTS}")


def main(argv: list[str]) -> int:
    """Run the named benchmarks (all by default), then write the report."""
    if argv != ["--report"]:
        for name in argv or ORDER:
            if name not in ORDER:
                print(f"unknown benchmark {name!r}; choose from {', '.join(ORDER)}")
                return 2
            importlib.import_module(f"bench.{name}").run()
    report()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
