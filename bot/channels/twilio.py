"""Twilio: WhatsApp and SMS from one webhook; signature check, form → Inbound, sending.

One ``TwilioChannel`` serves two address channels, ``whatsapp:+447700900123`` and
``sms:+447700900123`` (E.164), each with its own ``From`` number and so its own
``TwilioSender``; a message to a number this deployment has not configured is dropped.
WhatsApp allows free-form text only within 24 hours of the person's last message; past
that Twilio refuses with 63016, which maps to ``SendResult.needs_template``.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

import phonenumbers
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from bot.channels.base import Capabilities, Channel, ParseError, Sender, Webhook, first_name
from bot.model.message import Inbound, Location, Outbound, SendResult

if TYPE_CHECKING:
    import redis

    from bot.config import Settings

log = logging.getLogger(__name__)
SIGNATURE_HEADER = "X-Twilio-Signature"
UNREACHABLE = {21610: "sms-opted-out", 63014: "whatsapp-blocked", 21211: "invalid-number"}
RETRYABLE = {20429, 63018}  # rate limits; 5xx statuses are retried as well
OUTSIDE_WINDOW = 63016  # free-form WhatsApp outside the 24-hour window: send a template
MAX_BODY = 1600  # Twilio's limit for one message body
_REQUESTS_ENV = ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "REQUESTS_CA_BUNDLE",
                 "CURL_CA_BUNDLE")  # fmt: skip
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


# GSM 03.38: what one SMS part carries in 7 bits (the extension characters take two).
GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡"
    "ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENDED = "^{}\\[~]|€\f"


def sms_parts(text: str) -> tuple[int, str]:
    """How many SMS parts ``text`` is sent as, and in which encoding (what each costs)."""
    if all(ch in GSM_BASIC or ch in GSM_EXTENDED for ch in text):
        units = len(text) + sum(ch in GSM_EXTENDED for ch in text)
        return (1 if units <= 160 else -(-units // 153)), "GSM-7"
    # Anything else (an emoji, a curly quote) sends the whole message as UCS-2.
    units = len(text.encode("utf-16-le")) // 2
    return (1 if units <= 70 else -(-units // 67)), "Unicode"


class TwilioChannel(Channel):
    """Twilio's messaging webhook and API, for the WhatsApp and SMS numbers configured."""

    name = "twilio"
    capabilities = {
        # Quick-reply buttons need an approved template each: choices are listed in the text.
        "whatsapp": Capabilities(templates=True, reply_window=24 * 3600),
        "sms": Capabilities(),
    }
    reply = EMPTY_TWIML.encode()
    reply_type = "text/xml"
    refused = "bad or missing X-Twilio-Signature"

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        numbers: Mapping[str, str],
        api_url: str = "https://api.twilio.com",
    ) -> None:
        self.account_sid, self.auth_token, self.api_url = account_sid, auth_token, api_url
        self.numbers = {channel: n for channel, n in numbers.items() if n}  # channel -> From

    @classmethod
    def from_settings(cls, settings: Settings) -> TwilioChannel | None:
        """On with an account and at least one of the WhatsApp and SMS numbers."""
        if not settings.twilio_on:
            return None
        numbers = {"whatsapp": settings.twilio_whatsapp_from, "sms": settings.twilio_sms_from}
        s = settings
        return cls(s.twilio_account_sid, s.twilio_auth_token, numbers, s.twilio_api_url)

    def verify(self, hook: Webhook) -> bool:
        """``X-Twilio-Signature`` is valid for the public URL and every posted field."""
        signature = hook.headers.get(SIGNATURE_HEADER) or ""
        return verify(self.auth_token, hook.url, hook.form, signature)

    def parse(self, hook: Webhook, received_at: float) -> list[Inbound]:
        """The message in one webhook form, unless it came to a number that is not ours."""
        return [m for m in parse_form(hook.form, received_at) if m.channel in self.numbers]

    def senders(self, r: redis.Redis) -> dict[str, Sender]:
        """A sender per configured number, each with its own HTTP session."""
        return {
            channel: TwilioSender(self.account_sid, self.auth_token, number, self.api_url)
            for channel, number in self.numbers.items()
        }


def verify(auth_token: str, url: str, form: Mapping[str, str], signature: str) -> bool:
    """``signature`` is valid for ``url`` and every field of ``form``."""
    if not auth_token or not signature:
        return False
    return RequestValidator(auth_token).validate(url, dict(form), signature)


