"""The shared send pacer, on a real Redis: limits per window, across processes, replies first
and in the order people wrote, and a platform's retry_after pausing the whole channel."""

from __future__ import annotations

import itertools
import math
import multiprocessing
import multiprocessing.synchronize as mp_sync
import random
import threading
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


def test_sends_recorded_regardless_make_broadcasts_back_off(r: redis.Redis) -> None:
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


def test_telegram_chats_take_a_short_burst_then_wait(r: redis.Redis) -> None:
    pacer = Pacer(r, {"telegram": 30})  # the default: three in three seconds to one chat
    assert [pacer.try_acquire("telegram", "42") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert 2.9 < pacer.try_acquire("telegram", "42") <= 3.06
    assert pacer.try_acquire("telegram", "43") == 0.0


def test_per_chat_limit_on_telegram(r: redis.Redis) -> None:
    pacer = Pacer(r, {"telegram": 30, "whatsapp": 80}, per_chat={"telegram": 1.0})
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
    pacer = Pacer(r, {"telegram": 2}, per_chat={"telegram": 1.0})
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
    pacer = Pacer(r, {"telegram": 30}, prefix="px", per_chat={"telegram": 1.0})
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
    pacer = Pacer(r, {"telegram": 30}, per_chat={"telegram": 1.0})
    pacer.record("telegram", "9")
    started = time.monotonic()
    assert not pacer.acquire("telegram", "9", timeout=0.3)
    assert 0.3 <= time.monotonic() - started < 0.45
    assert r.zcard(f"pd:pace:telegram:{hid(b'', 'telegram:9')}") == 1


# --- replies: held to the limit, first come first served ------------------------------------


def admit_in_threads(pacer: Pacer, wrote: list[float], chats: list[str] | None = None) -> list:
    """Each reply in its own thread, all asking at once; (wrote_at, admitted at) per reply."""
    admitted: list[tuple[float, float]] = []
    lock = threading.Lock()
    start = threading.Barrier(len(wrote))

    def one(i: int) -> None:
        start.wait(5)
        chat = chats[i] if chats else str(i)
        assert pacer.admit_reply("sms", chat, wrote[i], timeout=30) == 0.0
        with lock:
            admitted.append((wrote[i], time.monotonic()))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(wrote))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return admitted


def test_replies_wait_for_the_limit_and_go_in_the_order_people_wrote(r: redis.Redis) -> None:
    pacer = Pacer(r, {"sms": 5})
    for _ in range(5):
        pacer.record("sms")  # the channel is full for the next second
    wrote = [1_000.0 + i for i in range(15)]
    random.Random(7).shuffle(wrote)  # the threads ask in another order than people wrote
    admitted = admit_in_threads(pacer, wrote)
    assert len(admitted) == 15
    # First come, first served: in the order people wrote, each admitted no earlier than the
    # one before (give or take the few ms between a thread's admission and its clock reading).
    in_order = [t for _, t in sorted(admitted)]
    assert all(later > earlier - 0.01 for earlier, later in itertools.pairwise(in_order))
    assert in_order[-1] - in_order[0] > 1.5  # (they were not all let in at once)
    times = [t for _, t in admitted]
    assert max_in_window(times, 1.0) <= 5  # never over the limit
    assert 2.0 < max(times) - min(times) < 3.5  # and close to it: 15 at 5/s after a full second
    assert r.zcard("pd:line:sms") == 0  # nobody left in line


def test_a_waiting_reply_holds_broadcasts_back(r: redis.Redis) -> None:
    pacer = Pacer(r, {"sms": 5})
    for _ in range(5):
        pacer.record("sms")
    waiter = threading.Thread(target=pacer.admit_reply, args=("sms", "1", time.time(), 10))
    waiter.start()
    time.sleep(0.1)
    assert r.zcard("pd:line:sms") == 1
    assert pacer.try_acquire("sms") > 0  # a reply waits: the broadcast waits too...
    time.sleep(1.2)  # (room again, but the reply takes it)
    waiter.join(5)
    assert r.zcard("pd:line:sms") == 0
    assert pacer.try_acquire("sms") == 0.0  # ...and then takes what is left


def test_a_reply_waiting_for_its_chat_lets_later_people_go_first(r: redis.Redis) -> None:
    pacer = Pacer(r, {"sms": 5}, per_chat={"sms": 1.0})
    for _ in range(4):
        pacer.record("sms")
    time.sleep(0.5)
    pacer.record("sms", "early")  # the channel is full; this chat waits a second from now
    started = time.monotonic()
    admitted = admit_in_threads(pacer, [1.0, 2.0, 3.0], chats=["early", "b", "c"])
    order = [w for w, _ in sorted(admitted, key=lambda pair: pair[1])]
    assert order == [2.0, 3.0, 1.0]  # the others did not wait behind it...
    (early,) = [t for w, t in admitted if w == 1.0]
    assert 0.9 < early - started < 1.6  # ...and it went as soon as its chat allowed


def test_a_429_pauses_the_whole_channel_for_replies_and_broadcasts(r: redis.Redis) -> None:
    pacer = Pacer(r, {"telegram": 30})
    pacer.pause("telegram", 1.5)
    pacer.pause("telegram", 0.5)  # a shorter pause never cuts a longer one
    wait = pacer.try_acquire("telegram")
    assert 1.3 < wait <= 1.5
    started = time.monotonic()
    assert pacer.admit_reply("telegram", "42", time.time(), timeout=5) == 0.0
    assert 1.2 < time.monotonic() - started < 2.0
    pacer.pause("email", 3)  # an unpaced channel is never paused
    assert not r.exists("pd:pause:email")


def test_a_reply_that_would_wait_too_long_leaves_the_line(r: redis.Redis) -> None:
    pacer = Pacer(r, {"telegram": 30})
    pacer.pause("telegram", 5)
    started = time.monotonic()
    wait = pacer.admit_reply("telegram", "42", time.time(), timeout=1.0)
    assert 4 < wait <= 5 and time.monotonic() - started < 0.5  # told at once, not held
    assert r.zcard("pd:line:telegram") == 0  # nobody waits behind it


def test_a_waiter_that_died_leaves_the_line(r: redis.Redis) -> None:
    pacer = Pacer(r, {"sms": 5})
    # A worker killed while its reply waited: first in line, and it never asks again.
    r.zadd("pd:line:sms", {"dead": 1})
    r.zadd("pd:lineseen:sms", {"dead": (time.time() - 10) * 1_000_000})
    started = time.monotonic()
    assert pacer.admit_reply("sms", "1", time.time(), timeout=5) == 0.0
    assert time.monotonic() - started < 0.5
    assert r.zcard("pd:line:sms") == 0


def test_replies_keep_a_wider_margin_than_broadcasts(r: redis.Redis) -> None:
    """A reply is admitted by one of many busy threads and reaches the platform later and
    less evenly than a broadcast's send: at 4/s, the fifth reply waits until 1.05 s after the
    first, the fifth broadcast send only until 1.02 s after the first."""
    pacer = Pacer(r, {"sms": 4})

    def admitted() -> list[float]:
        return [at for _, at in r.zrange("pd:pace:sms", 0, -1, withscores=True)]

    for kind, margin in (("reply", 1_050_000), ("broadcast", 1_020_000)):
        r.delete("pd:pace:sms")
        for n in range(5):
            if n == 4:
                first = admitted()[0]
            if kind == "reply":
                assert pacer.admit_reply("sms", None, time.time() + n, timeout=2) == 0.0
            else:
                assert pacer.acquire("sms", timeout=2)
        assert margin <= admitted()[-1] - first < margin + 300_000, kind
