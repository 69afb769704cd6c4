"""Tables for handlers/answers.py: shifts and offer answers as people write them."""

from __future__ import annotations

from datetime import time

import pytest

from bot.campaign import Shift
from handlers.answers import Unsure, read_offer, read_shifts
from tests.world import SHIFTS

# A campaign with its own names and hours, to show nothing is tied to the sample's shifts.
OTHER = (
    Shift("early", "Early", time(6, 0), time(10, 0)),
    Shift("day", "Day", time(10, 0), time(16, 0)),
    Shift("late", "Late", time(16, 0), time(22, 0)),
)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("morning", ("morning",)),
        ("MORNINGS!!", ("morning",)),
        ("3 and 1", ("morning", "evening")),
        ("2-3", ("afternoon", "evening")),
        ("all day", ("morning", "afternoon", "evening")),
        ("whenever suits", None),  # "suits" is not a time: ask again, not guess
        ("not afternoons", ("morning", "evening")),
        ("except the evening", ("morning", "afternoon")),
        ("from 2pm", ("afternoon", "evening")),
        ("until 11", Unsure(11)),
        ("until 11am", ("morning",)),
        ("9.30 to 4", ("morning", "afternoon")),
        ("10:30am", ("morning",)),
        ("from 9", Unsure(9)),
        ("at 8", Unsure(8)),
        ("8pm", ("evening",)),
        ("4", None),  # not a shift number, and a bare number is not a time
        ("", None),
        ("banana", None),
        ("lunch and after work", ("morning", "afternoon", "evening")),
    ],
)
def test_shift_answers(text, expected):
    assert read_shifts(text, SHIFTS) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("early", ("early",)),
        ("late please", ("late",)),
        ("mornings", ("early", "day")),  # a morning window overlaps both
        ("after work", ("late",)),
        ("1 and 2", ("early", "day")),
        ("all", ("early", "day", "late")),
    ],
)
def test_shift_answers_follow_the_campaigns_own_shifts(text, expected):
    assert read_shifts(text, OTHER) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("yes", "yes"), ("Yes please!", "yes"), ("ok thanks", "yes"), ("👍", "yes"),
        ("yeah that's great", "yes"), ("sign me up", "yes"), ("1", "yes"),
        ("no", "next"), ("nah", "next"), ("next one", "next"), ("2", "next"), ("❌", "next"),
        ("way too far", "far"), ("anything nearer", "far"),
        ("can't do then", "times"), ("TIMES", "times"), ("I cannot", "times"),
        ("change", "change"), ("start over", "change"),
        ("where is it?", None), ("", None), ("🤔", None),
    ],
)  # fmt: skip
def test_offer_answers(text, expected):
    assert read_offer(text) == expected
