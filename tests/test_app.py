"""The web process on a real Redis: 403 / 400 / 413 / 200, dedupe, queueing, health.

Every row of the channels' webhook tables (tests/test_channel_*.py) is replayed here
through Flask and Redis: the status the table gives, and exactly its Inbounds queued."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import pytest
import redis
from rq import Queue

from bot.app import create_app
from bot.channels import Webhook
from bot.config import Settings
from bot.model.message import Inbound
from tests import test_channel_telegram, test_channel_twilio
from tests.fakes import TEST_AUTH_TOKEN, sign
from tests.test_channel_telegram import SECRET
from tests.world import PUBLIC_URL as PUBLIC
from tests.world import web_settings

PAYLOADS = Path(__file__).parent / "payloads"


def load(name: str) -> dict:
    return json.loads((PAYLOADS / f"{name}.json").read_text())


@pytest.fixture
def settings(redis_server) -> Settings:
    return web_settings(redis_server.url, SECRET)


@pytest.fixture
def client(settings, r):
    return create_app(settings).test_client()


def tg(client, body, secret=SECRET, **kw):
    headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret is not None else {}
    return client.post("/webhooks/telegram", json=body, headers=headers, **kw)


def tw(client, form, path="/webhooks/twilio", signature=None):
    sig = sign(PUBLIC + path, form, TEST_AUTH_TOKEN) if signature is None else signature
    return client.post(path, data=form, headers={"X-Twilio-Signature": sig})


def queued(r: redis.Redis) -> list[tuple]:
    """Jobs the web asked the workers for (it never talks to RQ itself)."""
    assert not Queue("turns", connection=r).get_jobs()
    asked = [json.loads(x) for x in r.lrange("pd:jobs", 0, -1)]
    return [(a["f"], tuple(a["a"])) for a in asked]


def post(client, hook: Webhook):
    """Send a channel table's request to the app, as the platform would."""
    return client.post(
        hook.url.removeprefix(PUBLIC),
        data=hook.body,
        content_type=hook.content_type,
        headers=dict(hook.headers),
    )


def inboxes(r: redis.Redis) -> list[Inbound]:
    """Every queued message, without the time it arrived."""
    return [
        replace(Inbound.from_json(raw), received_at=0.0)
        for key in sorted(r.keys("pd:inbox:*"))
        for raw in r.lrange(key, 0, -1)
    ]


REFUSED = {"telegram": "bad or missing secret token", "twilio": "bad or missing X-Twilio-Signature"}


@pytest.mark.parametrize(
    "name, request_, status, messages",
    [
        pytest.param(name, *row.values, id=f"{name}-{row.id}")
        for name, table in (
            ("telegram", test_channel_telegram.INBOUND),
            ("twilio", test_channel_twilio.INBOUND),
        )
        for row in table
    ],
)
def test_every_channel_table_row_gets_its_status_through_the_app(
    client, r, name, request_, status, messages
):
    resp = post(client, request_)
    assert resp.status_code == status
    assert "Traceback" not in resp.get_data(as_text=True)
    if status == 200:
        assert inboxes(r) == [replace(m, received_at=0.0) for m in messages]
    else:  # refused: a one-line JSON reason, and nothing stored, nothing queued
        body = resp.get_json()
        assert body["ok"] is False and body["error"] and "\n" not in body["error"]
        if status == 403:
            assert body == {"ok": False, "error": REFUSED[name]}
        assert r.keys("*") == []


def test_telegram_update_is_queued_once(client, r):
    update = load("telegram_message")
    assert tg(client, update).status_code == 200
    assert tg(client, update).status_code == 200  # Telegram retried: no second turn
    inbox = r.lrange("pd:inbox:telegram:4242", 0, -1)
    assert [Inbound.from_json(x).text for x in inbox] == ["hi"]
    assert r.lrange("pd:ready:telegram", 0, -1) == [b"telegram:4242"]
    assert queued(r) == [("workers.turns.drain_ready", ())]


def test_body_over_64_kib_is_413(client, r):
    update = load("telegram_message")
    update["message"]["text"] = "x" * 70_000
    assert tg(client, update).status_code == 413
    form = load("twilio_sms") | {"Body": "x" * 70_000}
    assert tw(client, form).status_code == 413
    assert r.keys("pd:inbox:*") == []


