"""A fake Twilio Messages API for twilio's ``Client`` with ``client.api.base_url = fake.url``.

It answers ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` like Twilio: HTTP Basic
auth checked against the account, 201 with a Message resource on success, and Twilio's error
body ``{"code", "message", "more_info", "status"}`` on failure, which twilio raises as
``TwilioRestException`` with ``.code``. Also ``sign()``, the X-Twilio-Signature of a webhook.
"""

from __future__ import annotations

import base64
import json
import math
import re
import secrets
from email.utils import formatdate
from typing import Any

from twilio.request_validator import RequestValidator

from .limits import Limits, Window, retry_after
from .server import FakeServer, Recorded, Response

TEST_ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
TEST_AUTH_TOKEN = "f" * 32

_API = "/2010-04-01/Accounts/"
_MESSAGES = re.compile(r"^/2010-04-01/Accounts/(?P<account>[^/]+)/Messages\.json$")
_MESSAGE = re.compile(r"^/2010-04-01/Accounts/(?P<account>[^/]+)/Messages/(?P<sid>[^/]+)\.json$")

MESSAGES_BY_CODE = {
    20003: "Authenticate",
    20404: "The requested resource was not found",
    20429: "Too Many Requests",
    20500: "Internal Server Error",
    21211: "The 'To' number is not a valid phone number.",
    21602: "Message body is required.",
    21603: "A 'From' phone number is required.",
    21604: "A 'To' phone number is required.",
    21610: "Attempt to send to unsubscribed recipient",
    21617: "The concatenated message body exceeds the 1600 character limit.",
    21656: "The ContentVariables Parameter is invalid.",
    21910: "Invalid From and To pair. From and To should be of the same channel",
    63014: "This message was not delivered because the user has blocked messages from this sender",
    63016: (
        "Failed to send freeform message because you are outside the allowed window. "
        "If you are using WhatsApp, please use a Message Template."
    ),
    63018: "Rate limit exceeded for Channel",
}
_STATUS_BY_CODE = {20003: 401, 20404: 404, 20429: 429, 20500: 500, 500: 500, 503: 503}
_GSM7 = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà^{}\\[~]|€"
)


def sign(url: str, params: dict[str, str], auth_token: str) -> str:
    """The X-Twilio-Signature Twilio would send with a webhook POST of ``params`` to ``url``."""
    return RequestValidator(auth_token).compute_signature(url, params)


