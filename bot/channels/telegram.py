"""Telegram: secret-header check, update → Inbound, and sending through python-telegram-bot.

The webhook never builds PTB objects (too slow for the hot path); it reads the update
dict directly. Sending uses PTB's ``Bot`` on one event loop per worker process, run by a
thread of its own, so the worker's threads can all send at once over one keep-alive pool.
PTB's default transport (httpx) managed ~325 sends/s here; ``AiohttpRequest`` (PTB's
``BaseRequest`` on aiohttp) costs a fraction of the CPU a send, which broadcasts need.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import threading
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import aiohttp
from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
)
from telegram.error import (
    BadRequest,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.request import BaseRequest, RequestData

from bot.channels.base import Capabilities, Channel, ParseError, Sender, Webhook, first_name
from bot.model.message import Inbound, Location, Outbound, SendResult
from messages import t

if TYPE_CHECKING:
    import redis

    from bot.config import Settings

# Opt in to RetryAfter.retry_after as a timedelta (PTB 22 warns about the old int form).
os.environ.setdefault("PTB_TIMEDELTA", "1")
log = logging.getLogger(__name__)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_TEXT = 4096
_FORM = {"Content-Type": "application/x-www-form-urlencoded"}


class TelegramChannel(Channel):
    """Telegram: private chats, inline buttons and a share-location button; no reply window."""

    name = "telegram"
    capabilities = {"telegram": Capabilities(buttons=True, request_location=True)}
    reply = b'{"ok":true}'  # the same answer every time, without building it
    reply_type = "application/json"
    refused = "bad or missing secret token"

    def __init__(
        self,
        token: str,
        secret: str,
        api_url: str = "https://api.telegram.org",
        paid_broadcast: bool = False,
    ) -> None:
        self.token, self.secret, self.api_url = token, secret, api_url
        self.paid_broadcast = paid_broadcast

    @classmethod
    def from_settings(cls, settings: Settings) -> TelegramChannel | None:
        """On with a bot token (sending); the webhook also needs its secret."""
        if not settings.telegram_token:
            return None
        return cls(
            settings.telegram_token,
            settings.telegram_secret,
            settings.telegram_api_url,
            settings.campaign.telegram_paid_broadcast,
        )

    @property
    def receiving(self) -> bool:
        """Without a secret no request could be told from a forgery: the webhook is off."""
        return bool(self.secret)

    def verify(self, hook: Webhook) -> bool:
        """The secret header matches, compared in constant time."""
        given = hook.headers.get(SECRET_HEADER) or ""
        return bool(self.secret) and hmac.compare_digest(given.encode(), self.secret.encode())

    def parse(self, hook: Webhook, received_at: float) -> list[Inbound]:
        """The Inbound messages in one JSON update."""
        if not _is_json(hook.content_type):
            raise ParseError("body is not JSON")
        try:
            update = json.loads(hook.body)
        except ValueError:
            raise ParseError("body is not JSON") from None
        except RecursionError:
            raise ParseError("body is JSON nested too deeply") from None
        return parse_update(update, received_at)

    def senders(self, r: redis.Redis) -> dict[str, Sender]:
        """One sender (its event loop starts on first use)."""
        return {"telegram": TelegramSender(self.token, self.api_url, self.paid_broadcast)}


def _is_json(content_type: str) -> bool:
    """As Flask decides ``request.is_json``."""
    mime = content_type.split(";", 1)[0].strip().lower()
    return mime == "application/json" or (
        mime.startswith("application/") and mime.endswith("+json")
    )


def parse_update(update: Any, received_at: float = 0.0) -> list[Inbound]:
    """The Inbound messages in one update; [] for kinds the bot does not use."""
    if not isinstance(update, dict) or not isinstance(update.get("update_id"), int):
        raise ParseError("not a Telegram update: no integer update_id")
    external_id = f"telegram:{update['update_id']}"
    if "message" in update:
        msg = _obj(update, "message")
        chat = _obj(msg, "chat")
        if chat.get("type") != "private":
            return []  # groups and channels are not part of the journey
        sender = msg.get("from")
        name = first_name(sender.get("first_name")) if isinstance(sender, dict) else ""
        base = {"address": f"telegram:{_int(chat, 'id')}", "external_id": external_id,
                "name": name}  # fmt: skip
        if isinstance(msg.get("text"), str):
            return [Inbound(text=msg["text"], received_at=received_at, **base)]
        if "location" in msg:
            loc = _obj(msg, "location")
            point = Location(_float(loc, "latitude"), _float(loc, "longitude"))
            return [Inbound(location=point, received_at=received_at, **base)]
        return [Inbound(unsupported=True, received_at=received_at, **base)]
    if "callback_query" in update:
        cq = _obj(update, "callback_query")
        user = _obj(cq, "from")
        data = cq.get("data")
        if not isinstance(data, str) or not isinstance(cq.get("id"), str):
            raise ParseError("callback_query without id or data")
        return [
            Inbound(
                address=f"telegram:{_int(user, 'id')}",
                payload=data[:64],
                callback_id=cq["id"],
                external_id=external_id,
                name=first_name(user.get("first_name")),
                received_at=received_at,
            )
        ]
    return []  # edited messages, channel posts, polls...: acknowledged and ignored


def _obj(d: dict, key: str) -> dict:
    value = d.get(key)
    if not isinstance(value, dict):
        raise ParseError(f"{key}: expected an object")
    return value


def _int(d: dict, key: str) -> int:
    value = d.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ParseError(f"{key}: expected an integer")
    return value


def _float(d: dict, key: str) -> float:
    value = d.get(key)
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise ParseError(f"{key}: expected a number")
    return float(value)


def markup(out: Outbound) -> InlineKeyboardMarkup | ReplyKeyboardMarkup | None:
    """Inline buttons, or the share-location keyboard, for an Outbound."""
    if out.buttons:
        rows = [[InlineKeyboardButton(b.label, callback_data=b.payload)] for b in out.buttons]
        return InlineKeyboardMarkup(rows)
    if out.request_location:
        button = KeyboardButton(t("location_button"), request_location=True)
        return ReplyKeyboardMarkup([[button]], resize_keyboard=True, one_time_keyboard=True)
    return None


class AiohttpRequest(BaseRequest):
    """PTB's transport on one aiohttp session. Text only: the bot never uploads files."""

    def __init__(self, pool_size: int = 64, read_timeout: float = 10.0) -> None:
        self._pool_size, self._read_timeout = pool_size, read_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._pool_size),
                timeout=aiohttp.ClientTimeout(connect=5, sock_read=self._read_timeout),
                headers={"User-Agent": self.USER_AGENT},
            )

    async def shutdown(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if self._session is None:
            raise RuntimeError("AiohttpRequest is not initialised")
        if request_data is not None and request_data.contains_files:
            raise NetworkError("file uploads are not supported by this transport")
        # Form fields, as PTB's own transport sends them, encoded here in one call
        # (aiohttp's FormData was a tenth of a turn's CPU).
        body = request_data.url_encoded_parameters() if request_data else None
        try:
            async with self._session.request(method, url, data=body, headers=_FORM) as resp:
                return resp.status, await resp.read()
        except TimeoutError as exc:
            raise TimedOut from exc
        except aiohttp.ClientError as exc:
            raise NetworkError(f"aiohttp.{type(exc).__name__}: {exc}") from exc


class TelegramSender(Sender):
    """Sends through PTB's Bot on an event loop that a thread of its own runs for the life
    of the process; safe to call from any number of threads."""

    def __init__(
        self, token: str, api_url: str = "https://api.telegram.org", paid_broadcast: bool = False
    ) -> None:
        """``paid_broadcast``: send with ``allow_paid_broadcast`` (Telegram then takes up to
        1,000 messages a second, charged in Stars beyond 30)."""
        self.token, self.api_url, self.paid_broadcast = token, api_url, paid_broadcast
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._bot: Bot | None = None

    def _run(self, coro: Any) -> Any:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name="telegram", daemon=True)
                thread.start()
                request = AiohttpRequest()
                self._bot = Bot(self.token, base_url=f"{self.api_url}/bot", request=request)
                # initialize() would call getMe; the session is all we need.
                asyncio.run_coroutine_threadsafe(request.initialize(), loop).result()
                self._loop, self._thread = loop, thread
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def send(self, out: Outbound) -> SendResult:
        """Send plain text (no parse mode, so no user text can break formatting)."""
        return self._run(self._send(out))

    def warm_up(self) -> SendResult:
        """Open the loop and a connection now (getMe), so the first real send is not slow:
        a slow first send would arrive late, after the pacer had already counted it."""
        return self._run(self._result(lambda bot: bot.get_me()))

    def ack(self, callback_id: str) -> SendResult:
        """Answer a callback query so the button stops spinning."""
        return self._run(self._result(lambda bot: bot.answer_callback_query(callback_id)))

    async def _send(self, out: Outbound) -> SendResult:
        return await self._result(
            lambda bot: bot.send_message(
                chat_id=int(out.recipient),
                text=out.text[:MAX_TEXT],
                reply_markup=markup(out),
                allow_paid_broadcast=self.paid_broadcast or None,
            )
        )

    async def _result(self, make: Any) -> SendResult:
        """Run one Bot API call; its outcome as a SendResult (never raises)."""
        try:
            assert self._bot is not None
            await make(self._bot)
        except Forbidden as exc:
            return SendResult(False, unreachable="telegram-blocked", error=str(exc))
        except RetryAfter as exc:
            wait = exc.retry_after
            seconds = wait.total_seconds() if isinstance(wait, timedelta) else float(wait)
            return SendResult(False, retry_after=seconds, error=str(exc))
        except BadRequest as exc:
            if "chat not found" in str(exc).lower():
                return SendResult(False, unreachable="telegram-chat-not-found", error=str(exc))
            return SendResult(False, error=str(exc))
        except NetworkError as exc:  # 5xx, timeouts, connection errors: worth retrying
            # ...but the message may have gone: a broadcast must not send it again.
            return SendResult(False, retry_after=1.0, error=str(exc), maybe_sent=True)
        except TelegramError as exc:
            return SendResult(False, error=str(exc))
        return SendResult(True)

    def close(self) -> None:
        """Shut the HTTP session, the loop and its thread."""
        with self._lock:
            loop, thread, bot = self._loop, self._thread, self._bot
            self._loop = self._thread = self._bot = None
        if loop and thread and bot:
            asyncio.run_coroutine_threadsafe(bot.request.shutdown(), loop).result()
            loop.call_soon_threadsafe(loop.stop)
            thread.join()
            loop.close()
