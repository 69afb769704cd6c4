"""Start and stop the processes named in the Procfile, as any process manager would."""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
_prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform == "linux" else None


def read(path: str | Path = "Procfile") -> dict[str, str]:
    """``{name: command}`` from a Procfile."""
    entries: dict[str, str] = {}
    for line in Path(path).read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_-]+):\s*(.+)$", line.strip())
        if match:
            entries[match[1]] = match[2]
    return entries


def die_with_parent(parent: int, sig: int = signal.SIGTERM) -> None:
    """In a child: ask Linux for ``sig`` when the parent dies, even by SIGKILL."""
    # The setting survives exec (bash execs the command) and fires when the thread that
    # started the child exits, so start processes from the main thread.
    if _prctl is not None:
        _prctl(PR_SET_PDEATHSIG, sig)
        if os.getppid() != parent:  # it died before prctl: nothing would signal us
            os.kill(os.getpid(), sig)


def start(
    command: str, env: Mapping[str, str], log: IO[bytes] | int | None = None, cwd: str | None = None
) -> subprocess.Popen[bytes]:
    """Run one Procfile command under bash in its own process group, ended with its parent.

    Its own group: a Ctrl-C in the terminal reaches only the parent, which stops the
    processes in order (:func:`stop`).
    """
    return subprocess.Popen(
        ["bash", "-c", f"exec {command}"],
        env=dict(env),
        stdout=log,
        stderr=subprocess.STDOUT if log is not None else None,
        stdin=subprocess.DEVNULL,
        cwd=cwd,
        start_new_session=True,
        preexec_fn=functools.partial(die_with_parent, os.getpid()),
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