def twilio_error(code: int, status: int | None = None, message: str | None = None) -> Response:
    """A Twilio-shaped error response."""
    status = status or _STATUS_BY_CODE.get(code, 400)
    return status, {
        "code": code,
        "message": message or MESSAGES_BY_CODE.get(code, f"Error {code}"),
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def _segments(body: str, whatsapp: bool) -> int:
    if whatsapp or not body:
        return 1
    if set(body) <= _GSM7:
        single, multi = 160, 153
    else:
        single, multi = 70, 67
    length = len(body.encode("utf-16-le")) // 2 if single == 70 else len(body)
    return 1 if length <= single else math.ceil(length / multi)


class FakeTwilio(FakeServer):
    """Fake Twilio REST API (Messages create and fetch) for one account."""

    def __init__(
        self,
        account_sid: str = TEST_ACCOUNT_SID,
        auth_token: str = TEST_AUTH_TOKEN,
        whatsapp_per_second: float | None = 80,
        sms_per_second: float | None = 10,
    ) -> None:
        """Messages a second per sender (None: no limit): a WhatsApp sender's default 80, and
        an SMS number's; beyond it, 429 with code 20429 and a Retry-After header."""
        super().__init__()
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.limits = {
            "whatsapp": Limits(Window.per_second(whatsapp_per_second)),
            "sms": Limits(Window.per_second(sms_per_second)),
        }
        self._failures: list[dict[str, Any]] = []
        self._messages: list[dict[str, Any]] = []
        self._resources: dict[str, dict[str, Any]] = {}

    # -- failure injection ---------------------------------------------------------
    def fail_to(
        self,
        to: str | None,
        code: int,
        status: int | None = None,
        message: str | None = None,
        times: int | None = None,
    ) -> None:
        """Make creates to ``to`` (None: to anyone) fail with Twilio error ``code``.

        ``status`` defaults from the code (20429 → 429, 20500/500 → 500, else 400);
        ``times=None`` fails every time, otherwise only the next ``times`` creates.
        """
        with self._lock:
            self._failures.append(
                {"to": to, "response": twilio_error(code, status, message), "left": times}
            )

    def clear_failures(self) -> None:
        """Remove every injected failure."""
        with self._lock:
            self._failures.clear()

    # -- what was sent ------------------------------------------------------------
    def messages(self, to: str | None = None) -> list[dict[str, Any]]:
        """Successful creates in arrival order.

        Each is ``{"To", "From", "Body", "ContentSid", "ContentVariables",
        "MessagingServiceSid", "StatusCallback", "MediaUrl" (list), "sid"}``, absent → None.
        """
        with self._lock:
            sent = list(self._messages)
        return [m for m in sent if to is None or m["To"] == to]

    def clear(self) -> None:
        """Forget requests and messages (injected failures are kept)."""
        with self._lock:
            self._messages.clear()
            self._resources.clear()
        super().clear()

    # -- the API ------------------------------------------------------------------
    def handle(self, rec: Recorded) -> Response:
        if not self._authorised(rec):
            return twilio_error(20003)
        match = _MESSAGES.match(rec.path)
        if match and rec.method == "POST":
            if match["account"] != self.account_sid:
                return twilio_error(20404)
            return self._create(rec)
        match = _MESSAGE.match(rec.path)
        if match and rec.method == "GET":
            with self._lock:
                resource = self._resources.get(match["sid"])
            if match["account"] != self.account_sid or resource is None:
                return twilio_error(20404)
            return 200, resource
        return twilio_error(20404)

    def _authorised(self, rec: Recorded) -> bool:
        scheme, _, encoded = rec.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(encoded).decode("utf-8").partition(":")
        except ValueError:
            return False
        return (user, password) == (self.account_sid, self.auth_token)

    def _injected_failure(self, to: str) -> Response | None:
        with self._lock:
            for failure in self._failures:
                if failure["to"] is not None and failure["to"] != to:
                    continue
                if failure["left"] is not None:
                    if failure["left"] <= 0:
                        continue
                    failure["left"] -= 1
                return failure["response"]
        return None

    def _create(self, rec: Recorded) -> Response:
        form = rec.form
        to, sender = form.get("To"), form.get("From")
        service = form.get("MessagingServiceSid")
        body = form.get("Body")
        media = rec.multi.get("MediaUrl", [])
        if not to:
            return twilio_error(21604)
        if not sender and not service:
            return twilio_error(21603)
        if not body and not media and not form.get("ContentSid"):
            return twilio_error(21602)
        if body and len(body) > 1600:
            return twilio_error(21617)
        if sender and to.startswith("whatsapp:") != sender.startswith("whatsapp:"):
            return twilio_error(21910)
        if form.get("ContentVariables"):
            try:
                json.loads(form["ContentVariables"])
            except ValueError:
                return twilio_error(21656)
        failure = self._injected_failure(to)
        if failure:
            return failure
        limits = self.limits["whatsapp" if to.startswith("whatsapp:") else "sms"]
        if wait := limits.take(sender or service or ""):
            status, body = twilio_error(20429)
            return status, body, {"Retry-After": str(retry_after(wait))}
        sid = "SM" + secrets.token_hex(16)
        now = formatdate(usegmt=True).replace("GMT", "+0000")
        uri = f"{_API}{self.account_sid}/Messages/{sid}.json"
        resource = {
            "account_sid": self.account_sid,
            "api_version": "2010-04-01",
            "body": body or "",
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": sender,
            "messaging_service_sid": service,
            "num_media": str(len(media)),
            "num_segments": str(_segments(body or "", to.startswith("whatsapp:"))),
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "queued" if sender else "accepted",
            "subresource_uris": {"media": uri.replace(".json", "/Media.json")},
            "to": to,
            "uri": uri,
        }
        keys = ("To", "From", "Body", "ContentSid", "ContentVariables", "MessagingServiceSid",
                "StatusCallback")  # fmt: skip
        record = {key: form.get(key) for key in keys}
        record["MediaUrl"] = media
        record["sid"] = sid
        with self._lock:
            self._messages.append(record)
            self._resources[sid] = resource
        return 201, resource
