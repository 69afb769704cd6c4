"""The shared send pacer, on a real Redis: limits per window, across processes, replies first."""

from __future__ import annotations

import math
import multiprocessing
import multiprocessing.synchronize as mp_sync
import time
from collections.abc import Sequence

import pytest
import redis

from bot.pacing import Pacer, window
from bot.redis_server import RedisServer
from bot.store.keys import hid

LIMIT = 20
TIMES_KEY = "test:admitted"


def max_in_window(times: Sequence[float], width: float = 1.0) -> int:
    """The most admissions in any closed window ``[t, t + width]`` sliding over ``times``."""
    ordered = sorted(times)
    best, start = 0, 0
    for end, t in enumerate(ordered):
        while t - ordered[start] > width:
            start += 1
        best = max(best, end - start + 1)
    return best


def throughput(times: Sequence[float], limit: int) -> float:
    """Sustained admissions per second: ``limit`` over the mean time each takes to recur.

    Unlike count / duration, this does not depend on where the run stops within a burst.
    """
    ordered = sorted(times)
    gaps = [later - earlier for earlier, later in zip(ordered, ordered[limit:], strict=False)]
    return limit / (sum(gaps) / len(gaps))


def acquire_many(url: str, count: int, ready: mp_sync.Barrier, go: mp_sync.Event) -> None:
    """Child process: its own connection and Pacer; push its admission times to Redis."""
    conn = redis.Redis.from_url(url)
    pacer = Pacer(conn, {"telegram": LIMIT})
    conn.ping()
    ready.wait(10)
    go.wait(10)
    admitted: list[float] = []
    for _ in range(count):
        assert pacer.acquire("telegram", timeout=10)
        admitted.append(time.time())
    conn.rpush(TIMES_KEY, *(repr(t) for t in admitted))
    conn.close()


def test_one_process_never_exceeds_the_limit_and_keeps_close_to_it(r: redis.Redis) -> None:
    pacer = Pacer(r, {"telegram": LIMIT})
    admitted = []
    for _ in range(3 * LIMIT):
        assert pacer.acquire("telegram", timeout=5)
        admitted.append(time.time())
    assert max_in_window(admitted) <= LIMIT
    assert throughput(admitted, LIMIT) >= 0.95 * LIMIT  # design ceiling 0.98; CI jitter


def test_several_processes_share_one_limit(r: redis.Redis, redis_server: RedisServer) -> None:
    ctx = multiprocessing.get_context("spawn")
    workers = 3
    ready, go = ctx.Barrier(workers + 1), ctx.Event()
    procs = [
        ctx.Process(target=acquire_many, args=(redis_server.url, LIMIT, ready, go))
        for _ in range(workers)
    ]
    for p in procs:
        p.start()
    try:
        ready.wait(20)
        go.set()
        for p in procs:
            p.join(20)
            assert p.exitcode == 0
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
    admitted = [float(t) for t in r.lrange(TIMES_KEY, 0, -1)]
    assert len(admitted) == workers * LIMIT
    assert max_in_window(admitted) <= LIMIT
    assert throughput(admitted, LIMIT) >= 0.95 * LIMIT  # design ceiling 0.98; CI jitter


def test_replies_are_never_delayed_and_make_broadcasts_back_off(r: redis.Redis) -> None:
    pacer = Pacer(r, {"sms": LIMIT})
    for _ in range(LIMIT - 1):
        pacer.record("sms")
    assert pacer.try_acquire("sms") == 0.0
    assert 0.9 < pacer.try_acquire("sms") <= 1.02

    started = time.monotonic()
    for _ in range(2 * LIMIT):
        pacer.record("sms")
    assert time.monotonic() - started < 0.5
    assert r.zcard("pd:pace:sms") == 3 * LIMIT
    wait = pacer.try_acquire("sms")
    assert 0.9 < wait <= 1.02
    assert r.zcard("pd:pace:sms") == 3 * LIMIT  # a refused broadcast leaves no trace


