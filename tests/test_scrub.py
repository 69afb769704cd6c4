"""Logs carry no personal data: numbers, chat ids and addresses scrubbed, codes kept."""

from __future__ import annotations

import logging
import sys

import pytest

from bot.model.message import SendResult
from bot.scrub import ScrubFilter, scrub


@pytest.mark.parametrize(
    "text, scrubbed",
    [
        ("21211: The 'To' number +447700900123 is not a valid phone number",
         "21211: The 'To' number <number> is not a valid phone number"),
        ("Forbidden: bot was blocked by the user 123456789",
         "Forbidden: bot was blocked by the user <number>"),
        ("turn failed for telegram:42", "turn failed for telegram:<id>"),
        ("sms:+447700900123, whatsapp:+447700900124", "sms:<id>, whatsapp:<id>"),
        ("call 020 7946 0000", "call <number>"),
        ("write to ann@example.org", "write to <email>"),
        ("63016: outside the window; retry in 7 s", "63016: outside the window; retry in 7 s"),
        ("Bad Request: chat not found", "Bad Request: chat not found"),
        ("job 78b1355f7f1234567b on 127.0.0.1:6379", "job 78b1355f7f1234567b on 127.0.0.1:6379"),
    ],
)  # fmt: skip
def test_scrub(text, scrubbed):
    assert scrub(text) == scrubbed


def test_a_send_result_never_carries_the_number_it_was_given():
    result = SendResult(False, error="21211: The 'To' number +447700900123 is not valid")
    assert result.error == "21211: The 'To' number <number> is not valid"


def test_a_log_record_and_its_exception_are_scrubbed():
    try:
        raise KeyError("whatsapp:+447700900123")
    except KeyError:
        record = logging.LogRecord(
            "w", logging.ERROR, __file__, 1, "turn failed on %s", ("sms:+447700900999",), None
        )
        record.exc_info = sys.exc_info()
    assert ScrubFilter().filter(record)
    text = logging.Formatter().format(record)
    assert "447700900" not in text
    assert "turn failed on sms:<id>" in text and "KeyError: 'whatsapp:<id>'" in text