def e164(number: str) -> str:
    """A phone number in E.164 (``+447700900123``); UK assumed when no country code."""
    try:
        parsed = phonenumbers.parse(number, "GB")
    except phonenumbers.NumberParseException as exc:
        raise ParseError(f"not a phone number: {exc}") from None
    if not phonenumbers.is_possible_number(parsed):
        raise ParseError("not a possible phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def address_of(sender: str) -> str:
    """``whatsapp:+44...`` or ``sms:+44...`` from a Twilio ``From`` field."""
    if sender.startswith("whatsapp:"):
        return "whatsapp:" + e164(sender.removeprefix("whatsapp:"))
    return "sms:" + e164(sender)


def parse_form(form: Mapping[str, str], received_at: float = 0.0) -> list[Inbound]:
    """The Inbound message in one Twilio webhook form."""
    if "MessageStatus" in form:
        return []  # a delivery status callback, not a message from a person
    sid, sender = form.get("MessageSid", ""), form.get("From", "")
    if not sid or not sender:
        raise ParseError("MessageSid and From are required")
    address = address_of(sender)
    base = {
        "address": address,
        "external_id": f"twilio:{sid}",
        "received_at": received_at,
        "name": first_name(form.get("ProfileName")),
    }  # WhatsApp's profile name; SMS has none
    lat, lon = form.get("Latitude"), form.get("Longitude")
    if lat and lon:
        try:
            point = Location(float(lat), float(lon))
        except ValueError:
            raise ParseError("Latitude/Longitude must be numbers") from None
        return [Inbound(location=point, **base)]
    if form.get("ButtonPayload") or form.get("ButtonText"):
        text = form.get("ButtonText", "")
        return [Inbound(text=text, payload=form.get("ButtonPayload") or None, **base)]
    body = form.get("Body", "")
    if not body.strip() and form.get("NumMedia", "0") not in ("", "0"):
        return [Inbound(unsupported=True, **base)]
    return [Inbound(text=body, **base)]


class TwilioSender(Sender):
    """Sends WhatsApp or SMS through twilio's Client (one HTTP session, kept alive)."""

    def __init__(
        self, account_sid: str, auth_token: str, from_: str, api_url: str = "https://api.twilio.com"
    ) -> None:
        self.from_ = from_
        http = TwilioHttpClient(timeout=10)
        # requests reads proxy settings from the environment on every call (a tenth of a
        # send's CPU); only when some are set is that worth it.
        if http.session is not None:
            http.session.trust_env = any(os.environ.get(v) for v in _REQUESTS_ENV)
        self.client = Client(account_sid, auth_token, http_client=http)
        self.client.api.base_url = api_url  # lets tests point at a local fake

    def send(self, out: Outbound) -> SendResult:
        """Send plain text; buttons are already spelt out in the text on these channels."""
        to = out.recipient if out.channel == "sms" else f"whatsapp:{out.recipient}"
        try:
            if out.template:  # an approved template, the text as its one variable
                variables = json.dumps({"1": out.text[:MAX_BODY]})
                self.client.messages.create(
                    from_=self.from_, to=to, content_sid=out.template, content_variables=variables
                )
            else:
                self.client.messages.create(from_=self.from_, to=to, body=out.text[:MAX_BODY])
        except TwilioRestException as exc:
            code = exc.code
            if code in UNREACHABLE:
                return SendResult(False, unreachable=UNREACHABLE[code], error=str(code))
            if code == OUTSIDE_WINDOW:
                return SendResult(False, error=f"{code}: {exc.msg}", needs_template=True)
            if code in RETRYABLE or exc.status == 429:  # refused: nothing was sent
                return SendResult(False, retry_after=2.0, error=str(code or exc.status))
            if exc.status >= 500:  # may or may not have been accepted
                why = str(code or exc.status)
                return SendResult(False, retry_after=2.0, error=why, maybe_sent=True)
            return SendResult(False, error=f"{code}: {exc.msg}")
        except (TwilioException, OSError) as exc:  # connection problems, timeouts
            return SendResult(False, retry_after=2.0, error=str(exc), maybe_sent=True)
        return SendResult(True)

    def close(self) -> None:
        """Nothing to release beyond the session, which closes with the process."""
