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


def share_message(
    code: str, telegram: str = "", whatsapp: str = "", sms: str = "", **values: str
) -> str:
    """The message a supporter forwards: their links on each channel the campaign has
    (``telegram`` the bot's username, ``whatsapp`` and ``sms`` its numbers), and
    ``campaign``, ``constituency``, ``polling_day`` and ``imprint`` (election law: digital
    material carries who promoted it, and the imprint travels with every forward)."""
    ways = [
        *([t("share_telegram", link=telegram_link(telegram, code))] if telegram else []),
        *([t("share_whatsapp", link=whatsapp_link(whatsapp, code))] if whatsapp else []),
        *([t("share_sms", code=code, number=sms)] if sms else []),
    ]
    return t("share", ways_in="\n".join(ways), **values).rstrip()
