"""A fake Telegram Bot API for python-telegram-bot's ``Bot(token, base_url=fake.url + "/bot")``.

It answers ``/bot<token>/<method>`` for any token, the way api.telegram.org does: JSON
``{"ok": true, "result": ...}`` on success and ``{"ok": false, "error_code": N,
"description": "...", "parameters": {...}}`` on failure. ``sendMessage`` checks what Telegram
checks before it delivers: an empty or over-long text, malformed ``reply_markup`` JSON, button
``callback_data`` over 64 bytes, and text that does not parse under its ``parse_mode``
(an approximation of Telegram's HTML / Markdown / MarkdownV2 parsers, with Telegram's wording).
"""

from __future__ import annotations

import json
import re
import time
from collections import deque
from typing import Any

from .limits import Limits, Window, retry_after
from .server import FakeServer, Recorded, Response

BOT_USER = {
    "id": 999,
    "is_bot": True,
    "first_name": "Pollday",
    "username": "pollday_bot",
    "can_join_groups": True,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}

BLOCKED = "Forbidden: bot was blocked by the user"
_DEFAULT_DESCRIPTIONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: BLOCKED,
    404: "Not Found",
    409: "Conflict: terminated by other getUpdates request",
    500: "Internal Server Error",
    502: "Bad Gateway",
}
_PATH = re.compile(r"^/bot(?P<token>[^/]+)/(?P<method>[A-Za-z]+)/?$")
_MAX_TEXT = 4096
_SENDS = {"sendmessage", "sendlocation", "sendvenue"}  # what the rate limits count
_MAX_CALLBACK_DATA = 64


class EntityError(ValueError):
    """Text that Telegram would refuse with "can't parse entities"."""


def _offset(text: str, index: int) -> int:
    """Telegram reports positions as UTF-8 byte offsets."""
    return len(text[:index].encode("utf-8"))


_HTML_TAGS = {
    "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre",
    "span", "tg-spoiler", "tg-emoji", "blockquote",
}  # fmt: skip


def check_html(text: str) -> None:
    """Raise EntityError where Telegram's HTML parser would (tags only; `&` is lenient)."""
    stack: list[str] = []
    i = 0
    while True:
        i = text.find("<", i)
        if i < 0:
            break
        end = text.find(">", i)
        if end < 0:
            raise EntityError(f"Unclosed start tag at byte offset {_offset(text, i)}")
        inner = text[i + 1 : end]
        if inner.startswith("/"):
            name = inner[1:].strip().lower()
            if not stack:
                raise EntityError(f"Unexpected end tag at byte offset {_offset(text, i)}")
            if name and name != stack[-1]:
                raise EntityError(
                    f"Unmatched end tag at byte offset {_offset(text, i)}, "
                    f'expected "</{stack[-1]}>", found "</{name}>"'
                )
            stack.pop()
        else:
            name = re.split(r"[\s/]", inner, maxsplit=1)[0].lower()
            if name not in _HTML_TAGS:
                raise EntityError(
                    f'Unsupported start tag "{name}" at byte offset {_offset(text, i)}'
                )
            stack.append(name)
        i = end + 1
    if stack:
        raise EntityError(f'Can\'t find end tag corresponding to start tag "{stack[-1]}"')


def check_markdown(text: str) -> None:
    """Raise EntityError where Telegram's legacy Markdown parser would (no nesting)."""
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text) and text[i + 1] in "_*`[":
            i += 2
            continue
        if c in "_*`[":
            start = i
            if text.startswith("```", i):
                close = text.find("```", i + 3)
                i = close + 3 if close >= 0 else -1
            elif c == "[":
                close = text.find("]", i + 1)
                i = -1 if close < 0 else close + 1
                if i > 0 and text.startswith("(", i):
                    close = text.find(")", i)
                    i = close + 1 if close >= 0 else -1
            else:
                close = text.find(c, i + 1)
                i = close + 1 if close >= 0 else -1
            if i < 0:
                raise EntityError(
                    f"Can't find end of the entity starting at byte offset {_offset(text, start)}"
                )
            continue
        i += 1


