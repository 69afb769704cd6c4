"""The forwardable share message and its personal links."""

from __future__ import annotations

from urllib.parse import quote

from messages import t


def telegram_link(username: str, code: str) -> str:
    """``https://t.me/<bot>?start=<code>``: opens the bot with ``/start <code>``."""
    return f"https://t.me/{username}?start={code}"


def whatsapp_link(number: str, code: str) -> str:
    """``https://wa.me/<digits>?text=<prefilled>``: a message carrying the code."""
    return f"https://wa.me/{number}?text={quote(t('share_prefill', code=code))}"


def share_message(username: str, number: str, code: str, **values: str) -> str:
    """The message a supporter forwards, with their links in it."""
    return t(
        "share",
        telegram_link=telegram_link(username, code),
        whatsapp_link=whatsapp_link(number, code),
        **values,
    )
