"""The broadcast pages' pure figures, by table: progress, audiences in words, SMS parts,
the dry run by channel."""

from __future__ import annotations

import pytest

from bot.admin.sending import (
    as_form,
    audience_from_form,
    by_channel,
    describe,
    progress,
    windowed,
)
from bot.channels.twilio import sms_parts

NOW = 1_000_000.0
NONE_SKIPPED = {"opted_out": 0, "no_consent": 0, "unreachable": 0, "outside_window": 0}


def status(state="sending", total=100, handled=0, started=None, finished=None, **skipped):
    return {"status": state, "total": total, "handled": handled, "started_at": started,
            "finished_at": finished, "skipped": {**NONE_SKIPPED, **skipped}}  # fmt: skip


@pytest.mark.parametrize(
    "given, percent, rate, eta, skipped",
    [
        (status("queued"), 0, None, None, ()),
        # 40 handled in 20 s: 2 a second, 60 to go: 30 s.
        (status(handled=40, started=NOW - 20), 40, 2.0, 30.0, ()),
        (status(handled=99, started=NOW - 99), 99, 1.0, 1.0, ()),  # never 100 until done
        # Done: 100%, its rate over the time it took, nothing to go.
        (status("done", handled=100, started=NOW - 50, finished=NOW - 10), 100, 2.5, None, ()),
        (status("done", total=0), 100, None, None, ()),  # nobody to send to
        (status("cancelled", handled=10, started=NOW - 5, finished=NOW), 10, 2.0, None, ()),
        # Skips by reason, in words; a count never above the total.
        (status(handled=120, started=NOW - 10, opted_out=2, unreachable=1), 100, 10.0, 0.0,
         (("said STOP", 2), ("cannot be reached (blocked the bot, or the number is invalid)", 1))),
    ],
)  # fmt: skip
def test_progress(given, percent, rate, eta, skipped):
    p = progress(given, NOW)
    assert (p.percent, p.rate, p.eta, p.skipped) == (percent, rate, eta, skipped)
    assert p.live == (given["status"] in ("queued", "sending"))


SHIFTS = {"morning": "Morning"}
ROOMS = {"a": "Hall A"}


@pytest.mark.parametrize(
    "audience, words",
    [
        ({}, "Everyone"),
        ({"pledged": True}, "People who have pledged"),
        ({"pledged": False, "channel": "sms"}, "People who have not pledged yet, on SMS"),
        # A shift, room or seat means people pledged there.
        ({"shift": "morning"}, "People who have pledged, for the Morning shift"),
        ({"room": "a", "constituency": "Hendon", "channel": "whatsapp"},
         "People who have pledged, at Hall A, in Hendon, on WhatsApp"),
        ({"room": "gone", "shift": "late"}, "People who have pledged, for the late shift, at gone"),
    ],
)  # fmt: skip
def test_an_audience_in_words(audience, words):
    assert describe(audience, SHIFTS, ROOMS) == words


@pytest.mark.parametrize(
    "form, audience",
    [
        ({}, {}),
        ({"room": "", "pledged": ""}, {}),
        ({"pledged": "yes", "shift": "morning"}, {"pledged": True, "shift": "morning"}),
        ({"pledged": "no", "channel": "sms"}, {"pledged": False, "channel": "sms"}),
        ({"pledged": "maybe", "constituency": "Hendon"}, {"constituency": "Hendon"}),
    ],
)
def test_the_composers_fields_as_an_audience_and_back(form, audience):
    assert audience_from_form(form) == audience
    back = as_form({"text": "Hi", "audience": audience})
    assert audience_from_form(back) == audience and back["text"] == "Hi"


@pytest.mark.parametrize(
    "text, parts",
    [
        ("a" * 160, (1, "GSM-7")),
        ("a" * 161, (2, "GSM-7")),  # 153 a part once split
        ("a" * 306, (2, "GSM-7")),
        ("a" * 307, (3, "GSM-7")),
        ("€" * 80, (1, "GSM-7")),  # an extension character takes two
        ("€" * 81, (2, "GSM-7")),
        ("Café £5 @ 7", (1, "GSM-7")),
        ("It’s on", (1, "Unicode")),  # a curly quote: the whole message is UCS-2
        ("a" * 70 + "’", (2, "Unicode")),
        ("😀" * 35, (1, "Unicode")),  # two UTF-16 units each
        ("😀" * 36, (2, "Unicode")),
    ],
)
def test_sms_parts(text, parts):
    assert sms_parts(text) == parts


def test_the_dry_run_by_channel():
    recipients = ["whatsapp:+1", "whatsapp:+2", "whatsapp:+3", "sms:+4", "console:x"]
    assert windowed(recipients) == ["whatsapp:+1", "whatsapp:+2", "whatsapp:+3"]
    seen = {"whatsapp:+1": NOW - 60, "whatsapp:+2": NOW - 25 * 3600, "whatsapp:+3": None}
    plain = by_channel(recipients, seen, "Hi", "", NOW)
    assert [(c.label, c.people, c.text) for c in plain] == [
        ("WhatsApp", 3, "Hi"),
        ("Local chat", 1, "Hi"),
        ("SMS", 1, "Hi"),
    ]  # fmt: skip (the largest first, then by channel)
    assert plain[0].notes == (
        "2 of them last wrote over 24 hours ago and will be skipped: WhatsApp then allows "
        "only an approved template (broadcast_template in config.yaml)",
    )
    assert plain[1].notes == ()
    assert plain[2].notes == ("2 characters: 1 SMS part each (GSM-7)",)
    templated = by_channel(recipients, seen, "Hi", "HX1", NOW)
    assert templated[0].notes == (
        "2 of them last wrote over 24 hours ago: they get the approved template HX1, with "
        "this message as its variable",
    )
    draft = by_channel(["sms:+4"], {}, "", "", NOW)  # no text yet: no parts to count
    assert draft[0].notes == ()