_V2_RESERVED = "]()>#+-=|{}.!"
_V2_NAMES = {
    "*": "Bold", "_": "Italic", "__": "Underline", "~": "Strikethrough", "||": "Spoiler",
    "[": "TextUrl", "![": "CustomEmoji",
}  # fmt: skip


def check_markdown_v2(text: str) -> None:
    """Raise EntityError where Telegram's MarkdownV2 parser would."""
    stack: list[tuple[str, int]] = []  # (token, index) of open entities
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\\" and i + 1 < n and 0 < ord(text[i + 1]) < 127:
            i += 2
            continue
        if c == "`":
            token = "```" if text.startswith("```", i) else "`"
            j = i + len(token)
            while j < n and not text.startswith(token, j):
                j += 2 if text[j] == "\\" else 1
            if j >= n:
                kind = "Code" if token == "`" else "Pre"
                raise EntityError(
                    f"Can't find end of {kind} entity at byte offset {_offset(text, i)}"
                )
            i = j + len(token)
            continue
        if c == ">" and (i == 0 or text[i - 1] in "\r\n"):
            i += 1  # a block quote line
            continue
        if c == "]" and stack and stack[-1][0] in ("[", "!["):
            stack.pop()
            i += 1
            if text.startswith("(", i):
                j = i + 1
                while j < n and text[j] != ")":
                    j += 2 if text[j] == "\\" else 1
                if j >= n:
                    raise EntityError(f"Can't find end of a URL at byte offset {_offset(text, i)}")
                i = j + 1
            continue
        if c in "*~[" or c == "_" or text.startswith("||", i) or text.startswith("![", i):
            if text.startswith("||", i):
                token = "||"
            elif text.startswith("![", i):
                token = "!["
            elif text.startswith("__", i):
                token = "__"
            else:
                token = c
            if token not in ("[", "![") and stack and stack[-1][0] == token:
                stack.pop()
            else:
                stack.append((token, i))
            i += len(token)
            continue
        if c in _V2_RESERVED:
            raise EntityError(
                f"Character '{c}' is reserved and must be escaped with the preceding '\\'"
            )
        i += 1
    if stack:
        token, index = stack[-1]
        raise EntityError(
            f"Can't find end of {_V2_NAMES[token]} entity at byte offset {_offset(text, index)}"
        )


def check_entities(text: str, parse_mode: str | None) -> None:
    """Raise EntityError if Telegram would refuse ``text`` under ``parse_mode``."""
    mode = (parse_mode or "").lower()
    if mode == "html":
        check_html(text)
    elif mode == "markdown":
        check_markdown(text)
    elif mode == "markdownv2":
        check_markdown_v2(text)
    elif mode:
        raise ValueError(f"unsupported parse_mode {parse_mode!r}")


def _error(status: int, description: str, retry_after: int | None = None) -> Response:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if retry_after is not None:
        body["parameters"] = {"retry_after": retry_after}
    return status, body


def _ok(result: Any) -> Response:
    return 200, {"ok": True, "result": result}


