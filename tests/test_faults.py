"""Fault tests (marker ``fault``): forged and fuzzed webhooks, repeated deliveries, a
flooding sender, hostile texts, Redis restarting mid-journey, workers killed mid-broadcast,
the purge with replies held back and a reminder due."""

from __future__ import annotations

import json
import os
import random
import signal
import statistics
import string
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot import cli
from bot.app import create_app
from bot.model.message import Inbound
from bot.model.person import Pledge
from bot.redis_server import RedisServer
from bot.store import Store
from tests.fakes import TEST_AUTH_TOKEN, sign
from tests.harness import ID_SECRET, SECRET, Bot
from tests.people import add_supporters
from tests.world import PUBLIC_URL as PUBLIC
from tests.world import web_settings

pytestmark = pytest.mark.fault


# --- the web process alone ------------------------------------------------------------


@pytest.fixture
def client(redis_server, r):
    return create_app(web_settings(redis_server.url, SECRET)).test_client()


def test_1000_forged_or_missing_signatures_and_secrets_are_all_refused(client, r):
    rng = random.Random(5)
    statuses = Counter()
    for i in range(500):
        update = {"update_id": i, "message": {"chat": {"id": i, "type": "private"}, "text": "hi"}}
        secret = "".join(rng.choices(string.ascii_letters, k=rng.randint(0, 40)))
        headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if i % 5 else {}
        statuses[client.post("/webhooks/telegram", json=update, headers=headers).status_code] += 1
        form = {"MessageSid": f"SM{i}", "From": "+447700900123", "Body": "STOP"}
        forged = sign(PUBLIC + "/webhooks/twilio", form, "not-the-token") if i % 3 else ""
        if i % 7 == 0:  # a genuine signature over different fields
            forged = sign(PUBLIC + "/webhooks/twilio", {**form, "Body": "hi"}, TEST_AUTH_TOKEN)
        resp = client.post("/webhooks/twilio", data=form, headers={"X-Twilio-Signature": forged})
        statuses[resp.status_code] += 1
    assert statuses == {403: 1000}
    assert r.keys("*") == []  # nothing stored, nothing queued


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=20,
)
UPDATE = st.fixed_dictionaries(
    {"update_id": st.integers()},
    optional={
        "message": st.dictionaries(
            st.sampled_from(["chat", "text", "location", "from", "sticker", "message_id"]),
            JSON | st.fixed_dictionaries({"id": JSON, "type": JSON}),
            max_size=4,
        ),
        "callback_query": st.dictionaries(
            st.sampled_from(["id", "from", "data", "message"]), JSON, max_size=4
        ),
        "edited_message": JSON,
    },
)
FORM = st.dictionaries(
    st.sampled_from(["MessageSid", "From", "Body", "Latitude", "Longitude", "ButtonPayload",
                     "ButtonText", "NumMedia", "MessageStatus", "To"]) | st.text(max_size=10),
    st.text(max_size=40) | st.sampled_from(["+447700900123", "whatsapp:+447700900123", "x"]),
    max_size=7,
)  # fmt: skip
FUZZ = settings(
    max_examples=2500,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)


def _no_5xx(resp) -> None:
    assert resp.status_code < 500, resp.get_data(as_text=True)
    assert "Traceback" not in resp.get_data(as_text=True)


@FUZZ
@given(body=JSON | UPDATE)
def test_fuzzed_telegram_json_never_5xx(client, body):
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    _no_5xx(client.post("/webhooks/telegram", json=body, headers=headers))


@FUZZ
@given(raw=st.binary(max_size=300))
def test_fuzzed_telegram_bytes_never_5xx(client, raw):
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json"}
    _no_5xx(client.post("/webhooks/telegram", data=raw, headers=headers))


@FUZZ
@given(form=FORM)
def test_fuzzed_signed_twilio_forms_never_5xx(client, form):
    sig = sign(PUBLIC + "/webhooks/twilio", form, TEST_AUTH_TOKEN)
    _no_5xx(client.post("/webhooks/twilio", data=form, headers={"X-Twilio-Signature": sig}))


