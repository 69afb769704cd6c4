"""Redis goes away and comes back (fault marker): real processes heal by themselves.

Redis is killed (kill -9, its data kept by the append-only file) or stopped cleanly while a
reply is held back for a platform's retry_after, left down for 10 or 90 s, and started again
on the same port and data. Afterwards every process is still up, the held-back reply arrives
within 10 s of Redis's return, new messages are answered once, and each process logged the
outage once. Under load, the same with ~20 new people a second writing throughout, a
reminder coming due and a broadcast half sent: everyone is answered exactly once, and the
broadcast reaches everyone exactly once.
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator

import pytest
import requests

from bot.model.message import Inbound
from bot.model.person import Pledge
from bot.redis_server import RedisServer
from bot.store import Store
from tests.fakes.tls import TlsProxy, make_certificate
from tests.harness import ID_SECRET, SECRET, Bot
from tests.people import add_supporters

pytestmark = pytest.mark.fault
CHAT = 700_001


@pytest.fixture
def system(tmp_path, request) -> Iterator[Bot]:
    bot = Bot(tmp_path, fsync=getattr(request, "param", "everysec"))
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
    bot.telegram.wait_for(lambda _: bot.r.exists(f"pd:timed:telegram:{CHAT}"), 10)
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

    (welcome,) = bot.tg_sent(CHAT, 1, timeout=15)
    print(f"held-back reply {time.monotonic() - back:.1f} s after Redis returned")
    assert time.monotonic() - back < 10  # within 10 s of Redis's return
    assert welcome["text"].startswith("Hi! I'm the polling-day volunteer bot")
    assert welcome["text"].rsplit("\n\n", 1)[1].startswith("Where are you?")
    bot.tg(CHAT, text="N7 6AA")  # and the bot carries on, answering once
    assert bot.tg_sent(CHAT, 2)[1]["text"].startswith("Thanks: N7 6AA.")
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


# A kill -9 under load uses appendfsync always: with everysec (the default), Redis's own
# crash can lose the writes of its last second, among them messages already answered 200
# (README: "What a crash of Redis can lose").
@pytest.mark.parametrize(
    "seconds, crash, system",
    [(10, False, "everysec"), (10, True, "always"), (90, False, "everysec")],
    ids=["10s-stop", "10s-kill", "90s-stop"],
    indirect=["system"],
)
def test_an_outage_under_load_with_work_in_flight_heals_exactly_once(system: Bot, seconds, crash):
    """Redis goes for ``seconds`` while webhooks arrive at ~20/s (refused with 503 while it is
    away and delivered again, as platforms do), a reply waits out a 429, a reminder comes due
    and a broadcast is half sent."""
    bot = system
    bot.start(workers=2)
    store = Store(bot.r, secret=ID_SECRET)
    fans = [f"telegram:{710_000 + i}" for i in range(120)]
    add_supporters(store, fans)
    pledged = "telegram:719999"
    add_supporters(store, [pledged], pledge=Pledge("holloway", ("morning",)))
    # A reply held back 6 s by a 429, and a reminder due in 8 s: both during the outage.
    bot.telegram.fail_next(CHAT, 429, retry_after=6)
    bot.tg(CHAT, text="hi")
    about = {"room": "holloway", "shifts": ["morning"], "name": "m60", "about": ["morning"]}
    due = time.time() + 8  # (its place in the send line, as workers/reminders.py sets it)
    remind = Inbound(pledged, event="reminder", payload=json.dumps(about), external_id="r-1",
                     received_at=due)  # fmt: skip
    store.timed.add(remind, due)
    # A broadcast, stopped part way by the outage (30/s: four seconds for everyone).
    resp = bot.admin("POST", "/broadcasts", json={"text": "Polls close at 10pm!"})
    assert resp.status_code == 202 and resp.json()["recipients"] == len(fans) + 1
    bot.telegram.wait_for(lambda _: len(_broadcast_sent(bot)) >= 20, 20)

    load = Load(bot)
    load.start()
    time.sleep(1)
    old = bot.redis_server
    (old.kill if crash else old.stop)()
    time.sleep(seconds)
    assert all(p.poll() is None for p in bot.procs), bot.log_tail()  # nobody exited
    bot.redis_server = RedisServer(old.data_dir, port=old.port, fsync=old.fsync).start()
    back = time.monotonic()

    assert len(bot.tg_sent(CHAT, 1, timeout=15)) == 1
    print(f"held-back reply {time.monotonic() - back:.1f} s after Redis returned")
    bot.telegram.wait_for(
        lambda _: any(m["text"].startswith("Reminder:") for m in bot.telegram.sent(719_999)), 15
    )
    within = time.monotonic() - back
    print(f"held-back reply and reminder {within:.1f} s after Redis returned")
    assert within < 10
    time.sleep(2)
    load.stop()
    load_ended = time.monotonic() - back
    assert load.refused > 0  # the load went on through the outage...
    chats = load.chats
    assert len(chats) >= RATE * seconds  # ...at about 20 a second
    with _explained(
        bot, resp.json()["id"], lambda: sorted(c for c in chats if not bot.telegram.sent(c))
    ):
        bot.telegram.wait_for(lambda _: all(bot.telegram.sent(c) for c in chats), 120)
    time.sleep(1)
    per_chat = Counter(m["chat_id"] for m in bot.telegram.sent() if int(m["chat_id"]) in chats)
    assert set(per_chat.values()) == {1}  # the welcome with its question, exactly once
    with _explained(bot, resp.json()["id"], lambda: None):
        bot.telegram.wait_for(lambda _: len(set(_broadcast_sent(bot))) >= len(fans) + 1, 60)
    finished = time.monotonic() - back
    print(f"broadcast finished {finished:.1f} s after Redis returned, load ended {load_ended:.1f}")
    time.sleep(1)
    got = Counter(_broadcast_sent(bot))
    assert len(got) == len(fans) + 1 and set(got.values()) == {1}
    (hi,) = bot.telegram.sent(CHAT)
    assert hi["text"].startswith("Hi!") and "\n\nWhere are you?" in hi["text"]
    reminders = [m for m in bot.telegram.sent(719_999) if m["text"].startswith("Reminder:")]
    assert len(reminders) == 1
    print(f"{len(chats)} new people answered once each, {load.refused} refused deliveries "
          f"retried, broadcast to {len(got)} once each")  # fmt: skip
    assert all(p.poll() is None for p in bot.procs)
    for log in bot.logs[1:]:  # each worker noticed the outage once, and its end once
        text = log.read_text()
        assert text.count("redis unavailable") == 1 and text.count("redis is back") == 1, text
        assert "Traceback" not in text


@contextlib.contextmanager
def _explained(bot: Bot, bid: int, unanswered: Callable[[], object]) -> Iterator[None]:
    """A wait that fails says where the broadcast stood, who is unanswered and what the
    processes logged (the fake's dump alone shows only what was sent)."""
    try:
        yield
    except AssertionError as exc:
        status = bot.admin("GET", f"/broadcasts/{bid}").json()
        raise AssertionError(f"broadcast: {status}\nunanswered: {unanswered()}\n"
                             f"{bot.log_tail()}\n{exc}") from None  # fmt: skip


def _broadcast_sent(bot: Bot) -> list[str]:
    return [m["chat_id"] for m in bot.telegram.sent() if m["text"].startswith("Polls close")]


RATE = 20  # new people a second


class Load(threading.Thread):
    """New people writing "hi" at about 20 a second; what is refused (a 503 while Redis is
    away) is delivered again a second later, as a platform retries."""

    def __init__(self, bot: Bot) -> None:
        super().__init__(daemon=True)
        self.bot, self.chats, self.refused = bot, set(), 0
        self._done = threading.Event()
        self.http = requests.Session()

    def run(self) -> None:
        headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
        url = self.bot.url + "/webhooks/telegram"
        waiting: list[tuple[float, dict]] = []  # (when to deliver it, the update)
        n, start = 0, time.monotonic()
        while not self._done.is_set() or waiting:
            now = time.monotonic()
            while not self._done.is_set() and n < (now - start) * RATE:  # new arrivals
                n += 1
                waiting.append((now, self.bot.tg_update(730_000 + n, text="hi")))
            later = []
            for due, update in waiting:
                if due > now:
                    later.append((due, update))
                    continue
                try:
                    status = self.http.post(url, json=update, headers=headers, timeout=5)
                    ok = status.status_code == 200
                except requests.RequestException:
                    ok = False
                if ok:
                    self.chats.add(update["message"]["chat"]["id"])
                else:
                    self.refused += 1
                    later.append((now + 1.0, update))
            waiting = later
            time.sleep(0.05)

    def stop(self) -> None:
        self._done.set()
        self.join(timeout=60)


def test_a_managed_redis_over_tls_and_its_failover(tmp_path):
    """``rediss://`` works for every process, and a failover (every connection cut, then
    answering again at once) costs nobody their reply."""
    try:
        cert, key = make_certificate(tmp_path)
    except (FileNotFoundError, subprocess.CalledProcessError):
        pytest.skip("openssl is needed to make a certificate")
    bot = Bot(tmp_path)
    proxy = TlsProxy(bot.redis_server.port, cert, key).start()
    bot.redis_url = f"rediss://127.0.0.1:{proxy.port}/0?ssl_ca_certs={cert}"
    try:
        bot.start(workers=1)
        bot.tg(CHAT, text="hi")
        assert len(bot.tg_sent(CHAT, 1)) == 1
        assert proxy.accepted >= 2  # the web and the worker, both over TLS
        before = proxy.accepted
        proxy.drop_all()  # the failover
        update = bot.tg_update(CHAT, text="N7 6AA")
        deadline = time.monotonic() + 15
        while bot.post_tg(update).status_code != 200:  # a 503 is delivered again
            assert time.monotonic() < deadline
            time.sleep(0.5)
        assert bot.tg_sent(CHAT, 2)[1]["text"].startswith("Thanks: N7 6AA.")
        assert proxy.accepted > before  # they connected again, over TLS
        assert all(p.poll() is None for p in bot.procs)
    finally:
        bot.stop()
        proxy.stop()
