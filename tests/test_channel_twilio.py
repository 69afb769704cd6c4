"""Twilio channel (WhatsApp and SMS): recorded forms → Inbound, Outbound → exact API request."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.channels import ParseError, twilio
from bot.model.message import Inbound, Location, Outbound
from tests.fakes import TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, FakeTwilio, sign

PAYLOADS = Path(__file__).parent / "payloads"


def load(name: str) -> dict[str, str]:
    return json.loads((PAYLOADS / f"{name}.json").read_text())


@pytest.mark.parametrize(
    "name, expected",
    [
        ("twilio_sms", Inbound("sms:+447700900123", text="Hi")),
        ("twilio_whatsapp_text", Inbound("whatsapp:+447700900123", text="{Body}")),
        (
            "twilio_whatsapp_location",
            Inbound("whatsapp:+447700900123", location=Location(51.5541, -0.1097)),
        ),
        ("twilio_whatsapp_button", Inbound("whatsapp:+447700900123", text="Yes", payload="yes")),
    ],
)
def test_recorded_forms_parse_to_neutral_messages(name, expected):
    form = load(name)
    (got,) = twilio.parse(form)
    assert got == Inbound(
        expected.address,
        expected.text.format(**form),
        expected.location,
        expected.payload,
        f"twilio:{form['MessageSid']}",
    )


def test_status_callbacks_are_ignored():
    assert twilio.parse(load("twilio_status_failed")) == []


def test_media_without_text_is_unsupported():
    form = load("twilio_whatsapp_text") | {"Body": "", "NumMedia": "1"}
    (got,) = twilio.parse(form)
    assert got.unsupported and got.text == ""


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
    assert twilio.address_of(sender) == address


@pytest.mark.parametrize(
    "form",
    [
        {},
        {"From": "+447700900123"},
        {"MessageSid": "SM1"},
        {"MessageSid": "SM1", "From": "not a number"},
        {"MessageSid": "SM1", "From": "whatsapp:+44", "Latitude": "x", "Longitude": "1"},
    ],
)
def test_malformed_forms_raise_parse_error(form):
    with pytest.raises(ParseError):
        twilio.parse(form)


def test_signature_matches_twilio_documentation_vector():
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+12349013030",
        "Digits": "1234",
        "From": "+12349013030",
        "To": "+18005551212",
    }
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    assert twilio.verify("12345", url, params, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=")
    assert not twilio.verify(
        "12345", url, params | {"Digits": "1235"}, "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    )
    assert not twilio.verify("12345", url + "&x=1", params, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=")
    assert not twilio.verify("12345", url, params, "")
    assert not twilio.verify("", url, params, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=")


def test_signature_covers_fields_twilio_adds_later():
    form = load("twilio_whatsapp_text") | {"SomeNewField": "x"}
    url = "https://bot.example.org/webhooks/twilio"
    assert twilio.verify(TEST_AUTH_TOKEN, url, form, sign(url, form, TEST_AUTH_TOKEN))


@pytest.fixture
def fake():
    with FakeTwilio() as server:
        yield server


def sender(fake: FakeTwilio, from_: str) -> twilio.TwilioSender:
    return twilio.TwilioSender(TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, from_, fake.url)


@pytest.mark.parametrize(
    "from_, out, fields",
    [
        (
            "+447700900000",
            Outbound("sms:+447700900123", "Hi <b>&amp; *x*"),
            {"From": "+447700900000", "To": "+447700900123", "Body": "Hi <b>&amp; *x*"},
        ),
        (
            "whatsapp:+447700900000",
            Outbound("whatsapp:+447700900123", "Hello"),
            {"From": "whatsapp:+447700900000", "To": "whatsapp:+447700900123", "Body": "Hello"},
        ),
    ],
)
def test_outbound_becomes_the_exact_messages_request(fake, from_, out, fields):
    assert sender(fake, from_).send(out).ok
    (rec,) = fake.requests
    assert (rec.method, rec.path) == (
        "POST",
        f"/2010-04-01/Accounts/{TEST_ACCOUNT_SID}/Messages.json",
    )
    assert rec.form == fields
    assert rec.headers["Authorization"].startswith("Basic ")


@pytest.mark.parametrize(
    "code, status, unreachable, retryable",
    [
        (21610, 400, "sms-opted-out", False),
        (63014, 400, "whatsapp-blocked", False),
        (20429, 429, None, True),
        (20500, 500, None, True),
        (21617, 400, None, False),
    ],
)
def test_errors_are_split_into_final_and_retryable(fake, code, status, unreachable, retryable):
    fake.fail_to("+447700900123", code, status)
    result = sender(fake, "+447700900000").send(Outbound("sms:+447700900123", "hi"))
    assert not result.ok
    assert result.unreachable == unreachable
    assert (result.retry_after is not None) == retryable