def test_twilio_sms_and_whatsapp_are_queued_once_with_empty_twiml(client, r):
    for name in ("twilio_sms", "twilio_whatsapp_text", "twilio_sms"):
        resp = tw(client, load(name))
        assert resp.status_code == 200
        assert resp.content_type.startswith("text/xml")
        assert resp.get_data(as_text=True) == (
            '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
        )
    assert r.llen("pd:inbox:sms:+447700900123") == 1
    assert r.llen("pd:inbox:whatsapp:+447700900123") == 1


def test_channel_without_credentials_is_off(settings, r):
    client = create_app(replace(settings, telegram_token="", twilio_auth_token="")).test_client()
    assert tg(client, load("telegram_message")).status_code == 404
    assert tw(client, load("twilio_sms")).status_code == 404


def test_twilio_message_for_a_number_not_configured_is_dropped(settings, r):
    client = create_app(replace(settings, twilio_whatsapp_from="")).test_client()
    assert tw(client, load("twilio_whatsapp_text")).status_code == 200
    assert tw(client, load("twilio_sms")).status_code == 200
    assert r.keys("pd:inbox:*") == [b"pd:inbox:sms:+447700900123"]


def test_console_has_no_webhook_and_unknown_channels_are_404(client):
    assert client.post("/webhooks/console", json={}).status_code == 404
    assert client.post("/webhooks/nope", json={}).status_code == 404


def test_a_flooding_sender_is_cut_at_the_quota(settings, r):
    campaign = replace(settings.campaign, message_quota=2)
    client = create_app(replace(settings, campaign=campaign)).test_client()
    update = load("telegram_message")
    if time.time() % 60 > 59:  # the quota counts per clock minute: stay inside one
        time.sleep(1.1)
    for i in range(4):
        update["update_id"] += 1
        update["message"]["text"] = f"m{i}"
        assert tg(client, update).status_code == 200  # never a reason for Telegram to retry
    assert [m.text for m in inboxes(r)] == ["m0", "m1"]
    # STOP and DELETE are never cut: however many came before them, they get through.
    for text in ("ＳＴＯＰ please", "delete my details"):
        update["update_id"] += 1
        update["message"]["text"] = text
        assert tg(client, update).status_code == 200
    assert [m.text for m in inboxes(r)] == ["m0", "m1", "ＳＴＯＰ please", "delete my details"]


def test_only_a_channel_with_a_reply_window_records_the_last_message(client, r):
    assert tg(client, load("telegram_message")).status_code == 200
    assert tw(client, load("twilio_sms")).status_code == 200
    assert r.hkeys("pd:lastin") == []
    assert tw(client, load("twilio_whatsapp_text")).status_code == 200
    assert r.hkeys("pd:lastin") == [b"whatsapp:+447700900123"]


def test_healthz(client, settings, r):
    from bot.model.message import Inbound
    from bot.store import Store

    store = Store(r, secret=settings.id_secret)
    alone = client.get("/healthz")  # a web process and no worker: nobody would answer
    assert alone.status_code == 503
    assert alone.get_json()["problems"] == ["no worker heard from in 30 s (last: never)"]
    store.pulse.beat("host:1", scheduler=False, counts={"turns": 3})
    assert client.get("/healthz").get_json()["problems"] == [
        "no worker runs the scheduler (python -m workers --with-scheduler)"
    ]
    store.pulse.beat("host:2", scheduler=True, counts={})
    ok = client.get("/healthz")
    assert ok.status_code == 200
    assert ok.get_json() == {
        "status": "ok", "redis": "ok", "workers": 2, "scheduler": True, "waiting": 0,
        "oldest_wait_seconds": 0.0, "problems": [],
    }  # fmt: skip
    # Someone has waited longer than max_wait_seconds (120) for a worker to take them.
    waited = Inbound("telegram:5", text="hi", external_id="u1", received_at=time.time() - 200)
    store.inbox.ingest("u1", "telegram:5", waited.to_json())
    late = client.get("/healthz")
    assert late.status_code == 503 and late.get_json()["waiting"] == 1
    assert late.get_json()["problems"][0].startswith("someone has waited 20")
    r.hset("pd:pulse:workers", "host:2", f"{time.time() - 31:.0f}|1")  # gone quiet
    assert "no worker runs the scheduler" in client.get("/healthz").get_json()["problems"][0]
    down = create_app(replace(settings, redis_url="redis://127.0.0.1:1/0")).test_client()
    resp = down.get("/healthz")
    assert resp.status_code == 503 and resp.get_json()["redis"] == "down"
    resp = tg(down, load("telegram_message"))
    assert resp.status_code == 503 and "Traceback" not in resp.get_data(as_text=True)


