"""Tables for handlers/answers.py: shifts and offer answers as people write them."""

from __future__ import annotations

from datetime import time

import pytest

from bot.campaign import Shift
from handlers.answers import Unsure, read_offer, read_shifts, says_no, says_yes
from handlers.words import Command, command
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
        ("where is it?", None), ("", None), ("🤔", None), ("no 👍", "next"),
    ],
)  # fmt: skip
def test_offer_answers(text, expected):
    assert read_offer(text) == expected


@pytest.mark.parametrize("text", ["change", "start over", "start again", "new postcode"])
def test_starting_again_is_a_global_command_an_offer_never_sees(text):
    assert command(text) is Command.CHANGE
    assert read_offer(text) is None


@pytest.mark.parametrize(
    "text, yes, no",
    [("yes", True, False), ("Yes please!", True, False), ("sounds good 👍", True, False),
     ("👍", True, False), ("no", False, True), ("no thanks 👍", False, True),
     ("nah", False, True), ("maybe", False, False), ("", False, False)],
)  # fmt: skip
def test_yes_and_no_as_the_consent_question_and_a_broadcast_draft_read_them(text, yes, no):
    assert (says_yes(text), says_no(text)) == (yes, no)
