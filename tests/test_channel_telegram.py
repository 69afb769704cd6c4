"""Telegram channel: recorded updates → Inbound, Outbound → the exact Bot API request."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.channels import ParseError, telegram
from bot.model.message import Button, Inbound, Location, Outbound
from tests.fakes import FakeTelegram

PAYLOADS = Path(__file__).parent / "payloads"


def load(name: str) -> dict:
    return json.loads((PAYLOADS / f"{name}.json").read_text())


@pytest.mark.parametrize(
    "name, expected",
    [
        ("telegram_message", [Inbound("telegram:4242", text="hi", external_id="telegram:{id}")]),
        (
            "telegram_start_code",
            [Inbound("telegram:4242", text="/start AB12CD34", external_id="telegram:{id}")],
        ),
        (
            "telegram_location",
            [
                Inbound(
                    "telegram:4242",
                    location=Location(51.5541, -0.1097),
                    external_id="telegram:{id}",
                )
            ],
        ),
        (
            "telegram_callback_query",
            [
                Inbound(
                    "telegram:4242",
                    payload="shift:morning",
                    callback_id="{cb}",
                    external_id="telegram:{id}",
                )
            ],
        ),
        (
            "telegram_sticker",
            [Inbound("telegram:4242", unsupported=True, external_id="telegram:{id}")],
        ),
        ("telegram_edited_message", []),
        ("telegram_live_location", []),
        ("telegram_channel_post", []),
    ],
)
def test_recorded_updates_parse_to_neutral_messages(name, expected):
    update = load(name)
    cb = update.get("callback_query", {}).get("id", "")
    want = [
        Inbound(
            e.address,
            e.text,
            e.location,
            e.payload,
            e.external_id.format(id=update["update_id"]),
            e.callback_id.format(cb=cb) if e.callback_id else None,
            e.unsupported,
        )
        for e in expected
    ]
    assert telegram.parse(update) == want


@pytest.mark.parametrize(
    "body",
    [
        [],
        "x",
        {},
        {"update_id": "1"},
        {"update_id": 1, "message": "hi"},
        {"update_id": 1, "message": {"chat": {"id": "x", "type": "private"}, "text": "hi"}},
        {"update_id": 1, "message": {"chat": {"id": 1, "type": "private"}, "location": {}}},
        {"update_id": 1, "callback_query": {"id": "1", "from": {"id": 1}}},
    ],
)
def test_malformed_updates_raise_parse_error(body):
    with pytest.raises(ParseError):
        telegram.parse(body)


def test_group_messages_are_ignored():
    update = load("telegram_message")
    update["message"]["chat"] = {"id": -100, "type": "group", "title": "x"}
    assert telegram.parse(update) == []


@pytest.mark.parametrize(
    "headers, ok",
    [
        ({"X-Telegram-Bot-Api-Secret-Token": "s3cret"}, True),
        ({"X-Telegram-Bot-Api-Secret-Token": "s3cre"}, False),
        ({"X-Telegram-Bot-Api-Secret-Token": ""}, False),
        ({}, False),
    ],
)
def test_secret_header(headers, ok):
    assert telegram.verify("s3cret", headers) is ok


@pytest.fixture
def fake():
    with FakeTelegram() as server:
        yield server


@pytest.fixture
def sender(fake):
    s = telegram.TelegramSender("123:ABC", fake.url)
    yield s
    s.close()


@pytest.mark.parametrize(
    "out, form",
    [
        (
            Outbound("telegram:4242", "Hello *_[x]<b>&"),
            {"chat_id": "4242", "text": "Hello *_[x]<b>&"},
        ),
        (
            Outbound("telegram:4242", "Pick", (Button("Yes", "yes"), Button("Next", "next"))),
            {
                "chat_id": "4242",
                "text": "Pick",
                "reply_markup": {
                    "inline_keyboard": [
                        [{"text": "Yes", "callback_data": "yes"}],
                        [{"text": "Next", "callback_data": "next"}],
                    ]
                },
            },
        ),
        (
            Outbound("telegram:4242", "Where?", request_location=True),
            {
                "chat_id": "4242",
                "text": "Where?",
                "reply_markup": {
                    "keyboard": [[{"text": "📍 Share my location", "request_location": True}]],
                    "resize_keyboard": True,
                    "one_time_keyboard": True,
                },
            },
        ),
    ],
)
def test_outbound_becomes_the_exact_send_message_request(fake, sender, out, form):
    assert sender.send(out).ok
    (rec,) = fake.calls("sendMessage")
    assert rec.path == "/bot123:ABC/sendMessage"
    got = dict(rec.form)
    if "reply_markup" in got:
        got["reply_markup"] = json.loads(got["reply_markup"])
    assert got == form  # no parse_mode: user text can never break formatting


def test_long_text_is_cut_to_telegram_limit(fake, sender):
    assert sender.send(Outbound("telegram:1", "x" * 5000)).ok
    assert len(fake.sent()[0]["text"]) == 4096


def test_blocked_user_is_unreachable_not_retried(fake, sender):
    fake.block(4242)
    result = sender.send(Outbound("telegram:4242", "hi"))
    assert (result.ok, result.unreachable, result.retry_after) == (False, "telegram-blocked", None)
    assert len(fake.calls("sendMessage")) == 1


def test_429_gives_retry_after(fake, sender):
    fake.fail_next(4242, 429, retry_after=7)
    result = sender.send(Outbound("telegram:4242", "hi"))
    assert (result.ok, result.retry_after, result.unreachable) == (False, 7.0, None)
    assert sender.send(Outbound("telegram:4242", "hi")).ok


def test_server_error_is_retryable(fake, sender):
    fake.fail_next(4242, 502, "Bad Gateway")
    result = sender.send(Outbound("telegram:4242", "hi"))
    assert not result.ok and result.retry_after and not result.unreachable


def test_callback_query_is_answered(fake, sender):
    assert sender.ack("cb-1").ok
    (rec,) = fake.calls("answerCallbackQuery")
    assert rec.form == {"callback_query_id": "cb-1"}


def test_one_sender_reuses_its_connection(fake, sender):
    for i in range(5):
        assert sender.send(Outbound("telegram:1", f"m{i}")).ok
    assert fake.connections == 1