def test_unknown_route_and_method_are_4xx_json(client):
    assert client.get("/nope").status_code == 404
    assert client.get("/webhooks/telegram").status_code == 405


def test_json_nested_too_deeply_is_a_400_with_a_reason_and_no_traceback(client, r, caplog):
    deep = "[" * 20_000 + "]" * 20_000  # under the 64 KiB limit, far past json's depth
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json"}
    resp = client.post("/webhooks/telegram", data=deep, headers=headers)
    assert resp.status_code == 400
    assert resp.get_json() == {"ok": False, "error": "body is JSON nested too deeply"}
    assert r.keys("*") == []
    assert "Traceback" not in caplog.text


def test_a_stop_is_recorded_the_moment_it_arrives(client, r, settings):
    from bot.store.keys import hid

    update = load("telegram_message")
    update["message"]["text"] = "Ｓｔｏｐ please"
    assert tg(client, update).status_code == 200
    # Before any worker has taken the turn, broadcasts and reminders already skip them.
    assert r.smembers("pd:stopped") == {hid(settings.id_secret.encode(), "telegram:4242").encode()}
    assert [m.text for m in inboxes(r)] == ["Ｓｔｏｐ please"]  # and the turn confirms it


def test_a_delete_is_recorded_the_moment_it_arrives(client, r, settings):
    from bot.model.person import Conversation, State
    from bot.store import Store

    store = Store(r, secret=settings.id_secret)
    store.people.save(Conversation("telegram:4242", State.DONE), new_person=True)
    assert store.people.by_channel() == {"telegram": 1}
    update = load("telegram_message")
    update["message"]["text"] = "delete my details"
    assert tg(client, update).status_code == 200
    # Before any worker has taken the turn, no broadcast or reply reaches them...
    assert store.people.everyone() == set() and store.people.by_channel() == {"telegram": 0}
    assert not store.people.sendable(store.people.load("telegram:4242"))
    assert [m.text for m in inboxes(r)] == ["delete my details"]  # ...and the turn erases


def test_metrics_count_turns_sends_queues_and_broadcasts_without_personal_data(client, settings, r):
    from bot.broadcasts import Audience
    from bot.store import Store
    from bot.store.broadcasts import Broadcasts

    store = Store(r, secret=settings.id_secret)
    store.pulse.beat("host:1", True, {"turns": 5, "sends:telegram:sent": 4, "sends:sms:retry": 1})
    store.pulse.beat("host:2", True, {"turns": 2, "sends:telegram:sent": 2})
    from tests.people import add_supporters

    add_supporters(store, ["telegram:1"])
    bid = Broadcasts(store).create("Hi", Audience(), ["telegram:1", "sms:+447700900001"], 0)
    assert Broadcasts(store).settle(bid, "telegram:1", "sending", "", "claim") == 1
    Broadcasts(store).settle(bid, "telegram:1", "sent", "sent", "from-sending")
    store.inbox.ingest("u1", "telegram:4242", Inbound("telegram:4242", text="hi").to_json())
    resp = client.get("/metrics")
    assert resp.status_code == 200 and resp.mimetype == "text/plain"
    text = resp.get_data(as_text=True)
    for line in (
        "pollday_turns_total 7.0",  # summed across both worker processes
        'pollday_sends_total{channel="telegram",result="sent"} 6.0',
        'pollday_sends_total{channel="sms",result="retry"} 1.0',
        "pollday_waiting_people 1.0",
        "pollday_workers_alive 2.0",
        f'pollday_broadcast_recipients{{id="{bid}"}} 2.0',
        f'pollday_broadcast_handled{{id="{bid}",outcome="sent"}} 1.0',
    ):
        assert line in text.splitlines(), line
    assert "4242" not in text and "447700900001" not in text  # no person in any label
