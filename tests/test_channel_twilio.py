"""Twilio channel (WhatsApp and SMS from one webhook), one table per direction: a recorded form
→ the webhook's HTTP status → the Inbounds it queues; an Outbound → the exact Messages API
request → the SendResult."""

from __future__ import annotations

import json
import socket
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlencode

import pytest

from bot.channels import Webhook, capabilities, enabled
from bot.channels.twilio import SIGNATURE_HEADER, TwilioChannel, TwilioSender, address_of, verify
from bot.model.message import Button, Inbound, Location, Outbound, SendResult
from tests.fakes import TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, FakeTwilio, sign
from tests.world import PUBLIC_URL, web_settings

PAYLOADS = Path(__file__).parent / "payloads"
NOW = 1_720_000_000.0  # when the webhook received it
URL = f"{PUBLIC_URL}/webhooks/twilio"
WHATSAPP_FROM, SMS_FROM = "whatsapp:+447700900000", "+447700900000"
NUMBERS = {"whatsapp": WHATSAPP_FROM, "sms": SMS_FROM}
CHANNEL = TwilioChannel(TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, NUMBERS)
TEMPLATE = "HX0123456789abcdef0123456789abcdef"


def load(name: str) -> dict[str, str]:
    return json.loads((PAYLOADS / f"{name}.json").read_text())


def hook(form: dict[str, str] | str, url: str = URL, signature: str | None = None) -> Webhook:
    """A form POSTed to ``url`` (a payload name or the fields), signed as Twilio signs it
    unless ``signature`` is given."""
    fields = load(form) if isinstance(form, str) else form
    sig = sign(url, fields, TEST_AUTH_TOKEN) if signature is None else signature
    body = urlencode(fields).encode()
    return Webhook(url, {SIGNATURE_HEADER: sig}, body, "application/x-www-form-urlencoded")


def tampered() -> Webhook:
    """Signed, then the Body changed on the way."""
    form = load("twilio_sms")
    return hook(form | {"Body": "STOP"}, signature=sign(URL, form, TEST_AUTH_TOKEN))


def expect(recorded: str, address: str, **fields) -> list[Inbound]:
    sid = load(recorded)["MessageSid"]
    return [Inbound(address, external_id=f"twilio:{sid}", received_at=NOW, **fields)]


SMS, WA = "sms:+447700900123", "whatsapp:+447700900123"
NAME = "Ann_*[x]<b>&"  # WhatsApp's ProfileName in the recorded forms (SMS has none)
GOOD = {"MessageSid": "SM1", "From": "+447700900123"}

# (request, HTTP status, Inbounds queued). The app answers exactly this (tests/test_app.py
# replays every row through Flask and Redis).
INBOUND = [
    pytest.param(hook("twilio_sms"), 200, expect("twilio_sms", SMS, text="Hi"), id="sms"),
    pytest.param(
        hook("twilio_whatsapp_text"),
        200,
        expect("twilio_whatsapp_text", WA, text="Hi", name=NAME),
        id="whatsapp-text",
    ),
    pytest.param(
        hook("twilio_whatsapp_location"),
        200,
        expect("twilio_whatsapp_location", WA, location=Location(51.5541, -0.1097), name=NAME),
        id="whatsapp-location",
    ),
    pytest.param(
        hook("twilio_whatsapp_button"),
        200,
        expect("twilio_whatsapp_button", WA, text="Yes", payload="yes", name=NAME),
        id="whatsapp-button",
    ),
    pytest.param(
        hook(load("twilio_whatsapp_text") | {"Body": "", "NumMedia": "1"}),
        200,
        expect("twilio_whatsapp_text", WA, unsupported=True, name=NAME),
        id="media-without-text",
    ),
    pytest.param(
        hook(GOOD | {"From": "07700 900123"}),
        200,
        [Inbound(SMS, text="", external_id="twilio:SM1", received_at=NOW)],
        id="national-number-to-e164",
    ),
    pytest.param(
        hook(load("twilio_sms") | {"SomeNewField": "x"}),
        200,
        expect("twilio_sms", SMS, text="Hi"),
        id="signature-covers-new-fields",
    ),
    pytest.param(
        hook("twilio_sms", url=URL + "?src=a"),
        200,
        expect("twilio_sms", SMS, text="Hi"),
        id="signed-with-query",
    ),
    pytest.param(hook("twilio_status_failed"), 200, [], id="status-callback-ignored"),
    # Not from Twilio.
    pytest.param(hook("twilio_sms", signature=""), 403, [], id="no-signature"),
    pytest.param(hook("twilio_sms", signature="bm90IGEgc2lnbmF0dXJl"), 403, [], id="bad-signature"),
    pytest.param(
        hook(
            "twilio_sms",
            signature=sign("http://localhost/webhooks/twilio", load("twilio_sms"), TEST_AUTH_TOKEN),
        ),
        403,
        [],
        id="signed-for-the-url-flask-sees",
    ),  # fmt: skip
    pytest.param(tampered(), 403, [], id="tampered-form"),
    pytest.param(
        Webhook(URL, {SIGNATURE_HEADER: sign(URL, {}, TEST_AUTH_TOKEN)}, b"{}", "application/json"),
        400,
        [],
        id="not-a-form",
    ),
    # Signed, but not a message form.
    pytest.param(hook({}), 400, [], id="empty"),
    pytest.param(hook({"Body": "hi"}), 400, [], id="body-only"),
    pytest.param(hook({"From": "+447700900123"}), 400, [], id="no-message-sid"),
    pytest.param(hook({"MessageSid": "SM1"}), 400, [], id="no-from"),
    pytest.param(hook(GOOD | {"From": "not a number"}), 400, [], id="from-not-a-number"),
    pytest.param(hook(GOOD | {"From": "whatsapp:+44"}), 400, [], id="from-too-short"),
    pytest.param(
        hook(GOOD | {"From": "whatsapp:+447700900123", "Latitude": "x", "Longitude": "1"}),
        400,
        [],
        id="latitude-not-a-number",
    ),
]


