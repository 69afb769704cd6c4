"""Telegram channel, one table per direction: a recorded update → the webhook's HTTP status →
the Inbounds it queues; an Outbound → the exact Bot API request → the SendResult."""

from __future__ import annotations

import json
import socket
from dataclasses import replace
from pathlib import Path

import pytest

from bot.channels import Webhook, capabilities, enabled
from bot.channels.telegram import SECRET_HEADER, TelegramChannel, TelegramSender
from bot.model.message import Button, Inbound, Location, Outbound, SendResult
from tests.fakes import FakeTelegram
from tests.world import PUBLIC_URL, web_settings

PAYLOADS = Path(__file__).parent / "payloads"
SECRET = "tg-secret_1"
NOW = 1_720_000_000.0  # when the webhook received it
CHANNEL = TelegramChannel("123:ABC", SECRET)


def load(name: str) -> dict:
    return json.loads((PAYLOADS / f"{name}.json").read_text())


def hook(
    body: object, secret: str | None = SECRET, content_type: str = "application/json"
) -> Webhook:
    """A POST to /webhooks/telegram; ``body`` a payload name, an object (sent as JSON) or
    bytes as they are."""
    if isinstance(body, str):
        body = load(body)
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {} if secret is None else {SECRET_HEADER: secret}
    return Webhook(f"{PUBLIC_URL}/webhooks/telegram", headers, raw, content_type)


def ids(name: str, *expected: Inbound) -> list[Inbound]:
    """``expected`` as received at NOW, with the update's own update_id and (where one is
    expected) its callback query id filled in."""
    update = load(name)
    cb = update.get("callback_query", {}).get("id", "")
    return [
        replace(
            e,
            external_id=f"telegram:{update['update_id']}",
            callback_id=cb if e.callback_id else None,
            received_at=NOW,
        )
        for e in expected
    ]


def group_message() -> dict:
    update = load("telegram_message")
    update["message"]["chat"] = {"id": -100, "type": "group", "title": "x"}
    return update


NAME = "Ann_*[x]<b>&"  # the first name in the recorded updates: kept as text, shown escaped
U = 1  # an update_id for hand-written bodies
PRIVATE = {"id": 1, "type": "private"}

# (request, HTTP status, Inbounds queued). The app answers exactly this (tests/test_app.py
# replays every row through Flask and Redis).
INBOUND = [
    pytest.param(
        hook("telegram_message"),
        200,
        ids("telegram_message", Inbound("telegram:4242", text="hi", name=NAME)),
        id="text",
    ),
    pytest.param(
        hook("telegram_start_code"),
        200,
        ids("telegram_start_code", Inbound("telegram:4242", text="/start AB12CD34", name=NAME)),
        id="deep-link-start",
    ),
    pytest.param(
        hook("telegram_location"),
        200,
        ids(
            "telegram_location",
            Inbound("telegram:4242", location=Location(51.5541, -0.1097), name=NAME),
        ),
        id="location",
    ),
    pytest.param(
        hook("telegram_callback_query"),
        200,
        ids(
            "telegram_callback_query",
            Inbound("telegram:4242", payload="shift:morning", callback_id="<its id>", name=NAME),
        ),
        id="button-press",
    ),
    pytest.param(
        hook("telegram_sticker"),
        200,
        ids("telegram_sticker", Inbound("telegram:4242", unsupported=True, name=NAME)),
        id="sticker",
    ),
    # Acknowledged and ignored: Telegram retries anything but a 2xx.
    pytest.param(hook("telegram_edited_message"), 200, [], id="edited-message"),
    pytest.param(hook("telegram_live_location"), 200, [], id="live-location"),
    pytest.param(hook("telegram_channel_post"), 200, [], id="channel-post"),
    pytest.param(hook(group_message()), 200, [], id="group-message"),
    # Not from Telegram: the secret header is wrong or missing.
    pytest.param(hook("telegram_message", secret=SECRET[:-1]), 403, [], id="secret-too-short"),
    pytest.param(hook("telegram_message", secret=SECRET + "x"), 403, [], id="secret-too-long"),
    pytest.param(hook("telegram_message", secret="wrong"), 403, [], id="secret-wrong"),
    pytest.param(hook("telegram_message", secret=""), 403, [], id="secret-empty"),
    pytest.param(hook("telegram_message", secret=None), 403, [], id="secret-missing"),
    # Malformed: not JSON, or not the shape of an update.
    pytest.param(hook(b"{not json"), 400, [], id="not-json"),
    pytest.param(
        hook(b"update_id=1", content_type="application/x-www-form-urlencoded"),
        400,
        [],
        id="form-encoded",
    ),
    pytest.param(hook([]), 400, [], id="a-list"),
    pytest.param(hook(b'"x"'), 400, [], id="a-string"),
    pytest.param(hook({}), 400, [], id="no-update-id"),
    pytest.param(hook({"update_id": "1"}), 400, [], id="update-id-not-int"),
    pytest.param(hook({"update_id": U, "message": "hi"}), 400, [], id="message-not-object"),
    pytest.param(hook({"update_id": U, "message": {"chat": 5}}), 400, [], id="chat-not-object"),
    pytest.param(
        hook({"update_id": U, "message": {"chat": {"id": "x", "type": "private"}, "text": "hi"}}),
        400,
        [],
        id="chat-id-not-int",
    ),
    pytest.param(
        hook({"update_id": U, "message": {"chat": PRIVATE, "location": {}}}),
        400,
        [],
        id="location-without-coordinates",
    ),
    pytest.param(
        hook({"update_id": U, "callback_query": {"id": "1", "from": {"id": 1}}}),
        400,
        [],
        id="button-press-without-data",
    ),
]


