"""After a shift starts: on your way? then a no-show (handlers/attendance.py on the memory
world), ON MY WAY on the day, when the checks fall due (bot/campaign.chases), freeing one
shift's place in Redis, and the events a pledge schedules (workers/reminders.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from bot.campaign import CHASE, NO_SHOW, chases
from bot.model.message import Inbound
from bot.model.person import Conversation, Pledge, State
from bot.model.turn import NoShow, OnTheWay
from bot.store import Store
from tests.world import CAMPAIGN, POSTCODES, SHIFTS, MemoryWorld, handle

TG = "telegram:42"
BOTH = Pledge("B", ("morning", "evening"))
WAIT = timedelta(minutes=30)


def utc(hour: int, minute: int = 0, day: int = 3) -> datetime:
    return datetime(2029, 5, day, hour, minute, tzinfo=UTC)  # BST: local is UTC+1


def test_the_checks_fall_due_a_wait_and_two_waits_after_each_shift_starts():
    got = chases(CAMPAIGN.polling_day, CAMPAIGN.timezone, SHIFTS, BOTH.shifts, WAIT, utc(0))
    assert got == [("morning", CHASE, utc(6, 30)), ("morning", NO_SHOW, utc(7)),
                   ("evening", CHASE, utc(16, 30)), ("evening", NO_SHOW, utc(17))]  # fmt: skip
    # Pledged an hour into the morning (asked to fill a gap): the waits count from then.
    later = chases(CAMPAIGN.polling_day, CAMPAIGN.timezone, SHIFTS, BOTH.shifts, WAIT, utc(7))
    assert later == [("morning", CHASE, utc(7, 30)), ("morning", NO_SHOW, utc(8)),
                     ("evening", CHASE, utc(16, 30)), ("evening", NO_SHOW, utc(17))]  # fmt: skip
    # Pledged 40 minutes before the morning ends: the chase still fits, the no-show not.
    late = chases(CAMPAIGN.polling_day, CAMPAIGN.timezone, SHIFTS, ("morning",), WAIT, utc(10, 20))
    assert late == [("morning", CHASE, utc(10, 50))]
    over = chases(CAMPAIGN.polling_day, CAMPAIGN.timezone, SHIFTS, BOTH.shifts, WAIT, utc(12))
    assert [(s, step) for s, step, _ in over] == [("evening", CHASE), ("evening", NO_SHOW)]


def done(pledge: Pledge = BOTH, **kw) -> Conversation:
    base = Conversation(TG, State.DONE, postcode="N7 6AA", location=POSTCODES["N7 6AA"])
    return base.evolve(shifts=pledge.shifts, pledge=pledge, **kw)


def event(step: str, shift: str = "morning", pledge: Pledge = BOTH) -> Inbound:
    about = {"room": pledge.room_id, "shifts": list(pledge.shifts), "shift": shift,
             "step": step}  # fmt: skip
    return Inbound(TG, event="attendance", payload=json.dumps(about))


def world_at(when: datetime, pledge: Pledge = BOTH) -> MemoryWorld:
    taken = {("B", s): 1 for s in pledge.shifts}
    return MemoryWorld(clock=when, taken=taken, pledges={TG: pledge})


def test_not_here_half_an_hour_in_is_asked_if_on_the_way():
    world = world_at(utc(6, 30))
    turn = handle(done(), event(CHASE), world)
    assert turn.conv == done() and turn.effects == []
    (ask,) = turn.replies
    assert ask.text == (
        "Are you on your way to Room B? The Morning shift started at 07:00. Reply ON MY WAY,"
        " or CAN'T if you can't make it today, so that we can find someone else."
    )
    assert [b.payload for b in ask.buttons] == ["onway", "cant"]


@pytest.mark.parametrize("said, payload", [("on my way!", None), ("yes", None), ("", "onway")])
def test_on_my_way_on_the_day_tells_the_room(said, payload):
    world = world_at(utc(6, 35))
    turn = handle(done(), Inbound(TG, text=said, payload=payload), world)
    assert turn.effects == [OnTheWay(TG, "B", ("morning",), int(utc(6, 35).timestamp()))]
    assert turn.replies[0].text == (
        "Thanks! We've told Room B you're on your way. Reply HERE when you arrive."
    )
    assert world.arrived[("B", "morning")][TG][0] == "onway"
    # Having said so, they are neither chased again nor counted a no-show.
    for step in (CHASE, NO_SHOW):
        again = handle(done(), event(step), world)
        assert again.replies == [] and again.effects == [] and again.conv == done()


def test_on_my_way_before_the_day_is_just_still_coming():
    world = world_at(utc(12, day=2))
    turn = handle(done(), Inbound(TG, text="on my way"), world)
    assert turn.effects == [] and turn.replies[0].text.startswith("Brilliant, thank you!")


@pytest.mark.parametrize(
    "pledge, state, rest",
    [(BOTH, State.DONE, "You're still down for Evening 17:00–22:00: reply HERE when you arrive."),
     (Pledge("B", ("morning",)), State.ASK_SHIFTS,
      "If you can still help today, reply with the times you could do. Thank you!")],
)  # fmt: skip
def test_no_word_after_a_second_wait_frees_that_shifts_place(pledge, state, rest):
    world = world_at(utc(7), pledge)
    turn = handle(done(pledge), event(NO_SHOW, pledge=pledge), world)
    assert turn.effects == [NoShow(TG, "B", "morning", int(utc(7).timestamp()))]
    assert turn.conv.state is state
    kept = tuple(s for s in pledge.shifts if s != "morning")
    assert turn.conv.pledge == (Pledge("B", kept) if kept else None)
    assert turn.replies[0].text == (
        "We haven't heard from you, so your place at Room B for the Morning shift has gone"
        f" to someone else. {rest}"
    )
    assert world.taken[("B", "morning")] == 0
    assert world.arrived[("B", "morning")][TG][0] == "noshow"


@pytest.mark.parametrize(
    "conv, status, stopped",
    [(done(), "here", False),  # checked in
     (done(Pledge("B", ("evening",))), None, False),  # plans changed since
     (done(state=State.STOPPED), None, False),
     (done(), None, True)],  # STOP still queued behind the event
)  # fmt: skip
def test_no_chase_for_someone_here_or_whose_plans_changed(conv, status, stopped):
    world = world_at(utc(7))
    if status:
        world.mark(TG, "B", ("morning",), status, 1)
    if stopped:
        world.stopped.add(TG)
    for step in (CHASE, NO_SHOW):
        turn = handle(conv, event(step), world)
        assert turn.replies == [] and turn.effects == [] and turn.conv == conv


def test_release_shift_frees_one_place_and_keeps_the_rest(r):
    s = Store(r)
    assert s.places.reserve("telegram:1", BOTH, [5, 5])
    assert not s.places.release_shift("telegram:1", "A", "morning")  # another room
    assert not s.places.release_shift("telegram:1", "B", "afternoon")  # not pledged
    assert s.places.release_shift("telegram:1", "B", "morning")
    assert s.places.pledge_of("telegram:1") == "B|evening"
    assert s.places.taken([("B", "morning"), ("B", "evening")]) == [0, 1]
    assert not s.places.release_shift("telegram:1", "B", "morning")  # once
    assert s.places.release_shift("telegram:1", "B", "evening")
    assert s.places.pledge_of("telegram:1") is None and s.places.taken([("B", "evening")]) == [0]


def test_a_pledge_schedules_its_checks_and_a_no_show_reaches_standby(rt, r):
    from workers import effects, reminders

    s = rt.store
    pledge = Pledge("hendon-brent-st", ("morning",))
    assert s.places.reserve("console:a", pledge, [12])
    reminders.schedule(rt, "console:a", pledge, datetime(2029, 5, 1, tzinfo=UTC))
    checks = [(json.loads(e.payload)["step"], at) for e, at in s.timed.pending("console:a")
              if e.event == "attendance"]  # fmt: skip
    assert checks == [(CHASE, utc(6, 30).timestamp()), (NO_SHOW, utc(7).timestamp())]
    # Someone waits on standby for the room; the no-show's place is held for them at once.
    s.standby.join("console:b", [("hendon-brent-st", "morning", 1.0)])
    r.hset("pd:pledged", "hendon-brent-st|morning", 12)  # full
    gone = NoShow("console:a", "hendon-brent-st", "morning", 1000)
    effects.apply(rt, gone, Inbound("console:a", event="attendance"), "m1")
    assert s.places.pledge_of("console:a") is None
    assert s.arrivals.status("console:a", "hendon-brent-st", "morning") == "noshow"
    assert list(s.standby.held()) == ["console:b"]
    assert r.hget("pd:pledged", "hendon-brent-st|morning") == b"12"  # freed, and held again


def test_vote_messages_are_spread_over_the_hour_after_the_polls_open(rt):
    """One each, at a point of 07:00-08:00 fixed by the person, not all at 07:00."""
    from workers import reminders

    pledge = Pledge("hendon-brent-st", ("evening",))
    times = []
    for n in range(200):
        who = f"console:v{n}"
        for _ in range(2):  # scheduled again (a replayed turn): the same one
            reminders.schedule(rt, who, pledge, datetime(2029, 5, 1, tzinfo=UTC))
        (at,) = [at for e, at in rt.store.timed.pending(who) if e.event == "vote"]
        times.append(at)
    opens = utc(6).timestamp()  # 07:00 British Summer Time
    assert all(opens <= at < opens + 3600 for at in times)
    per_ten_minutes = [sum(opens + 600 * k <= at < opens + 600 * (k + 1) for at in times)
                       for k in range(6)]  # fmt: skip
    assert min(per_ten_minutes) >= 15  # 200 people: about 33 in each ten minutes