@FUZZ
@given(
    raw=st.binary(max_size=300),
    ctype=st.sampled_from(
        ["", "text/plain", "multipart/form-data", "application/x-www-form-urlencoded"]
    ),
)
def test_fuzzed_twilio_bytes_never_5xx(client, raw, ctype):
    headers = {"X-Twilio-Signature": "x", "Content-Type": ctype}
    _no_5xx(client.post("/webhooks/twilio", data=raw, headers=headers))


# --- the running system -----------------------------------------------------------------


@pytest.fixture
def system(tmp_path) -> Iterator[Bot]:
    extra = "rate_limits: {telegram: 1000, whatsapp: 1000, sms: 1000}\nmessage_quota: 30\n"
    bot = Bot(tmp_path, config_extra=extra, env={"BROADCAST_LEASE_SECONDS": "2"})
    try:
        yield bot
    except BaseException:
        print(bot.log_tail())
        raise
    finally:
        bot.stop()


def test_fuzzed_bodies_leave_the_live_web_process_up(system: Bot):
    system.start(workers=1)
    rng = random.Random(3)
    for i in range(500):
        raw = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 200)))
        for path, headers in (
            ("/webhooks/telegram", {"X-Telegram-Bot-Api-Secret-Token": SECRET}),
            ("/webhooks/twilio", {"X-Twilio-Signature": "x"}),
        ):
            resp = system.http.post(system.url + path, data=raw, headers=headers)
            assert resp.status_code < 500 and "Traceback" not in resp.text, (i, resp.text)
    assert system.http.get(system.url + "/healthz").status_code == 200
    assert all(p.poll() is None for p in system.procs)


def test_1000_updates_delivered_three_times_make_exactly_1000_turns(system: Bot):
    system.start(workers=2)
    updates = [system.tg_update(200_000 + i, text="hi") for i in range(1000)]
    deliveries = updates * 3
    random.Random(1).shuffle(deliveries)
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    post = lambda u: requests.post(system.url + "/webhooks/telegram", json=u, headers=headers)  # noqa: E731
    with ThreadPoolExecutor(8) as pool:
        statuses = [resp.status_code for resp in pool.map(post, deliveries)]
    assert set(statuses) == {200}
    system.telegram.wait_for(lambda _: len(system.telegram.sent()) >= 1000, timeout=120)
    time.sleep(1.0)
    per_chat = Counter(m["chat_id"] for m in system.telegram.sent())
    assert len(per_chat) == 1000 and set(per_chat.values()) == {1}  # the welcome, once
    assert system.r.scard("pd:people") == 1000


def test_a_flooding_sender_is_capped_and_others_stay_quick(system: Bot):
    system.start(workers=2)

    def latency(chats: list[int]) -> list[float]:
        out = []
        for chat in chats:
            start = time.time()
            system.tg(chat, text="hi")
            system.tg_sent(chat, 1, timeout=30)
            out.append(time.time() - start)
        return out

    baseline = latency(list(range(300_000, 300_010)))
    flooder = 399_999
    # The quota counts per clock minute: a flood across a minute's end gets a second
    # quota, so start it early in a minute.
    if (left := 60 - time.time() % 60) < 20:
        time.sleep(left + 0.1)
    with ThreadPoolExecutor(4) as pool:
        flood = pool.submit(lambda: [system.tg(flooder, text=f"spam {i}") for i in range(1000)])
        during = latency(list(range(300_100, 300_110)))
        flood.result()
    # 30 messages a minute are handled (a welcome, then one reply each, at the chat's own
    # limit of one a second); the other 970 are dropped quietly: no reply, nothing queued.
    system.telegram.wait_for(lambda _: len(system.telegram.sent(flooder)) >= 30, 60)
    time.sleep(2.0)
    replies = system.telegram.sent(flooder)
    assert 30 <= len(replies) <= 31 + 1
    assert system.r.llen(f"pd:inbox:telegram:{flooder}") == 0
    assert statistics.median(during) <= 2 * statistics.median(baseline) + 0.05, (baseline, during)
    # After 1,000 messages this minute, a STOP (the 1,001st) still gets through at once, and
    # another flooder's DELETE too: neither is ever cut by the quota.
    system.tg(flooder, text="STOP please")
    stop = system.telegram.wait_for(
        lambda _: any(
            m["text"].startswith("Done: you won't") for m in system.telegram.sent(flooder)
        ),
        10,
    )
    assert stop and system.r.scard("pd:stopped") == 1
    eraser = 399_998
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda i: system.tg(eraser, text=f"spam {i}"), range(40)))
    system.tg(eraser, text="delete my details")
    system.telegram.wait_for(
        lambda _: any(
            m["text"].startswith("Done: we've erased") for m in system.telegram.sent(eraser)
        ),
        10,
    )
    assert not system.r.exists(f"pd:conv:telegram:{eraser}")