class FakeTelegram(FakeServer):
    """Fake Bot API: routes ``/bot<any token>/<method>`` (POST or GET)."""

    def __init__(
        self,
        *,
        check_parse_mode: bool = True,
        per_second: float | None = 30,
        per_chat: tuple[int, float] | None = (3, 3.0),
    ) -> None:
        """``per_second``: sends a second for the whole bot, as Telegram allows (30; up to
        1,000 with paid broadcasts; None: no limit); ``per_chat``: (sends, seconds) to one
        chat, about one a second with short bursts. Beyond either: 429 with retry_after."""
        super().__init__()
        self.check_parse_mode = check_parse_mode
        per_chat_window = Window(*per_chat) if per_chat else None
        self.limits = Limits(Window.per_second(per_second), per_chat_window)
        self._blocked: set[str] = set()
        self._failures: dict[str | None, deque[tuple[int, str, int | None]]] = {}
        self._sent: list[dict[str, Any]] = []
        self._message_id = 0

    # -- failure injection ---------------------------------------------------------
    def block(self, chat_id: int | str) -> None:
        """Every later call addressed to ``chat_id`` answers 403 "bot was blocked by the user"."""
        with self._lock:
            self._blocked.add(str(chat_id))

    def unblock(self, chat_id: int | str) -> None:
        """Undo ``block``."""
        with self._lock:
            self._blocked.discard(str(chat_id))

    def fail_next(
        self,
        chat_id: int | str | None,
        status: int,
        description: str | None = None,
        retry_after: int | None = None,
        times: int = 1,
    ) -> None:
        """Make the next ``times`` calls to ``chat_id`` fail with ``status``.

        ``chat_id=None`` matches the next calls of any method but ``getMe``. A 429 gets the
        description "Too Many Requests: retry after N" unless one is given.
        """
        if description is None:
            description = (
                f"Too Many Requests: retry after {retry_after}"
                if status == 429
                else _DEFAULT_DESCRIPTIONS.get(status, "Error")
            )
        key = None if chat_id is None else str(chat_id)
        with self._lock:
            queue = self._failures.setdefault(key, deque())
            queue.extend([(status, description, retry_after)] * times)

    # -- what was sent ------------------------------------------------------------
    def sent(self, chat_id: int | str | None = None) -> list[dict[str, Any]]:
        """Successful sendMessage calls in arrival order.

        Each is ``{"chat_id": str, "text", "reply_markup": dict | None, "parse_mode",
        "message_id"}``.
        """
        with self._lock:
            sent = list(self._sent)
        if chat_id is not None:
            sent = [s for s in sent if s["chat_id"] == str(chat_id)]
        return sent

    def calls(self, method: str) -> list[Recorded]:
        """Every request for ``method`` (case-insensitive), whatever it was answered."""
        wanted = method.lower()
        return [rec for rec in self.requests if (method_of(rec) or "").lower() == wanted]

    def clear(self) -> None:
        """Forget requests and sent messages (blocks and queued failures are kept)."""
        with self._lock:
            self._sent.clear()
        super().clear()

    # -- the API ------------------------------------------------------------------
    def handle(self, rec: Recorded) -> Response:
        match = _PATH.match(rec.path)
        if not match:
            return _error(404, "Not Found")
        method = match["method"].lower()
        params = {**rec.query, **rec.form}
        failure = self._injected_failure(method, params.get("chat_id"))
        if failure:
            return failure
        if method in _SENDS and (wait := self.limits.take("", params.get("chat_id", ""))):
            seconds = retry_after(wait)
            return _error(429, f"Too Many Requests: retry after {seconds}", seconds)
        handler = getattr(self, f"_api_{method}", None)
        if handler is None:
            return _error(404, "Not Found: method not found")
        return handler(params)

    def _injected_failure(self, method: str, chat_id: str | None) -> Response | None:
        if method == "getme":
            return None
        with self._lock:
            if chat_id is not None and chat_id in self._blocked:
                return _error(403, BLOCKED)
            keys = [chat_id, None] if chat_id is not None else [None]
            for key in keys:
                queue = self._failures.get(key)
                if queue:
                    status, description, retry_after = queue.popleft()
                    return _error(status, description, retry_after)
        return None

    def _next_message(self, chat_id: str, **fields: Any) -> dict[str, Any]:
        with self._lock:
            self._message_id += 1
            message_id = self._message_id
        return {
            "message_id": message_id,
            "from": {k: BOT_USER[k] for k in ("id", "is_bot", "first_name", "username")},
            "chat": _chat(chat_id),
            "date": int(time.time()),
            **fields,
        }

    def _api_getme(self, params: dict[str, str]) -> Response:
        return _ok(dict(BOT_USER))

    def _api_sendmessage(self, params: dict[str, str]) -> Response:
        chat_id = params.get("chat_id", "")
        text = params.get("text", "")
        if not chat_id:
            return _error(400, "Bad Request: chat_id is empty")
        if not _valid_chat_id(chat_id):
            return _error(400, "Bad Request: chat not found")
        if not text.strip():
            return _error(400, "Bad Request: message text is empty")
        if len(text.encode("utf-16-le")) // 2 > _MAX_TEXT:
            return _error(400, "Bad Request: message is too long")
        markup, problem = _parse_markup(params.get("reply_markup"))
        if problem:
            return problem
        parse_mode = params.get("parse_mode") or None
        if parse_mode and self.check_parse_mode:
            try:
                check_entities(text, parse_mode)
            except EntityError as exc:
                return _error(400, f"Bad Request: can't parse entities: {exc}")
            except ValueError:
                return _error(400, "Bad Request: unsupported parse_mode")
        fields: dict[str, Any] = {"text": text}
        if markup and "inline_keyboard" in markup:
            fields["reply_markup"] = markup  # Telegram echoes inline keyboards only
        message = self._next_message(chat_id, **fields)
        with self._lock:
            self._sent.append(
                {
                    "chat_id": chat_id,
                    "text": text,
                    "reply_markup": markup,
                    "parse_mode": parse_mode,
                    "message_id": message["message_id"],
                }
            )
        return _ok(message)

    def _api_sendlocation(self, params: dict[str, str]) -> Response:
        return self._send_place(params, venue=False)

    def _api_sendvenue(self, params: dict[str, str]) -> Response:
        return self._send_place(params, venue=True)

    def _send_place(self, params: dict[str, str], venue: bool) -> Response:
        chat_id = params.get("chat_id", "")
        if not chat_id:
            return _error(400, "Bad Request: chat_id is empty")
        try:
            location = {
                "latitude": float(params["latitude"]),
                "longitude": float(params["longitude"]),
            }
        except (KeyError, ValueError):
            return _error(400, "Bad Request: wrong latitude or longitude")
        fields: dict[str, Any] = {"location": location}
        if venue:
            fields["venue"] = {
                "location": location,
                "title": params.get("title", ""),
                "address": params.get("address", ""),
            }
        return _ok(self._next_message(chat_id, **fields))

    def _api_editmessagetext(self, params: dict[str, str]) -> Response:
        if params.get("inline_message_id"):
            return _ok(True)
        chat_id = params.get("chat_id", "")
        message = self._next_message(chat_id, text=params.get("text", ""))
        message["message_id"] = int(params.get("message_id") or 0)
        message["edit_date"] = message["date"]
        return _ok(message)

    def _api_getwebhookinfo(self, params: dict[str, str]) -> Response:
        return _ok({"url": "", "has_custom_certificate": False, "pending_update_count": 0})

    def _api_getupdates(self, params: dict[str, str]) -> Response:
        return _ok([])

    def _api_getmycommands(self, params: dict[str, str]) -> Response:
        return _ok([])

    def _true(self, params: dict[str, str]) -> Response:
        return _ok(True)

    _api_answercallbackquery = _api_setwebhook = _api_deletewebhook = _true
    _api_editmessagereplymarkup = _api_deletemessage = _api_sendchataction = _true
    _api_setmycommands = _api_deletemycommands = _api_setchatmenubutton = _true