@pytest.mark.parametrize("request_, status, messages", INBOUND)
def test_webhook_request_gives_status_and_inbounds(request_, status, messages):
    got = CHANNEL.receive(request_, NOW)
    assert (got.status, got.messages) == (status, messages)
    assert bool(got.reason) == (status != 200)  # a refusal says why, in one line
    assert "\n" not in got.reason


@pytest.mark.parametrize(
    "numbers, queued",
    [
        (NUMBERS, [SMS, WA]),
        ({"sms": SMS_FROM}, [SMS]),
        ({"whatsapp": WHATSAPP_FROM, "sms": ""}, [WA]),
    ],
)
def test_messages_to_a_number_that_is_not_configured_are_dropped(numbers, queued):
    channel = TwilioChannel(TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, numbers)
    got = [channel.receive(hook(n), NOW) for n in ("twilio_sms", "twilio_whatsapp_text")]
    assert [g.status for g in got] == [200, 200]
    assert [m.address for g in got for m in g.messages] == queued
    assert sorted(channel.senders(None)) == sorted(c for c, n in numbers.items() if n)


def test_webhook_answers_empty_twiml():
    assert CHANNEL.reply == b'<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
    assert CHANNEL.reply_type == "text/xml"


@pytest.mark.parametrize(
    "changes, on",
    [
        ({}, True),
        ({"twilio_whatsapp_from": ""}, True),
        ({"twilio_whatsapp_from": "", "twilio_sms_from": ""}, False),
        ({"twilio_auth_token": ""}, False),
        ({"twilio_account_sid": ""}, False),
    ],
)
def test_on_with_an_account_and_a_number(changes, on):
    settings = replace(web_settings("redis://x", "s"), **changes)
    assert ("twilio" in enabled(settings)) == on


def test_capabilities_per_address_channel():
    whatsapp, sms = capabilities("whatsapp"), capabilities("sms")
    assert (whatsapp.buttons, whatsapp.request_location, whatsapp.templates) == (False, False, True)
    assert (sms.buttons, sms.request_location, sms.templates) == (False, False, False)
    assert sms.reply_window is None and sms.in_window(None, NOW)
    assert whatsapp.reply_window == 24 * 3600  # free-form text only 24 h after their message
    assert whatsapp.in_window(NOW - 24 * 3600 + 1, NOW)
    assert not whatsapp.in_window(NOW - 24 * 3600, NOW)
    assert not whatsapp.in_window(None, NOW)


@pytest.mark.parametrize(
    "sender, address",
    [
        ("+447700900123", "sms:+447700900123"),
        ("07700 900123", "sms:+447700900123"),
        ("whatsapp:+447700900123", "whatsapp:+447700900123"),
        ("whatsapp:+1 415 555 2671", "whatsapp:+14155552671"),
    ],
)
def test_numbers_are_normalised_to_e164(sender, address):
    assert address_of(sender) == address