@pytest.mark.parametrize("request_, status, messages", INBOUND)
def test_webhook_request_gives_status_and_inbounds(request_, status, messages):
    got = CHANNEL.receive(request_, NOW)
    assert (got.status, got.messages) == (status, messages)
    assert bool(got.reason) == (status != 200)  # a refusal says why, in one line
    assert "\n" not in got.reason


def test_webhook_answers_ok_json():
    assert (CHANNEL.reply, CHANNEL.reply_type) == (b'{"ok":true}', "application/json")


@pytest.mark.parametrize(
    "token, secret, on, receiving",
    [("123:ABC", SECRET, True, True), ("123:ABC", "", True, False), ("", SECRET, False, False)],
)
def test_on_with_a_token_and_the_webhook_only_with_its_secret(token, secret, on, receiving):
    settings = replace(web_settings("redis://x", secret), telegram_token=token)
    channel = enabled(settings).get("telegram")
    assert (channel is not None) == on
    assert channel is None or channel.receiving == receiving


def test_capabilities():
    caps = capabilities("telegram")
    assert (caps.buttons, caps.request_location, caps.templates) == (True, True, False)
    assert caps.reply_window is None and caps.in_window(None, NOW)


# -- sending ----------------------------------------------------------------------------


@pytest.fixture
def fake():
    with FakeTelegram() as server:
        yield server


def closed_port_url() -> str:
    """A URL where nothing listens: the connection is refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


TEXT = {"chat_id": "4242", "text": "hi"}
HI = Outbound("telegram:4242", "hi")
RETRY = SendResult(False, retry_after=1.0, maybe_sent=True)  # may have gone: never resent

# (failure the fake injects, Outbound, the sendMessage form the fake receives (None: the
# platform cannot be reached), SendResult without its error text).
OUTBOUND = [
    pytest.param(
        None,
        Outbound("telegram:4242", "Hello *_[x]<b>&"),
        {"chat_id": "4242", "text": "Hello *_[x]<b>&"},  # no parse_mode: text cannot break it
        SendResult(True),
        id="plain-text",
    ),
    pytest.param(
        None,
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
        SendResult(True),
        id="inline-buttons",
    ),
    pytest.param(
        None,
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
        SendResult(True),
        id="location-button",
    ),
    pytest.param(
        None,
        Outbound("telegram:1", "x" * 5000),
        {"chat_id": "1", "text": "x" * 4096},  # cut to Telegram's limit
        SendResult(True),
        id="long-text-cut",
    ),
    pytest.param(
        "block",
        HI,
        TEXT,
        SendResult(False, unreachable="telegram-blocked"),
        id="403-blocked",
    ),
    pytest.param(
        (429, None, 7), HI, TEXT, SendResult(False, retry_after=7.0), id="429-retry-after"
    ),
    pytest.param(
        (400, "Bad Request: chat not found", None),
        HI,
        TEXT,
        SendResult(False, unreachable="telegram-chat-not-found"),
        id="400-chat-not-found",
    ),
    pytest.param(
        (400, "Bad Request: message is too long", None),
        HI,
        TEXT,
        SendResult(False),  # final, but says nothing about the person
        id="400-other",
    ),
    pytest.param((500, None, None), HI, TEXT, RETRY, id="500"),
    pytest.param((502, "Bad Gateway", None), HI, TEXT, RETRY, id="502"),
    pytest.param(None, HI, None, RETRY, id="network-error"),
]


@pytest.mark.parametrize("failure, out, form, result", OUTBOUND)
def test_outbound_becomes_the_exact_request_and_its_result(fake, failure, out, form, result):
    if failure == "block":
        fake.block(out.recipient)
    elif failure:
        status, description, retry_after = failure
        fake.fail_next(out.recipient, status, description, retry_after)
    sender = TelegramSender("123:ABC", fake.url if form is not None else closed_port_url())
    try:
        got = sender.send(out)
    finally:
        sender.close()
    assert replace(got, error="") == result
    assert bool(got.error) == (not got.ok)  # a failure says what went wrong
    if form is None:
        assert fake.requests == []
        return
    (rec,) = fake.calls("sendMessage")  # one request: the sender itself never retries
    assert rec.path == "/bot123:ABC/sendMessage"
    sent = dict(rec.form)
    if "reply_markup" in sent:
        sent["reply_markup"] = json.loads(sent["reply_markup"])
    assert sent == form


@pytest.fixture
def sender(fake):
    s = TelegramSender("123:ABC", fake.url)
    yield s
    s.close()


def test_429_lets_the_next_send_through(fake, sender):
    fake.fail_next(4242, 429, retry_after=7)
    assert sender.send(HI).retry_after == 7.0
    assert sender.send(HI).ok


def test_callback_query_is_answered(fake, sender):
    assert sender.ack("cb-1").ok
    (rec,) = fake.calls("answerCallbackQuery")
    assert rec.form == {"callback_query_id": "cb-1"}


def test_warm_up_opens_a_connection_with_get_me(fake, sender):
    assert sender.warm_up().ok
    assert len(fake.calls("getMe")) == 1 and fake.connections == 1


def test_one_sender_reuses_its_connection(fake, sender):
    for i in range(5):  # (to five chats: one chat may take only a burst of three)
        assert sender.send(Outbound(f"telegram:{i + 1}", f"m{i}")).ok
    assert fake.connections == 1


def test_paid_broadcasts_are_asked_for_when_the_campaign_turns_them_on(fake):
    paid = TelegramSender("123:ABC", fake.url, paid_broadcast=True)
    try:
        assert paid.send(HI).ok
    finally:
        paid.close()
    (rec,) = fake.calls("sendMessage")
    assert rec.form == {**TEXT, "allow_paid_broadcast": "true"}
