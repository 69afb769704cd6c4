"""Telegram: secret-header check, update → Inbound, and sending through python-telegram-bot.

The webhook never builds PTB objects (too slow for the hot path); it reads the update
dict directly. Sending uses PTB's ``Bot`` on one long-lived event loop per worker
process, because reusing a Bot across ``asyncio.run`` calls breaks keep-alive pools.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
from datetime import timedelta
from typing import Any

from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
)
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError
from telegram.request import HTTPXRequest

from bot.channels import ParseError
from bot.model import Inbound, Location, Outbound, SendResult
from messages import t

# Opt in to RetryAfter.retry_after as a timedelta (PTB 22 warns about the old int form).
os.environ.setdefault("PTB_TIMEDELTA", "1")
log = logging.getLogger(__name__)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_TEXT = 4096


def verify(secret: str, headers: Any) -> bool:
    """The secret header matches, compared in constant time."""
    given = headers.get(SECRET_HEADER, "")
    return bool(secret) and hmac.compare_digest(given.encode(), secret.encode())


def parse(update: Any, received_at: float = 0.0) -> list[Inbound]:
    """The Inbound messages in one update; [] for kinds the bot does not use."""
    if not isinstance(update, dict) or not isinstance(update.get("update_id"), int):
        raise ParseError("not a Telegram update: no integer update_id")
    external_id = f"telegram:{update['update_id']}"
    if "message" in update:
        msg = _obj(update, "message")
        chat = _obj(msg, "chat")
        if chat.get("type") != "private":
            return []  # groups and channels are not part of the journey
        base = {"address": f"telegram:{_int(chat, 'id')}", "external_id": external_id}
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


class TelegramSender:
    """Sends through PTB's Bot on a private event loop kept for the life of the process."""

    def __init__(self, token: str, api_url: str = "https://api.telegram.org") -> None:
        self.token, self.api_url = token, api_url
        self._runner: asyncio.Runner | None = None
        self._bot: Bot | None = None

    def _run(self, coro: Any) -> Any:
        if self._runner is None:
            self._runner = asyncio.Runner()
            request = HTTPXRequest(connection_pool_size=16, read_timeout=10, write_timeout=10)
            self._bot = Bot(self.token, base_url=f"{self.api_url}/bot", request=request)
            # initialize() would call getMe; the request pool is all we need.
            self._runner.run(request.initialize())
        return self._runner.run(coro)

    def send(self, out: Outbound) -> SendResult:
        """Send plain text (no parse mode, so no user text can break formatting)."""
        return self._call(
            lambda bot: bot.send_message(
                chat_id=int(out.recipient), text=out.text[:MAX_TEXT], reply_markup=markup(out)
            )
        )

    def warm_up(self) -> SendResult:
        """Open the loop and a connection now (getMe), so the first real send is not slow:
        a slow first send would arrive late, after the pacer had already counted it."""
        return self._call(lambda bot: bot.get_me())

    def ack(self, callback_id: str) -> SendResult:
        """Answer a callback query so the button stops spinning."""
        return self._call(lambda bot: bot.answer_callback_query(callback_id))

    def _call(self, make: Any) -> SendResult:
        async def go() -> Any:
            assert self._bot is not None
            return await make(self._bot)

        try:
            self._run(go())
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
        """Shut the HTTP pool and the loop."""
        if self._runner and self._bot:
            self._runner.run(self._bot.request.shutdown())
            self._runner.close()
        self._runner = self._bot = None
