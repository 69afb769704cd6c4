"""The web process on a real Redis: 403 / 400 / 413 / 200, dedupe, queueing, health."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import redis
from rq import Queue

from bot.app import create_app
from bot.config import Settings
from bot.model.message import Inbound
from tests.fakes import TEST_AUTH_TOKEN, sign
from tests.world import PUBLIC_URL as PUBLIC
from tests.world import web_settings

PAYLOADS = Path(__file__).parent / "payloads"
SECRET = "tg-secret_1"


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


def test_telegram_update_is_queued_once(client, r):
    update = load("telegram_message")
    assert tg(client, update).status_code == 200
    assert tg(client, update).status_code == 200  # Telegram retried: no second turn
    inbox = r.lrange("pd:inbox:telegram:4242", 0, -1)
    assert [Inbound.from_json(x).text for x in inbox] == ["hi"]
    assert r.lrange("pd:ready", 0, -1) == [b"telegram:4242"]
    assert queued(r) == [("workers.turns.drain_ready", ())]


@pytest.mark.parametrize("secret", [None, "", "wrong", SECRET + "x"])
def test_bad_telegram_secret_is_403_and_nothing_stored(client, r, secret):
    resp = tg(client, load("telegram_message"), secret=secret)
    assert resp.status_code == 403
    assert resp.get_json() == {"ok": False, "error": "bad or missing secret token"}
    assert r.keys("*") == []


@pytest.mark.parametrize(
    "data, content_type",
    [
        ("{not json", "application/json"),
        ("[]", "application/json"),
        ('{"update_id": 1, "message": {"chat": 5}}', "application/json"),
        ("update_id=1", "application/x-www-form-urlencoded"),
    ],
)
def test_malformed_telegram_body_is_400_without_traceback(client, r, data, content_type):
    resp = client.post(
        "/webhooks/telegram",
        data=data,
        content_type=content_type,
        headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
    )
    assert resp.status_code == 400
    assert "Traceback" not in resp.get_data(as_text=True)
    assert resp.get_json()["ok"] is False
    assert r.keys("pd:inbox:*") == []


@pytest.mark.parametrize("name", ["telegram_edited_message", "telegram_channel_post"])
def test_unused_update_kinds_are_200_and_ignored(client, r, name):
    assert tg(client, load(name)).status_code == 200
    assert r.keys("pd:inbox:*") == []


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


def test_twilio_signature_uses_public_url_and_query(client, r):
    form = load("twilio_sms")
    assert tw(client, form, path="/webhooks/twilio?src=a").status_code == 200
    wrong = sign("http://localhost/webhooks/twilio", form, TEST_AUTH_TOKEN)
    assert tw(client, form | {"MessageSid": "SMother"}, signature=wrong).status_code == 403


@pytest.mark.parametrize("signature", ["", "bm90IGEgc2lnbmF0dXJl"])
def test_bad_twilio_signature_is_403_and_nothing_stored(client, r, signature):
    resp = tw(client, load("twilio_sms"), signature=signature)
    assert resp.status_code == 403
    assert r.keys("*") == []


def test_tampered_twilio_form_is_refused(client, r):
    form = load("twilio_sms")
    sig = sign(PUBLIC + "/webhooks/twilio", form, TEST_AUTH_TOKEN)
    resp = tw(client, form | {"Body": "STOP"}, signature=sig)
    assert resp.status_code == 403 and r.keys("*") == []


def test_signed_but_malformed_twilio_form_is_400(client, r):
    resp = tw(client, {"Body": "hi"})
    assert resp.status_code == 400 and r.keys("pd:inbox:*") == []


def test_channel_without_credentials_is_off(settings, r):
    from dataclasses import replace

    client = create_app(replace(settings, telegram_token="", twilio_auth_token="")).test_client()
    assert tg(client, load("telegram_message")).status_code == 404
    assert tw(client, load("twilio_sms")).status_code == 404


def test_healthz(client, settings):
    assert client.get("/healthz").status_code == 200
    from dataclasses import replace

    down = create_app(replace(settings, redis_url="redis://127.0.0.1:1/0")).test_client()
    resp = down.get("/healthz")
    assert resp.status_code == 503 and resp.get_json()["redis"] == "down"
    resp = tg(down, load("telegram_message"))
    assert resp.status_code == 503 and "Traceback" not in resp.get_data(as_text=True)


def test_unknown_route_and_method_are_4xx_json(client):
    assert client.get("/nope").status_code == 404
    assert client.get("/webhooks/telegram").status_code == 405