HOSTILE = [
    "_*[]<>&`~|#+-=(){}.!\\",
    "x" * 4096,
    "🗳️🌹✊🏽 👨‍👩‍👧‍👦 " * 50,
    "مرحبا أنا في N7 6AA שלום",
    "\u202eAA6 7N\u202c ‮",
    "<b>bold</b> *bold* [link](http://x) &amp; &lt;",
    "\u200b\u200d\ufeff zero width",
]


def test_hostile_names_and_texts_never_break_a_send(system: Bot):
    system.start(workers=1)
    for i, text in enumerate(HOSTILE):
        chat = 500_000 + i
        update = system.tg_update(chat, text="hi")
        update["message"]["from"]["first_name"] = text[:64]
        update["message"]["chat"]["first_name"] = text[:64]
        system.post_tg(update)
        system.tg(chat, text=text)
        system.tw(f"+4477009{i:05d}", text)
        system.tw(f"whatsapp:+4477009{i:05d}", text, ProfileName=text[:64])
    system.telegram.wait_for(lambda _: len(system.telegram.sent()) >= 2 * len(HOSTILE), 60)
    system.twilio.wait_for(lambda _: len(system.twilio.messages()) >= 2 * len(HOSTILE), 60)
    time.sleep(0.5)
    sends = system.telegram.calls("sendMessage")
    assert sends and all(c.status == 200 for c in sends), [
        c.response for c in sends if c.status != 200
    ]
    assert all(c.status == 201 for c in system.twilio.requests)
    assert len(system.twilio.messages()) == 2 * len(HOSTILE)  # welcome with question, twice
    assert len(system.telegram.sent()) == 2 * len(HOSTILE)  # welcome, then a helpful reply
    assert "Traceback" not in system.log_tail()


def test_redis_restart_loses_no_confirmed_pledge_and_the_web_recovers(system: Bot):
    system.start(workers=1)
    chats = list(range(600_000, 600_005))
    for chat in chats:
        for n, step in enumerate(
            [{"text": "hi"}, {"text": "N7 6AA"}, {"text": "1"}, {"text": "yes"}]
        ):
            system.tg(chat, **step)
            system.tg_sent(chat, [1, 2, 3, 4][n])
    pledged = {c: system.r.hget("pd:pledge", f"telegram:{c}") for c in chats}
    assert all(pledged.values())
    time.sleep(1.5)  # appendfsync everysec: what is older than a second is on disk
    port, data = system.redis_server.port, system.redis_server.data_dir
    system.redis_server.kill()  # a crash, not a clean shutdown
    health = system.http.get(system.url + "/healthz")
    assert health.status_code == 503 and health.json()["redis"] == "down"
    update = system.tg_update(chats[0], text="hello")
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    resp = system.http.post(system.url + "/webhooks/telegram", json=update, headers=headers)
    assert resp.status_code == 503 and "Traceback" not in resp.text
    system.redis_server = RedisServer(data, port=port).start()
    deadline = time.monotonic() + 20
    while system.http.get(system.url + "/healthz").status_code != 200:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    r = redis.Redis.from_url(system.redis_server.url)
    assert {c: r.hget("pd:pledge", f"telegram:{c}") for c in chats} == pledged
    # The worker reconnects by itself: the journey goes on.
    system.tg(chats[0], text="yes")  # the consent question was still open
    thanks = system.tg_sent(chats[0], 6, timeout=60)[4]["text"]
    assert thanks.startswith("Thanks, we'll only message you about polling day.\n\n")


