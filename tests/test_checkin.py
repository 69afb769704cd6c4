"""Checking in at the room on polling day: which shifts HERE counts for (bot/campaign), the
words and the replies (handlers/checkin.py on the memory world), and the record in Redis."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.campaign import arrival
from bot.model.message import Inbound
from bot.model.person import Conversation, Pledge, State
from bot.model.turn import CheckIn, Release
from bot.store import Store
from tests.world import CAMPAIGN, POSTCODES, SHIFTS, MemoryWorld, handle

TG = "telegram:42"
DAY = CAMPAIGN.polling_day  # 2029-05-03, British Summer Time: local is UTC+1


def utc(hour: int, minute: int = 0, day: int = 3) -> datetime:
    return datetime(2029, 5, day, hour, minute, tzinfo=UTC)


@pytest.mark.parametrize(
    "pledged, now, shifts, opens",
    [
        (("morning", "evening"), utc(4, 59), (), utc(5)),  # opens an hour before 07:00
        (("morning", "evening"), utc(5), ("morning",), None),
        (("morning", "evening"), utc(10, 30), ("morning",), None),  # evening: not straight on
        (("morning", "evening"), utc(11), (), utc(15)),  # between: opens 16:00 local
        (("morning", "evening"), utc(15, 5), ("evening",), None),
        (("morning", "evening"), utc(20, 59), ("evening",), None),
        (("morning", "evening"), utc(21), (), None),  # 22:00 local: all over
        (("morning", "afternoon"), utc(6), ("morning", "afternoon"), None),  # staying on
        (("morning", "afternoon", "evening"), utc(11, 30), ("afternoon", "evening"), None),
        (("evening",), utc(12, day=2), (), utc(15)),  # the day before
    ],
)
def test_here_counts_for_the_shift_under_way_and_those_straight_after(pledged, now, shifts, opens):
    got = arrival(DAY, CAMPAIGN.timezone, SHIFTS, pledged, now)
    assert got.shifts == shifts and got.opens == opens


PLEDGED = Pledge("B", ("morning",))


def done(**kw) -> Conversation:
    base = Conversation(TG, State.DONE, postcode="N7 6AA", location=POSTCODES["N7 6AA"])
    return base.evolve(shifts=PLEDGED.shifts, pledge=PLEDGED, **kw)


@pytest.mark.parametrize(
    "said, payload",
    [("HERE", None), ("here", None), ("I'm here!", None), ("just arrived 👋", None),
     ("Checking in", None), ("hi, I'm here now", None), ("made it", None), ("", "here")],
)  # fmt: skip
def test_here_checks_in_for_the_shift_under_way(said, payload):
    world = MemoryWorld(clock=utc(6, 40))  # 07:40 local, in the morning shift
    turn = handle(done(), Inbound(TG, text=said, payload=payload), world)
    assert turn.conv == done() and turn.effects == [
        CheckIn(TG, "B", ("morning",), int(utc(6, 40).timestamp()))
    ]
    assert turn.replies[0].text == (
        "Thank you for coming! You're checked in at Room B: Morning 07:00–12:00. The room's"
        " coordinator can see you're here."
    )
    assert world.arrived == {("B", "morning"): {TG: ("here", int(utc(6, 40).timestamp()))}}


@pytest.mark.parametrize(
    "now, start",
    [(utc(12, day=2), "Thanks! You're down for Room B: Morning 07:00–12:00, Thursday 3 May."
                      " Check-in opens at 06:00 on the day: reply HERE when you arrive."),
     (utc(11, 1), "Your shifts at Room B are over. Thank you for everything you did today!")],
)  # fmt: skip
def test_here_outside_the_shift_is_refused_kindly(now, start):
    world = MemoryWorld(clock=now)
    turn = handle(done(), Inbound(TG, text="HERE"), world)
    assert turn.effects == [] and world.arrived == {}
    assert turn.replies[0].text == start


@pytest.mark.parametrize("state", [State.ASK_LOCATION, State.ASK_SHIFTS, State.OFFER])
def test_here_with_no_pledge_says_so_and_keeps_the_conversation(state):
    world = MemoryWorld(clock=utc(6, 40))
    conv = Conversation(TG, state, postcode="N7 6AA", location=POSTCODES["N7 6AA"])
    turn = handle(conv, Inbound(TG, text="I'm here"), world)
    assert turn.conv == conv and turn.effects == []
    assert turn.replies[0].text.startswith("You're not down for a committee room yet")


@pytest.mark.parametrize("said", ["where is here?", "I'm here to help", "here's my postcode"])
def test_a_message_that_only_mentions_here_is_not_a_check_in(said):
    world = MemoryWorld(clock=utc(6, 40))
    turn = handle(done(), Inbound(TG, text=said), world)
    assert turn.effects == [] and turn.replies[0].text.startswith("You're down for Room B")


def test_here_after_stop_gets_silence():
    world = MemoryWorld(clock=utc(6, 40))
    conv = Conversation(TG, State.STOPPED)
    turn = handle(conv, Inbound(TG, text="HERE"), world)
    assert turn.replies == [] and turn.effects == []


def test_arrivals_keep_the_first_time_and_go_with_the_place_and_with_delete(rt, r):
    from workers import effects

    s = Store(r, secret="k")
    for who in ("telegram:1", "telegram:2"):
        assert s.places.reserve(who, Pledge("A", ("morning", "afternoon")), [5, 5])
        s.arrivals.check_in(who, "A", ("morning", "afternoon"), 1000)
    s.arrivals.check_in("telegram:1", "A", ("morning",), 2000)  # HERE again: first time stays
    assert s.arrivals.at("A", "morning") == {"telegram:1": ("here", 1000),
                                             "telegram:2": ("here", 1000)}  # fmt: skip
    assert s.arrivals.counts([("A", "morning"), ("A", "evening")]) == [{"here": 2}, {}]
    # A chase that crossed the arrival changes nothing; before it, "on my way" counts.
    assert s.arrivals.mark("telegram:1", "A", ("morning",), "noshow", 3000) == 0
    assert s.arrivals.mark("telegram:3", "A", ("morning",), "onway", 3000) == 1
    assert s.arrivals.status("telegram:3", "A", "morning") == "onway"
    s.arrivals.check_in("telegram:3", "A", ("morning",), 3100)
    assert s.arrivals.status("telegram:3", "A", "morning") == "here"
    s.arrivals.forget("telegram:3", [("A", "morning")])
    # CAN'T (or CHANGE, STOP) gives the place up: no longer counted as there.
    effects.apply(rt, Release("telegram:1"), Inbound("telegram:1", text="cant"), "m1")
    assert s.arrivals.counts([("A", "morning"), ("A", "afternoon")]) == [{"here": 1}] * 2
    s.erase("telegram:2")
    assert s.arrivals.counts([("A", "morning"), ("A", "afternoon")]) == [{}, {}]