def test_signature_matches_twilio_documentation_vector():
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+12349013030",
        "Digits": "1234",
        "From": "+12349013030",
        "To": "+18005551212",
    }
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    assert verify("12345", url, params, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=")
    assert not verify("12345", url, params | {"Digits": "1235"}, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=")
    assert not verify("12345", url + "&x=1", params, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=")
    assert not verify("12345", url, params, "")
    assert not verify("", url, params, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=")
    # The same through the channel: verified, then refused as not a message (400, not 403).
    channel = TwilioChannel(TEST_ACCOUNT_SID, "12345", NUMBERS)
    signed = Webhook(
        url,
        {SIGNATURE_HEADER: "0/KCTR6DLpKmkAf8muzZqo1nDgQ="},
        urlencode(params).encode(),
        "application/x-www-form-urlencoded",
    )
    assert channel.receive(signed, NOW).status == 400


# -- sending ----------------------------------------------------------------------------


@pytest.fixture
def fake():
    with FakeTwilio() as server:
        yield server


def closed_port_url() -> str:
    """A URL where nothing listens: the connection is refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


TO_SMS, TO_WA = "+447700900123", "whatsapp:+447700900123"
SMS_HI = Outbound(SMS, "hi")
WA_HI = Outbound(WA, "hi")
SMS_FIELDS = {"From": SMS_FROM, "To": TO_SMS, "Body": "hi"}
WA_FIELDS = {"From": WHATSAPP_FROM, "To": TO_WA, "Body": "hi"}
RETRY = SendResult(False, retry_after=2.0)  # refused: nothing went, safe to send again
MAYBE = SendResult(False, retry_after=2.0, maybe_sent=True)  # may have gone: never resent

# (error the fake answers with: (code, HTTP status), Outbound, the form the fake receives
# (None: the platform cannot be reached), SendResult without its error text).
OUTBOUND = [
    pytest.param(
        None,
        Outbound(SMS, "Hi <b>&amp; *x*"),
        {"From": SMS_FROM, "To": TO_SMS, "Body": "Hi <b>&amp; *x*"},
        SendResult(True),
        id="sms-text",
    ),
    pytest.param(
        None,
        Outbound(WA, "Hello"),
        {"From": WHATSAPP_FROM, "To": TO_WA, "Body": "Hello"},
        SendResult(True),
        id="whatsapp-text",
    ),
    pytest.param(
        None,
        Outbound(WA, "Pick", (Button("Yes", "yes"),), request_location=True),
        {"From": WHATSAPP_FROM, "To": TO_WA, "Body": "Pick"},  # choices are in the text
        SendResult(True),
        id="buttons-and-location-button-left-out",
    ),
    pytest.param(
        None,
        Outbound(WA, "Polls close at 10pm", template=TEMPLATE),
        {
            "From": WHATSAPP_FROM,
            "To": TO_WA,
            "ContentSid": TEMPLATE,
            "ContentVariables": json.dumps({"1": "Polls close at 10pm"}),
        },
        SendResult(True),
        id="whatsapp-template",
    ),
    pytest.param(
        None,
        Outbound(SMS, "x" * 2000),
        {"From": SMS_FROM, "To": TO_SMS, "Body": "x" * 1600},  # cut to Twilio's limit
        SendResult(True),
        id="long-text-cut",
    ),
    pytest.param(
        (21610, 400),
        SMS_HI,
        SMS_FIELDS,
        SendResult(False, unreachable="sms-opted-out"),
        id="21610-unsubscribed",
    ),
    pytest.param(
        (63014, 400),
        WA_HI,
        WA_FIELDS,
        SendResult(False, unreachable="whatsapp-blocked"),
        id="63014-blocked",
    ),
    pytest.param(
        (21211, 400),
        SMS_HI,
        SMS_FIELDS,
        SendResult(False, unreachable="invalid-number"),
        id="21211-invalid-number",
    ),
    pytest.param(
        (63016, 400),
        WA_HI,
        WA_FIELDS,
        SendResult(False, needs_template=True),  # only an approved template can go now
        id="63016-outside-window",
    ),
    pytest.param((20429, 429), SMS_HI, SMS_FIELDS, RETRY, id="20429-too-many-requests"),
    pytest.param((63018, 400), WA_HI, WA_FIELDS, RETRY, id="63018-rate-limit"),
    pytest.param((14107, 429), SMS_HI, SMS_FIELDS, RETRY, id="any-429"),
    pytest.param((20500, 500), SMS_HI, SMS_FIELDS, MAYBE, id="500"),
    pytest.param((503, 503), SMS_HI, SMS_FIELDS, MAYBE, id="503"),
    pytest.param((21617, 400), SMS_HI, SMS_FIELDS, SendResult(False), id="other-400-final"),
    pytest.param(None, SMS_HI, None, MAYBE, id="connection-error"),
]


@pytest.mark.parametrize("failure, out, fields, result", OUTBOUND)
def test_outbound_becomes_the_exact_request_and_its_result(fake, failure, out, fields, result):
    if failure:
        code, status = failure
        fake.fail_to(None, code, status)
    from_ = NUMBERS[out.channel]
    url = fake.url if fields is not None else closed_port_url()
    got = TwilioSender(TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, from_, url).send(out)
    assert replace(got, error="") == result
    assert bool(got.error) == (not got.ok)  # a failure says what went wrong
    if fields is None:
        assert fake.requests == []
        return
    (rec,) = fake.requests  # one request: the sender itself never retries
    assert (rec.method, rec.path) == (
        "POST",
        f"/2010-04-01/Accounts/{TEST_ACCOUNT_SID}/Messages.json",
    )
    assert rec.form == fields
    assert rec.headers["Authorization"].startswith("Basic ")