def test_five_sigkills_during_a_10000_recipient_broadcast(system: Bot):
    system.start(workers=1)
    store = Store(system.r, secret=ID_SECRET)
    people = add_supporters(store, [f"sms:+447701{i:06d}" for i in range(10_000)])
    bid = system.admin("POST", "/broadcasts", json={"text": "Go vote"}).json()["id"]
    worker = system.procs[1]
    for kill in range(5):
        target = 1500 * (kill + 1)
        system.twilio.wait_for(lambda reqs, t=target: len(reqs) >= t, timeout=120)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
        worker = system.start_process("worker")
    deadline = time.monotonic() + 180
    while (status := system.admin("GET", f"/broadcasts/{bid}").json())["status"] != "done":
        assert time.monotonic() < deadline, status
        time.sleep(0.5)
    received = Counter(m["To"] for m in system.twilio.messages())
    assert max(received.values()) == 1  # nobody twice
    ledger = {k.decode(): v.decode() for k, v in system.r.hgetall(f"pd:bc:{bid}:ledger").items()}
    missing = [p for p in people if received[p[4:]] == 0]
    assert all(ledger[p] == "ambiguous" for p in missing)
    assert status["ambiguous"] <= 5  # at most the one in flight at each kill, counted
    assert status["sent"] + status["ambiguous"] == len(people)
    print(json.dumps({"ambiguous": status["ambiguous"], "missing": len(missing)}))


def test_the_purge_with_replies_held_back_and_a_reminder_due_sends_nothing_after(
    system: Bot, monkeypatch
):
    system.start(workers=1)
    store = Store(system.r, secret=ID_SECRET)
    system.telegram.fail_next(610_001, 429, retry_after=6)  # the welcome must wait 6 s
    system.tg(610_001, text="hi")
    system.telegram.wait_for(lambda _: system.r.exists("pd:timed:telegram:610001"), 10)
    pledged = "telegram:610002"
    add_supporters(store, [pledged], pledge=Pledge("holloway", ("morning",)))
    about = {"room": "holloway", "shifts": ["morning"], "name": "m60", "about": ["morning"]}
    remind = Inbound(pledged, event="reminder", payload=json.dumps(about), external_id="r-1")
    store.timed.add(remind, time.time() + 3)
    for name, value in system.env.items():
        monkeypatch.setenv(name, value)
    assert cli.main(["purge"]) == 0
    time.sleep(9)  # past when both were due
    assert system.telegram.sent(610_001) == [] and system.telegram.sent(610_002) == []
    assert not system.r.keys("pd:timed:*") and not system.r.exists("pd:due")
    system.tg(610_003, text="hi")  # and the bot carries on
    assert len(system.tg_sent(610_003, 1)) == 1


def test_a_dead_worker_shows_on_healthz_and_metrics_count_the_turns(system: Bot):
    system.start(workers=1)
    health = system.http.get(system.url + "/healthz").json()
    assert health["workers"] == 1 and health["scheduler"] is True
    system.tg(620_001, text="hi")
    system.tg_sent(620_001, 1)
    deadline = time.monotonic() + 15  # counts arrive with the next heartbeat (5 s)
    while "pollday_turns_total 1.0" not in system.http.get(system.url + "/metrics").text:
        assert time.monotonic() < deadline
        time.sleep(0.5)
    metrics = system.http.get(system.url + "/metrics").text
    assert 'pollday_sends_total{channel="telegram",result="sent"} 1.0' in metrics  # one message
    assert "620001" not in metrics
    worker = system.procs[-1]
    os.killpg(worker.pid, signal.SIGKILL)  # kill -9: it says nothing on the way out
    worker.wait()
    deadline = time.monotonic() + 45
    while (resp := system.http.get(system.url + "/healthz")).status_code == 200:
        assert time.monotonic() < deadline, "healthz never noticed the dead worker"
        time.sleep(1)
    assert resp.status_code == 503
    problem = resp.json()["problems"][0]
    assert problem.startswith("no worker heard from in 30 s (last: ") and problem.endswith("s ago)")
    logged = system.logs[-1].read_text()  # and the worker logged each turn, by one-way id
    assert "turn " in logged and "620001" not in logged
