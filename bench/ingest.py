"""Benchmark 1: webhook ingest against a bare Flask endpoint, same gunicorn settings, same run.

wrk posts real-shaped Telegram updates (unique update_ids, 100,000 chats, the secret
header) to the web process started exactly as the Procfile says. The baseline is
bench/bare.py under the same command line. Target: ingest >= 0.6 x bare.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import tempfile
from pathlib import Path

from bench.common import ROOT, System, machine, record

DURATION, CONNECTIONS, THREADS, RUNS = 10, 64, 2, 3


def wrk(url: str) -> dict:
    """Run wrk with the Telegram script; its summary as a dict."""
    out = subprocess.run(
        ["wrk", f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{DURATION}s", "--latency",
         "-s", str(ROOT / "bench" / "telegram.lua"), url],
        capture_output=True, text=True, check=True, env={"SECRET": "bench-secret"},
    )  # fmt: skip
    line = next(x for x in out.stdout.splitlines() if x.startswith("JSON "))
    data = json.loads(line[5:])
    data["rps"] = data["requests"] / (data["duration_us"] / 1e6)
    return data


def run() -> dict:
    """Measure bare, then ingest, then bare again; report the means."""
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed: apt-get install wrk")
    env = {
        "TELEGRAM_BOT_TOKEN": "1:bench",
        "TELEGRAM_WEBHOOK_SECRET": "bench-secret",
        "TELEGRAM_API_URL": "http://127.0.0.1:9",  # never called: ingest only
    }
    results: dict[str, list[dict]] = {"bare": [], "ingest": []}
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ("bare", "ingest") * RUNS:
            system = System(Path(tmp) / kind, env, workers=0)
            try:
                system.start(web_app="bench.bare:create_app()" if kind == "bare" else None)
                results[kind].append(wrk(system.url + "/webhooks/telegram"))
                queued = system.r.dbsize() if kind == "ingest" else 0
            finally:
                system.stop()
                shutil.rmtree(Path(tmp) / kind, ignore_errors=True)
            assert all(r["non2xx"] == 0 and r["errors"] == 0 for r in results[kind]), results
            if kind == "ingest":
                assert queued > 0
    mid = {k: statistics.median(r["rps"] for r in v) for k, v in results.items()}
    figures = {
        **machine(),
        "load": f"wrk -t{THREADS} -c{CONNECTIONS} -d{DURATION}s, {RUNS} runs each, alternating",
        "bare req/s (median; runs)": f"{mid['bare']:.0f}; "
        + ", ".join(f"{r['rps']:.0f}" for r in results["bare"]),
        "ingest req/s (median; runs)": f"{mid['ingest']:.0f}; "
        + ", ".join(f"{r['rps']:.0f}" for r in results["ingest"]),
        "ratio ingest/bare": round(mid["ingest"] / mid["bare"], 2),
        "bare p50/p99 ms": "/".join(
            f"{max(r[k] for r in results['bare']) / 1000:.1f}" for k in ("p50_us", "p99_us")
        ),
        "ingest p50/p99 ms": "/".join(
            f"{max(r[k] for r in results['ingest']) / 1000:.1f}" for k in ("p50_us", "p99_us")
        ),
        "target": "ingest >= 0.6 x bare",
    }
    record("1. Webhook ingest", figures)
    return figures


if __name__ == "__main__":
    run()