def test_per_chat_limit_on_telegram(r: redis.Redis) -> None:
    pacer = Pacer(r, {"telegram": 30, "whatsapp": 80})
    assert pacer.try_acquire("telegram", "42") == 0.0
    assert 0.95 < pacer.try_acquire("telegram", "42") <= 1.02
    assert pacer.try_acquire("telegram", "43") == 0.0
    assert pacer.try_acquire("whatsapp", "42") == 0.0
    assert pacer.try_acquire("whatsapp", "42") == 0.0  # no per-chat limit there

    started = time.monotonic()
    assert pacer.acquire("telegram", "42")
    assert 0.95 < time.monotonic() - started < 1.3

    pacer.record("telegram", "44")
    assert pacer.try_acquire("telegram", "44") > 0.9


def test_channel_and_chat_are_checked_together(r: redis.Redis) -> None:
    pacer = Pacer(r, {"telegram": 2})
    assert pacer.try_acquire("telegram", "1") == 0.0
    assert pacer.try_acquire("telegram", "1") > 0
    assert r.zcard("pd:pace:telegram") == 1  # the chat was full: the channel took nothing
    assert pacer.try_acquire("telegram", "2") == 0.0
    assert pacer.try_acquire("telegram", "3") > 0
    assert not r.exists("pd:pace:telegram:3")  # the channel was full: the chat took nothing


def test_unlimited_channel_never_touches_redis() -> None:
    nowhere = redis.Redis(unix_socket_path="/nonexistent/redis.sock")
    pacer = Pacer(nowhere, {"telegram": 30})
    assert pacer.try_acquire("email") == 0.0
    assert pacer.acquire("email", "someone")
    pacer.record("email")


def test_keys_expire_when_idle(r: redis.Redis) -> None:
    pacer = Pacer(r, {"telegram": 30}, prefix="px")
    assert pacer.acquire("telegram", "7")
    chat = hid(b"", "telegram:7")  # no chat id in a key name
    assert sorted(r.keys("*")) == [b"px:pace:telegram", f"px:pace:telegram:{chat}".encode()]
    assert 0 < r.pttl("px:pace:telegram") <= 1020
    time.sleep(1.1)
    assert r.keys("*") == []


def test_members_are_unique(r: redis.Redis) -> None:
    pacer = Pacer(r, {"whatsapp": 80})
    for _ in range(200):
        pacer.record("whatsapp")
    assert r.zcard("pd:pace:whatsapp") == 200


def test_non_integer_limits() -> None:
    assert window(30, 0.02) == (30, 1_020_000)
    assert window(2.5, 0.02) == (2, 1_020_000)  # 3 in one second would break 2.5/s
    assert window(0.5, 0.02) == (1, 2_040_000)
    assert window(1 / 3, 0.0) == (1, 3_000_000)
    for bad in (0, -1, math.nan, math.inf):
        with pytest.raises(ValueError):
            window(bad, 0.02)
    with pytest.raises(ValueError):
        Pacer(redis.Redis(), {"sms": 0})


def test_slow_limit_stretches_the_window(r: redis.Redis) -> None:
    pacer = Pacer(r, {"sms": 0.5})
    assert pacer.try_acquire("sms") == 0.0
    assert 1.9 < pacer.try_acquire("sms") <= 2.04
    assert 1900 < r.pttl("pd:pace:sms") <= 2040


def test_acquire_gives_up_at_the_timeout(r: redis.Redis) -> None:
    pacer = Pacer(r, {"telegram": 30})
    pacer.record("telegram", "9")
    started = time.monotonic()
    assert not pacer.acquire("telegram", "9", timeout=0.3)
    assert 0.3 <= time.monotonic() - started < 0.45
    assert r.zcard(f"pd:pace:telegram:{hid(b'', 'telegram:9')}") == 1
