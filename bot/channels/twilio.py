"""Twilio (WhatsApp and SMS share one webhook): signature check, form → Inbound, sending.

WhatsApp and SMS are two ``TwilioSender`` instances with different ``From`` numbers.
Addresses are ``whatsapp:+447700900123`` and ``sms:+447700900123`` (E.164).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping

import phonenumbers
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from bot.channels import ParseError
from bot.model.message import Inbound, Location, Outbound, SendResult

log = logging.getLogger(__name__)
SIGNATURE_HEADER = "X-Twilio-Signature"
UNREACHABLE = {21610: "sms-opted-out", 63014: "whatsapp-blocked", 21211: "invalid-number"}
RETRYABLE = {20429, 63018}  # rate limits; 5xx statuses are retried as well
MAX_BODY = 1600  # Twilio's limit for one message body
_REQUESTS_ENV = ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "REQUESTS_CA_BUNDLE",
                 "CURL_CA_BUNDLE")  # fmt: skip
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def verify(auth_token: str, url: str, form: Mapping[str, str], signature: str) -> bool:
    """``X-Twilio-Signature`` is valid for the public URL and every posted field."""
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


def parse(form: Mapping[str, str], received_at: float = 0.0) -> list[Inbound]:
    """The Inbound message in one Twilio webhook form."""
    if "MessageStatus" in form:
        return []  # a delivery status callback, not a message from a person
    sid, sender = form.get("MessageSid", ""), form.get("From", "")
    if not sid or not sender:
        raise ParseError("MessageSid and From are required")
    address = address_of(sender)
    base = {"address": address, "external_id": f"twilio:{sid}", "received_at": received_at}
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


class TwilioSender:
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
                return SendResult(False, unreachable=UNREACHABLE[code], error=str(code), code=code)
            if code in RETRYABLE or exc.status == 429:  # refused: nothing was sent
                return SendResult(False, retry_after=2.0, error=str(code or exc.status), code=code)
            if exc.status >= 500:  # may or may not have been accepted
                why = str(code or exc.status)
                return SendResult(False, retry_after=2.0, error=why, code=code, maybe_sent=True)
            return SendResult(False, error=f"{code}: {exc.msg}", code=code)
        except (TwilioException, OSError) as exc:  # connection problems, timeouts
            return SendResult(False, retry_after=2.0, error=str(exc), maybe_sent=True)
        return SendResult(True)

    def close(self) -> None:
        """Nothing to release beyond the session, which closes with the process."""
