"""Redis goes away and comes back (fault marker): real processes heal by themselves.

Redis is killed (kill -9, its data kept by the append-only file) or stopped cleanly while a
reply is held back for a platform's retry_after, left down for 10 or 90 s, and started again
on the same port and data. Afterwards every process is still up, the held-back reply arrives
within 10 s of Redis's return, new messages are answered once, and each process logged the
outage once.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator

import pytest

from bot.redis_server import RedisServer
from tests.harness import Bot

pytestmark = pytest.mark.fault
CHAT = 700_001


@pytest.fixture
def system(tmp_path) -> Iterator[Bot]:
    bot = Bot(tmp_path)
    try:
        yield bot
    finally:
        bot.stop()


@pytest.mark.parametrize(
    "seconds, crash",
    [(10, True), (10, False), (90, True)],
    ids=["10s-kill", "10s-stop", "90s-kill"],
)
def test_a_redis_outage_heals_by_itself(system: Bot, seconds, crash):
    bot = system
    bot.start(workers=1)
    bot.telegram.fail_next(CHAT, 429, retry_after=6)  # the welcome must wait 6 s
    bot.tg(CHAT, text="hi")
    bot.telegram.wait_for(lambda _: bot.r.exists(f"pd:deferred:telegram:{CHAT}"), 10)
    time.sleep(1.5)  # appendfsync everysec: on disk before the crash
    port, data = bot.redis_server.port, bot.redis_server.data_dir
    if crash:
        bot.redis_server.kill()  # kill -9: what was written in its last second may be lost
    else:
        bot.redis_server.stop()  # a clean stop: everything written is on disk
    time.sleep(seconds)  # the reply came due while Redis was away
    assert all(p.poll() is None for p in bot.procs), bot.log_tail()  # nobody exited
    bot.redis_server = RedisServer(data, port=port).start()
    back = time.monotonic()

    welcome, question = bot.tg_sent(CHAT, 2, timeout=15)
    assert time.monotonic() - back < 10  # within 10 s of Redis's return
    assert welcome["text"].startswith("Hi! I'm the polling-day volunteer bot")
    assert question["text"].startswith("Where are you?")
    bot.tg(CHAT, text="N7 6AA")  # and the bot carries on, answering once
    assert bot.tg_sent(CHAT, 3)[2]["text"].startswith("Thanks, got it.")
    assert all(p.poll() is None for p in bot.procs)
    worker_log = bot.logs[-1].read_text()
    assert worker_log.count("redis unavailable") == 1, worker_log
    assert worker_log.count("redis is back after") == 1, worker_log
    assert "Traceback" not in worker_log


def test_a_worker_asked_to_stop_stops_and_is_not_taken_for_an_outage(system: Bot):
    system.start(workers=1)
    worker = system.procs[-1]
    time.sleep(1)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=8) == 0  # it stopped: it did not start again
    assert "redis unavailable" not in system.logs[-1].read_text()
