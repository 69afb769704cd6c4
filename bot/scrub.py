"""Keeping personal data out of logs: numbers, chat ids and e-mail addresses scrubbed.

Platform error texts repeat what they were given ("The 'To' number +447700900123 is not
a valid phone number"); logs go to hosting providers and terminals, so every log record of
the web and worker processes passes through ``ScrubFilter``, and a ``SendResult``'s error
text is scrubbed when it is made.
"""

from __future__ import annotations

import logging
import re

# An address of ours, whatever follows the channel.
_ADDRESS = re.compile(r"\b(telegram|whatsapp|sms|console):[^\s,;)'\"]+")
# A phone number (with +, spaces or dashes) or a run of 6+ digits: chat ids, numbers. Not
# inside a word or a dotted address (a job id's hex, 127.0.0.1): those name no one.
_NUMBER = re.compile(r"(?<![\w.])\+?\d[\d\s()-]{3,}\d(?![\w.])")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")


def scrub(text: str) -> str:
    """``text`` with addresses, phone numbers, long ids and e-mail addresses replaced."""
    text = _ADDRESS.sub(r"\1:<id>", text)
    return _NUMBER.sub(_number, _EMAIL.sub("<email>", text))


def _number(match: re.Match[str]) -> str:
    digits = sum(ch.isdigit() for ch in match[0])
    return "<number>" if digits >= 6 else match[0]  # error codes (21610) stay readable


class ScrubFilter(logging.Filter):
    """Scrubs each record's message, and the text of any exception it carries."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = scrub(record.getMessage()), None
        if record.exc_info and not record.exc_text:
            record.exc_text = scrub(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


def install() -> None:
    """Scrub every record that reaches the root logger's handlers (once each)."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, ScrubFilter) for f in handler.filters):
            handler.addFilter(ScrubFilter())