def method_of(rec: Recorded) -> str | None:
    """The Bot API method a recorded request called, as written in its path."""
    match = _PATH.match(rec.path)
    return match["method"] if match else None


def _valid_chat_id(chat_id: str) -> bool:
    return bool(re.fullmatch(r"-?\d{1,20}", chat_id) or re.fullmatch(r"@\w{4,32}", chat_id))


def _chat(chat_id: str) -> dict[str, Any]:
    if chat_id.startswith("@"):
        return {"id": -1001000000000, "type": "channel", "title": chat_id[1:],
                "username": chat_id[1:]}  # fmt: skip
    try:
        numeric = int(chat_id)
    except ValueError:
        numeric = 0
    if numeric < 0:
        return {"id": numeric, "type": "supergroup", "title": "Group"}
    return {"id": numeric, "type": "private"}


def _parse_markup(raw: str | None) -> tuple[dict[str, Any] | None, Response | None]:
    if not raw:
        return None, None
    try:
        markup = json.loads(raw)
    except ValueError:
        return None, _error(400, "Bad Request: can't parse reply keyboard markup JSON object")
    if not isinstance(markup, dict):
        return None, _error(400, "Bad Request: can't parse reply keyboard markup JSON object")
    for row in markup.get("inline_keyboard") or []:
        for button in row:
            data = button.get("callback_data")
            if data is not None and not 1 <= len(data.encode("utf-8")) <= _MAX_CALLBACK_DATA:
                return None, _error(400, "Bad Request: BUTTON_DATA_INVALID")
    return markup, None
