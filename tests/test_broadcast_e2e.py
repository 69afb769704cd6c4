"""Broadcasts through the running system: two workers sharing one rate limit, a worker
killed mid-broadcast, and an organiser broadcasting from chat."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from collections.abc import Iterator

import pytest
import redis

from bot.store import Store
from tests.harness import ID_SECRET, Bot
from tests.people import add_supporters

pytestmark = pytest.mark.e2e
ORGANISER = 900
RATE = 20


def max_in_any_second(times: list[float]) -> int:
    """The most events in any window [t, t + 1 s)."""
    times = sorted(times)
    best, j = 0, 0
    for i, t in enumerate(times):
        while times[j] <= t - 1.0:
            j += 1
        best = max(best, i - j + 1)
    return best


def wait_done(bot: Bot, bid: int, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = bot.admin("GET", f"/broadcasts/{bid}").json()
        if status["status"] == "done":
            return status
        time.sleep(0.2)
    raise AssertionError(f"broadcast {bid} not done: {status}\n{bot.log_tail()}")


@pytest.fixture
def bot(tmp_path) -> Iterator[Bot]:
    extra = f"rate_limits: {{telegram: {RATE}, sms: 1000}}\norganisers: ['telegram:{ORGANISER}']\n"
    system = Bot(tmp_path, config_extra=extra, env={"BROADCAST_LEASE_SECONDS": "2"})
    try:
        yield system
    finally:
        system.stop()


def test_two_workers_share_one_rate_limit(bot: Bot) -> None:
    bot.start(workers=2)
    store = Store(redis.Redis.from_url(bot.redis_server.url), secret=ID_SECRET)
    people = add_supporters(store, [f"telegram:{100000 + i}" for i in range(5 * RATE)])
    resp = bot.admin("POST", "/broadcasts", json={"text": "Polls close at 10pm"})
    assert resp.status_code == 202 and resp.json()["recipients"] == len(people)
    bot.telegram.wait_for(lambda reqs: len(reqs) >= RATE + 2, timeout=10)
    bot.tg(555, text="hi")  # someone talking to the bot while the broadcast is paced
    status = wait_done(bot, resp.json()["id"], timeout=30)
    assert status["sent"] == len(people)
    calls = [c for c in bot.telegram.calls("sendMessage") if c.status == 200]
    replies = [c for c in calls if c.form["chat_id"] == "555"]
    calls = [c for c in calls if c.form["chat_id"] != "555"]
    assert len(calls) == len(people)
    # Replies go before broadcast traffic: answered long before the broadcast ended.
    assert len(replies) == 1 and replies[-1].received_at < calls[-1].received_at - 1.0
    times = [c.received_at for c in calls]
    assert max_in_any_second(times) <= RATE
    rate = (len(times) - 1) / (max(times) - min(times))
    assert rate >= 0.85 * RATE, rate  # both workers kept the limit busy
    workers = {w.decode() for w in bot.r.smembers("rq:workers")}
    assert len(workers) == 2


def test_a_worker_killed_mid_broadcast_loses_no_one_and_repeats_no_one(bot: Bot) -> None:
    bot.start(workers=1)
    store = Store(redis.Redis.from_url(bot.redis_server.url), secret=ID_SECRET)
    people = add_supporters(store, [f"sms:+447700{i:06d}" for i in range(2000)])
    bid = bot.admin("POST", "/broadcasts", json={"text": "Go vote"}).json()["id"]
    bot.twilio.wait_for(lambda reqs: len(reqs) >= 400, timeout=30)
    worker = bot.procs[1]
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait()
    before = len(bot.twilio.messages())
    assert before < len(people)
    bot.start_process("worker")
    status = wait_done(bot, bid, timeout=60)
    received = Counter(m["To"] for m in bot.twilio.messages())
    assert max(received.values()) == 1  # nobody got it twice
    missing = [p for p in people if received[p[4:]] == 0]
    ledger = {k.decode(): v.decode() for k, v in bot.r.hgetall(f"pd:bc:{bid}:ledger").items()}
    # The only people who may have missed it are the ones counted ambiguous (at most one,
    # the send in flight when the worker died); everyone else got exactly one message.
    assert status["ambiguous"] <= 1
    assert all(ledger[p] == "ambiguous" for p in missing) and len(missing) <= status["ambiguous"]
    assert status["sent"] + status["ambiguous"] == len(people)
    assert sum(received.values()) >= len(people) - status["ambiguous"]


def test_organiser_broadcast_from_chat_needs_yes(bot: Bot) -> None:
    bot.start(workers=1)
    store = Store(redis.Redis.from_url(bot.redis_server.url), secret=ID_SECRET)
    add_supporters(store, ["telegram:301", "telegram:302"])
    add_supporters(store, ["telegram:303"], consent=False)
    bot.tg(ORGANISER, text="/broadcast Rain later: bring a coat")
    (preview,) = bot.tg_sent(ORGANISER, 1)
    assert preview["text"].startswith(
        "Broadcast preview: this would go to 2 supporters who agreed to updates.\n\n"
        "Rain later: bring a coat\n\n"
        "Promoted by T. Agent for Test Party, 1 Test Street, London N1 1AA.\n\nReply YES"
    )
    assert bot.telegram.sent(301) == []
    bot.tg(ORGANISER, text="yes")
    assert bot.tg_sent(ORGANISER, 2)[1]["text"] == "Broadcast #1 is on its way to 2 supporters."
    assert [m["text"] for m in bot.tg_sent(301, 1)] == [
        "Rain later: bring a coat\n\n"
        "Promoted by T. Agent for Test Party, 1 Test Street, London N1 1AA."
    ]
    assert len(bot.tg_sent(302, 1)) == 1 and bot.telegram.sent(303) == []
    # Anyone not listed as an organiser just gets the normal bot.
    bot.tg(301, text="/broadcast hello")
    assert bot.tg_sent(301, 2)[1]["text"].startswith("I need your postcode")
