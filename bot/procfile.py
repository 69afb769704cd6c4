"""Start and stop the processes named in the Procfile, as any process manager would."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO


def read(path: str | Path = "Procfile") -> dict[str, str]:
    """``{name: command}`` from a Procfile."""
    entries: dict[str, str] = {}
    for line in Path(path).read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_-]+):\s*(.+)$", line.strip())
        if match:
            entries[match[1]] = match[2]
    return entries


def start(
    command: str, env: Mapping[str, str], log: IO[bytes] | int | None = None, cwd: str | None = None
) -> subprocess.Popen[bytes]:
    """Run one Procfile command under bash in its own process group."""
    return subprocess.Popen(
        ["bash", "-c", f"exec {command}"],
        env=dict(env),
        stdout=log,
        stderr=subprocess.STDOUT if log is not None else None,
        stdin=subprocess.DEVNULL,
        cwd=cwd,
        start_new_session=True,
    )


def stop(procs: list[subprocess.Popen[bytes]], timeout: float = 10.0) -> None:
    """SIGTERM each process group, then SIGKILL whatever has not exited in time."""
    for p in procs:
        if p.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for p in procs:
        try:
            p.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
            p.wait()
