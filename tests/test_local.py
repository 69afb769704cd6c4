"""``make run``'s runner: embedded Redis, Procfile processes and the terminal chat, stopped
cleanly at end of input."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from bot.geo import OfflineGeocoder
from bot.redis_server import free_port

ROOT = Path(__file__).resolve().parent.parent


def test_local_chat_runs_a_journey_and_stops_everything(tmp_path, geo_cache):
    OfflineGeocoder.open(geo_cache)  # built once per checkout; make run would build it too
    (tmp_path / "geo").symlink_to(geo_cache)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TELEGRAM_", "TWILIO_", "REDIS_URL", "BOT_CONFIG"))
    }
    env["VAR_DIR"] = str(tmp_path)
    env["PORT"] = str(port := free_port())
    done = subprocess.run(
        [sys.executable, "-m", "bot.local"],
        input="hi\nI'm at N7 6AA\n1\nyes\nno\n",
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert "bot> Hi! I'm the polling-day volunteer bot for Labour." in out
    assert "\n\nWhere are you? Type your postcode (like N7 6AA), or /location LAT LON." in out
    assert "Bethnal Green front room\n35 Hackney Road, Bethnal Green, London, E2 7AJ\n" in out
    assert "bot> You're confirmed: Bethnal Green front room" in out
    assert "bot> No problem: no updates, just your reminder." in out
    assert "https://t.me/pollday_bot?start=" in out
    assert out.rstrip().endswith("-- Stopping...")
    # Everything it started has gone: Redis (run from this directory) and the web server.
    leftovers = subprocess.run(["pgrep", "-f", str(tmp_path)], capture_output=True, text=True)
    assert leftovers.stdout == ""
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0
    assert (tmp_path / "redis" / "appendonly.aof").exists()  # data kept between runs
    assert all((tmp_path / "log" / f"{name}.log").exists() for name in ("web", "worker", "redis"))


def test_a_process_that_dies_is_restarted_and_make_run_says_so(tmp_path, geo_cache):
    OfflineGeocoder.open(geo_cache)
    (tmp_path / "geo").symlink_to(geo_cache)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TELEGRAM_", "TWILIO_", "REDIS_URL", "BOT_CONFIG"))
    }
    env.update(VAR_DIR=str(tmp_path), PORT=str(free_port()))
    run = subprocess.Popen(
        [sys.executable, "-m", "bot.local"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, cwd=ROOT, env=env,
    )  # fmt: skip
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(run.stdout), daemon=True).start()

    def wait_for(text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in lines):
            assert time.monotonic() < deadline, "".join(lines)
            time.sleep(0.1)

    try:
        wait_for("-- Bot running")
        worker = next(
            pid
            for pid in (int(p) for p in os.listdir("/proc") if p.isdigit())
            if _parent(pid) == run.pid and b"-m\x00workers" in _cmdline(pid)
        )
        os.kill(worker, signal.SIGKILL)
        wait_for("-- worker exited (status -9); restarting it.")
        run.stdin.write("hi\n")
        run.stdin.flush()
        wait_for("bot> Hi! I'm the polling-day volunteer bot for Labour.")
    finally:
        run.stdin.close()
        run.wait(timeout=60)


def _parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[1])
    except (OSError, IndexError, ValueError):
        return -1


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""
