"""Backfill on the day: which shifts are filled and who is free (bot/backfill.py), the ask
and its answers as the state tables see them (handlers/backfill.py on the memory world),
the geo index and each gap's record on a real Redis (bot/store/backfill.py), and a whole
gap filled by the worker's waves (workers/backfill.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from bot.backfill import free_for, pledge_after_yes, shifts_over, shifts_to_fill
from bot.campaign import CHASE
from bot.model.message import Inbound, Location
from bot.model.person import WITHDRAWN_BY_STOP, Consent, Conversation, Pledge, State
from bot.model.turn import BackfillAnswer, LeftRoom
from bot.rooms import Offer
from bot.store import Store
from handlers.backfill import BACKFILL_EVENT
from tests.world import CAMPAIGN, POSTCODES, SHIFTS, MemoryWorld, handle

TG = "telegram:42"
N7 = POSTCODES["N7 6AA"]
YES = Consent(True, 1869732000, "telegram", "v1")


def utc(hour: int, minute: int = 0, day: int = 3) -> datetime:
    return datetime(2029, 5, day, hour, minute, tzinfo=UTC)  # BST: local is UTC+1


def fill(now: datetime) -> tuple[str, ...]:
    return shifts_to_fill(CAMPAIGN.polling_day, CAMPAIGN.timezone, SHIFTS, now)


@pytest.mark.parametrize(
    "now, shifts",
    [
        (utc(12, day=2), ()),  # the day before: the reminders do the asking
        (utc(23, day=2), ()),  # midnight on the day: nobody is asked in the night
        (utc(4, 29), ()),  # 05:29: more than an hour and a half before the first shift
        (utc(5, 30), ("morning",)),  # 06:30 on the day: the first shift is next
        (utc(6, 30), ("morning", "afternoon")),
        (utc(15), ("afternoon", "evening")),
        (utc(16, 30), ("evening",)),  # the last shift: nothing after it
        (utc(21, 30), ()),  # all over
    ],
)
def test_the_shift_under_way_and_the_next_are_filled_on_the_day_only(now, shifts):
    assert fill(now) == shifts


def person(pledge: Pledge | None = None, state: State = State.DONE, **kw) -> Conversation:
    kw.setdefault("consent", YES)
    return Conversation(TG, state, postcode="N7 6AA", location=N7, pledge=pledge, **kw)


OVER = shifts_over(CAMPAIGN.polling_day, CAMPAIGN.timezone, SHIFTS, utc(15))  # the morning's


@pytest.mark.parametrize(
    "conv, room, shift, free",
    [
        (None, "B", "evening", False),
        (person(Pledge("A", ("morning",))), "B", "evening", True),  # their morning is over
        (person(Pledge("A", ("morning",))), "A", "evening", True),  # the shift is added
        (person(Pledge("A", ("evening",))), "A", "evening", False),  # already coming
        (person(Pledge("A", ("evening",))), "B", "evening", False),
        (person(Pledge("A", ("afternoon",))), "B", "evening", False),  # due elsewhere
        (person(Pledge("A", ("afternoon",))), "A", "evening", True),
        (person(None, State.ASK_SHIFTS), "B", "evening", True),  # said CAN'T: free now
        (person(None, State.ASK_SHIFTS), "B", "morning", False),  # that shift is over
        (person(None, State.ASK_SHIFTS, consent=None), "B", "evening", False),
        (
            person(None, State.ASK_SHIFTS, consent=Consent(False, 1, "telegram", "v1")),
            "B",
            "evening",
            False,
        ),  # fmt: skip
        (
            person(None, State.STOPPED, consent=Consent(False, 1, "telegram", WITHDRAWN_BY_STOP)),
            "B",
            "evening",
            False,
        ),  # fmt: skip
        (person(None, State.OFFER), "B", "evening", False),  # mid-journey: not disturbed
        (person(None, State.STANDBY), "B", "evening", False),  # standby has its own offers
    ],
)
def test_who_is_free_to_be_asked(conv, room, shift, free):
    assert free_for(conv, room, shift, OVER) is free


def test_yes_adds_the_shift_at_the_same_room_or_moves_them_once_their_day_there_is_done():
    at_a = person(Pledge("A", ("evening",)))
    assert pledge_after_yes(at_a, "A", "morning", CAMPAIGN) == Pledge("A", ("morning", "evening"))
    assert pledge_after_yes(at_a, "B", "afternoon", CAMPAIGN) == Pledge("B", ("afternoon",))
    assert pledge_after_yes(person(), "B", "evening", CAMPAIGN) == Pledge("B", ("evening",))


# --- the ask and its answers (the memory world) --------------------------------------------


def on_the_day(hour: int = 15, minute: int = 0, **taken: int) -> MemoryWorld:
    """Polling day at ``hour`` UTC; B's evening 3 short unless ``taken`` says otherwise."""
    world = MemoryWorld(clock=utc(hour, minute))
    world.taken[("B", "evening")] = taken.get("b_evening", 2)
    world.taken[("B", "afternoon")] = taken.get("b_afternoon", 4)
    return world


def ask_event(room: str = "B", shift: str = "evening", km: float = 1.3) -> Inbound:
    """What workers/backfill.py puts in a person's timed set for a wave."""
    payload = json.dumps({"room": room, "shift": shift, "km": km})
    return Inbound(TG, event=BACKFILL_EVENT, payload=payload)


def morning_at_a(world: MemoryWorld) -> Conversation:
    assert world.reserve(TG, Pledge("A", ("morning",)))
    return person(Pledge("A", ("morning",)))


def asked(world: MemoryWorld, shift: str = "evening") -> Conversation:
    turn = handle(morning_at_a(world), ask_event(shift=shift), world)
    assert turn.conv.asked == Offer("B", (shift,), 1.3, (world.places_left([("B", shift)])[0],))
    return turn.conv


def test_the_ask_names_the_room_how_many_it_needs_from_when_and_how_far():
    world = on_the_day()
    turn = handle(morning_at_a(world), ask_event(), world)
    (ask,) = turn.replies
    assert ask.text.startswith(
        "Room B needs 3 more people from 17:00, 1.3 km (0.8 miles) from you: reply YES to go.\n"
        "1 B Street, N1 1AA\nMap: https://www.google.com/maps/"
    )
    assert ask.text.endswith("Reply NO if you can't. Thank you!")
    assert [b.payload for b in ask.buttons] == ["bf_yes", "bf_no"]
    assert turn.conv.asked == Offer("B", ("evening",), 1.3, (3,))
    assert turn.conv.asked_until == int(utc(21).timestamp())  # the evening ends at 22:00 BST
    assert turn.effects == [] and turn.conv.state is State.DONE
    # Stored and read back with the conversation.
    assert Conversation.from_json(TG, turn.conv.to_json()).asked == Offer("B", ("evening",), 1.3)


def test_the_ask_for_the_shift_under_way_says_now_and_one_more_person():
    world = on_the_day(b_afternoon=4)
    (ask,) = handle(morning_at_a(world), ask_event(shift="afternoon"), world).replies
    assert ask.text.startswith("Room B needs 1 more person now, until 17:00, 1.3 km")


@pytest.mark.parametrize(
    "setup",
    ["stopped", "covered", "pledged_there", "no_updates", "unknown_room", "shift_over"],
)
def test_no_ask_goes_to_someone_no_longer_free_or_for_a_gap_already_covered(setup):
    world = on_the_day()
    conv = morning_at_a(world)
    event = ask_event()
    if setup == "stopped":
        world.stopped.add(TG)  # STOP arrived, its turn still queued behind the ask
    elif setup == "covered":
        world.taken[("B", "evening")] = 5
    elif setup == "pledged_there":
        assert world.reserve(TG, Pledge("B", ("evening",)))
        conv = person(Pledge("B", ("evening",)))
    elif setup == "no_updates":
        conv = conv.evolve(consent=Consent(False, 1, "telegram", "v1"))
    elif setup == "unknown_room":
        event = ask_event(room="gone")
    else:
        event = ask_event(shift="morning")
    turn = handle(conv, event, world)
    assert turn.replies == [] and turn.conv.asked is None and turn.effects == []


@pytest.mark.parametrize("said, payload", [("Yes!", None), ("", "bf_yes"), ("👍", None)])
def test_yes_takes_a_place_and_moves_them_from_the_room_their_day_is_done_at(said, payload):
    world = on_the_day()
    turn = handle(asked(world), Inbound(TG, text=said, payload=payload), world)
    assert turn.conv.pledge == Pledge("B", ("evening",)) and turn.conv.asked is None
    assert turn.conv.state is State.DONE  # they agreed to updates long ago
    (reply,) = turn.replies
    assert reply.text.startswith("You're confirmed: Room B, 1 B Street, N1 1AA (Seat Two)")
    assert reply.text.endswith("\n\nWhen you get there, reply HERE to check in.")
    assert world.taken[("B", "evening")] == 3 and world.taken[("A", "morning")] == 0
    assert world.pledges[TG] == Pledge("B", ("evening",))
    assert world.reminders == [(TG, Pledge("B", ("evening",)))]  # their checks from now
    assert BackfillAnswer(TG, "B", "evening", "took") in turn.effects
    assert not any(isinstance(e, LeftRoom) for e in turn.effects)  # the morning happened
    assert world.answers == {("B", "evening"): {TG: "took"}}


def test_yes_at_their_own_room_adds_the_shift():
    world = on_the_day()
    assert world.reserve(TG, Pledge("B", ("morning",)))
    conv = handle(person(Pledge("B", ("morning",))), ask_event(), world).conv
    turn = handle(conv, Inbound(TG, text="yes"), world)
    assert turn.conv.pledge == Pledge("B", ("morning", "evening"))
    assert world.taken[("B", "morning")] == 1 and world.taken[("B", "evening")] == 3
    assert not any(isinstance(e, LeftRoom) for e in turn.effects)


def test_the_first_yeses_take_the_places_and_later_ones_are_thanked():
    """Three asked for the last two places: never more than the gap."""
    world = on_the_day(b_evening=3)
    others = [f"telegram:{n}" for n in (1, 2, 3)]
    convs = []
    for who in others:
        assert world.reserve(who, Pledge("A", ("morning",)))
        conv = Conversation(who, State.DONE, location=N7, pledge=Pledge("A", ("morning",)),
                            consent=YES)  # fmt: skip
        convs.append(handle(conv, Inbound(who, event=BACKFILL_EVENT, payload=ask_event().payload),
                            world).conv)  # fmt: skip
    assert all(c.asked is not None for c in convs)
    replies = [handle(c, Inbound(c.address, text="yes"), world) for c in convs]
    assert [t.conv.pledge for t in replies] == [Pledge("B", ("evening",))] * 2 + [
        Pledge("A", ("morning",))
    ]
    assert (
        replies[2]
        .replies[0]
        .text.startswith(
            "Thank you! Room B has the people it needs now, so you're not needed there after all."
        )
    )
    assert replies[2].conv.asked is None
    assert world.taken[("B", "evening")] == 5  # its capacity, not one more
    assert world.answers[("B", "evening")] == dict(zip(others, ["took", "took", "late"],
                                                       strict=True))  # fmt: skip


@pytest.mark.parametrize("said, payload", [("no", None), ("", "bf_no"), ("no thanks", None)])
def test_no_drops_the_ask(said, payload):
    world = on_the_day()
    turn = handle(asked(world), Inbound(TG, text=said, payload=payload), world)
    assert turn.replies[0].text == "No problem, thanks for letting us know."
    assert turn.conv.asked is None and turn.conv.pledge == Pledge("A", ("morning",))
    assert world.answers == {("B", "evening"): {TG: "declined"}}


def test_yes_after_the_room_was_removed_is_thanked_and_counted_too_late():
    world = on_the_day()
    conv = asked(world)
    del world.directory.rooms["B"]
    turn = handle(conv, Inbound(TG, text="yes"), world)
    assert turn.replies[0].text.startswith("Thank you! That room is no longer running")
    assert turn.conv.asked is None and turn.conv.pledge == Pledge("A", ("morning",))
    assert world.answers == {("B", "evening"): {TG: "late"}}


def test_anything_else_carries_on_with_the_ask_still_open_until_its_shift_ends():
    world = on_the_day()
    conv = asked(world)
    turn = handle(conv, Inbound(TG, text="what time is it"), world)
    assert turn.conv.asked == conv.asked  # status reply from DONE, ask still open
    assert turn.replies[0].text.startswith("You're down for Room A")
    world.clock = utc(21, 5)  # the evening is over
    late = handle(turn.conv, Inbound(TG, text="yes"), world)
    assert late.conv.asked is None and late.conv.pledge == Pledge("A", ("morning",))
    assert world.answers == {} and world.taken[("B", "evening")] == 2


# --- the geo index and the gap's record (a real Redis) ---------------------------------------


def save(s: Store, conv: Conversation, **kw) -> None:
    s.people.save(conv, new_person=True, **kw)


def test_the_index_holds_only_people_who_agreed_and_follows_stop_start_change_and_delete(r):
    s = Store(r)
    here = Conversation("telegram:1", State.DONE, location=N7, consent=YES)
    save(s, here, consent=YES)
    save(s, Conversation("telegram:2", State.DONE, location=N7,
                         consent=Consent(False, 1, "telegram", "v1")))  # fmt: skip
    save(s, Conversation("telegram:3", State.ASK_LOCATION, consent=YES))  # no point yet
    near = s.backfill.near(N7, 5, 10)
    assert [a for a, _ in near] == ["telegram:1"] and near[0][1] < 0.01
    stopped = Consent(False, 2, "telegram", WITHDRAWN_BY_STOP)
    s.people.save(here.evolve(state=State.STOPPED, consent=stopped), consent=stopped)
    assert s.backfill.near(N7, 5, 10) == []
    s.people.save(here)  # START again (with their earlier yes)
    assert [a for a, _ in s.backfill.near(N7, 5, 10)] == ["telegram:1"]
    s.people.save(here.evolve(location=None, state=State.ASK_LOCATION))  # CHANGE
    assert s.backfill.near(N7, 5, 10) == []
    s.people.save(here)
    s.leaving("telegram:1")  # DELETE has arrived: out at once, before its turn
    assert s.backfill.near(N7, 5, 10) == []
    s.people.save(here)
    s.erase("telegram:1")
    assert r.zcard("pd:nearby") == 0


def test_a_wave_asks_each_person_once_per_gap_and_waits_between_waves(r):
    s = Store(r)
    first = s.backfill.ask(
        "A", "evening", 2, ["sms:+1", "sms:+2"], 1000, 600, rest=500, outside_window=1
    )
    assert first == ["sms:+1", "sms:+2"]
    assert s.backfill.ask("A", "evening", 2, ["sms:+3"], 1300, 600) is None  # too soon
    # Someone just asked is left alone by other gaps for a while (never 15 asks at once).
    assert s.backfill.ask("B", "evening", 2, ["sms:+1", "sms:+5"], 1300, 600) == ["sms:+5"]
    assert s.backfill.ask("A", "evening", 1, ["sms:+2", "sms:+3"], 1600, 600) == ["sms:+3"]
    assert s.backfill.asked("A", "evening", ["sms:+1", "sms:+4"]) == [True, False]
    assert s.backfill.ask("A", "morning", 1, ["sms:+1"], 1600, 600) == ["sms:+1"]  # rested
    s.backfill.answered("sms:+1", "A", "evening", "took")
    s.backfill.answered("sms:+1", "A", "evening", "took")  # a replayed turn: counted once
    s.backfill.answered("sms:+2", "A", "evening", "declined")
    s.backfill.answered("sms:+9", "A", "evening", "late")  # never asked (or erased): nothing
    assert s.backfill.ask("A", "evening", 1, ["sms:+1"], 2200, 600) == []
    assert s.backfill.covered([("A", "evening"), ("C", "evening")], 2300) == 1
    assert s.backfill.covered([("A", "evening")], 9) == 0  # covered once
    assert not r.exists("pd:gap:C:evening")  # never short: no record
    gaps = {(g.room, g.shift): g for g in s.backfill.gaps()}
    evening = gaps[("A", "evening")]
    assert (evening.started, evening.short, evening.waves, evening.asked) == (1000, 1, 3, 3)
    # Outside the window is the last wave's count, not a sum over waves.
    assert (evening.took, evening.declined, evening.late, evening.outside_window) == (1, 1, 0, 0)
    assert (evening.covered, evening.nobody_left, evening.status) == (2300, 2200, "covered")
    assert gaps[("A", "morning")].status == "asking"
    # Nobody to ask now but some resting from another ask: asked later, not "nobody left".
    assert s.backfill.ask("D", "evening", 1, [], 5000, 600, resting=2) == []
    assert {g.room: g.status for g in s.backfill.gaps()}["D"] == "asking"
    assert s.backfill.ask("D", "evening", 1, [], 5600, 600) == []
    assert {g.room: g.status for g in s.backfill.gaps()}["D"] == "nobody_left"
    s.erase("sms:+1")
    assert s.backfill.asked("A", "evening", ["sms:+1"]) == [False]
    assert sorted(r.hkeys("pd:asking")) == [b"sms:+2", b"sms:+3", b"sms:+5"]  # erased


# --- a whole gap, filled by the worker's waves -----------------------------------------------


def test_a_short_room_is_filled_nearest_first_in_waves_never_past_its_gap(rt, r, monkeypatch):
    """Polling day, 16:00: Hendon Labour Hall is 2 short for the evening. A wave asks the
    six nearest who are free (not the one pledged there then, nor the one who said no to
    updates, nor one who said STOP, nor one out of range); two YESes fill it, a third is
    thanked, a NO is counted. A no-show later opens a place: the next wave asks only people
    never asked for it, and once they are gone, the board says nobody is left."""
    from bot.model.person import Conversation as Conv
    from workers import backfill as waves
    from workers import turns

    now = utc(15)
    monkeypatch.setattr(rt.world, "now", lambda: now)
    s, rooms = rt.store, rt.world.directory.rooms
    hall = rooms["hendon-brent-st"]
    for rid, room in rooms.items():  # every other room full for the day
        for shift in ("afternoon", "evening"):
            r.hset("pd:pledged", f"{rid}|{shift}", room.places(shift))
    r.hset("pd:pledged", "hendon-brent-st|evening", hall.places("evening") - 2)

    def at(n: int) -> Location:  # n x ~200 m north of the hall
        return Location(hall.location.latitude + 0.0018 * n, hall.location.longitude)

    people = [f"console:p{n}" for n in range(10)]
    for n, who in enumerate(people):
        consent = Consent(n != 1, 1, "console", "v1")  # p1 said no to updates
        conv = Conv(who, State.ASK_SHIFTS, location=at(n), consent=consent)
        s.people.save(conv, new_person=True, consent=consent)
    pledged = Pledge("hendon-brent-st", ("evening",))  # p2 is coming already
    assert s.places.reserve("console:p2", pledged, [100])
    s.people.save(Conv("console:p2", State.DONE, location=at(2), pledge=pledged, consent=YES))
    s.suppression.set_stopped("console:p3", True)  # p3's STOP arrived
    s.people.save(Conv("console:far", State.ASK_SHIFTS, location=POSTCODES["CF10 1EP"],
                       consent=YES), new_person=True, consent=YES)  # fmt: skip
    r.hset("pd:pledged", "hendon-brent-st|evening", hall.places("evening") - 2)

    def turn(who: str, text: str = "") -> list[str]:
        before = r.llen(f"pd:console:{who}")
        if text:
            s.inbox.accept([Inbound(who, text=text, external_id=f"{who}:{text}")])
        s.timed.release(now.timestamp())
        turns.drain(who)
        return [json.loads(x)["text"] for x in r.lrange(f"pd:console:{who}", before, -1)]

    assert waves.look(rt, now=now.timestamp(), at_once=True) == 6
    asked = ["console:p0", *people[4:9]]  # nearest first, six for two places
    assert s.backfill.asked("hendon-brent-st", "evening", people) == [
        who in asked for who in people
    ]
    (ask,) = turn("console:p0")
    assert ask.startswith("Hendon Labour Hall needs 2 more people from 17:00, 10 m from you")
    for who in asked[1:]:
        assert turn(who)[0].startswith("Hendon Labour Hall needs 2 more people from 17:00")
    assert turn("console:p1") == [] and turn("console:p9") == []  # not asked

    assert turn("console:p4", "yes")[0].startswith("You're confirmed: Hendon Labour Hall")
    assert turn("console:p0", "yes")[0].startswith("You're confirmed: Hendon Labour Hall")
    assert turn("console:p5", "yes")[0].startswith("Thank you! Hendon Labour Hall has the")
    assert turn("console:p6", "no") == ["No problem, thanks for letting us know."]
    full = str(hall.places("evening")).encode()
    assert r.hget("pd:pledged", "hendon-brent-st|evening") == full  # never past the gap
    assert s.places.pledge_of("console:p4") == "hendon-brent-st|evening"

    assert waves.look(rt, now=now.timestamp() + 60, at_once=True) == 0
    (gap,) = s.backfill.gaps()
    assert (gap.room, gap.shift, gap.status, gap.asked) == ("hendon-brent-st", "evening",
                                                            "covered", 6)  # fmt: skip
    assert (gap.took, gap.late, gap.declined, gap.waves) == (2, 1, 1, 1)

    # A no-show frees a place: a wave ten minutes after the last asks only p9, then nobody.
    assert s.places.release_shift("console:p4", "hendon-brent-st", "evening")
    assert waves.look(rt, now=now.timestamp() + 120, at_once=True) == 0  # too soon
    assert waves.look(rt, now=now.timestamp() + 601, at_once=True) == 1
    assert s.backfill.asked("hendon-brent-st", "evening", ["console:p9"]) == [True]
    assert waves.look(rt, now=now.timestamp() + 1202, at_once=True) == 0
    (gap,) = s.backfill.gaps()
    assert (gap.status, gap.asked, gap.waves) == ("nobody_left", 7, 3)


def test_an_open_ask_never_takes_a_yes_meant_for_something_else_after_a_change():
    """Asked, then CHANGE: the YES to the new offer confirms that offer, not the ask."""
    world = on_the_day()
    conv = asked(world)
    changed = handle(conv, Inbound(TG, text="CHANGE"), world).conv
    offer = handle(handle(changed, Inbound(TG, text="N7 6AA"), world).conv,
                   Inbound(TG, text="evening"), world).conv  # fmt: skip
    assert offer.state is State.OFFER and offer.asked is None
    room = offer.offer.room_id
    turn = handle(offer, Inbound(TG, text="yes"), world)
    assert turn.conv.pledge == Pledge(room, ("evening",))
    assert turn.replies[0].text.startswith(f"You're confirmed: Room {room}")
    assert world.answers == {}


def test_a_yes_to_on_your_way_after_an_ask_answers_on_your_way_not_the_ask():
    """Pledged at B for the morning, asked at 07:10 to cover B's afternoon too, then asked
    at 07:30 whether they are on their way: "yes on my way" answers the second question."""
    world = on_the_day(6, 10, b_afternoon=4)
    assert world.reserve(TG, Pledge("B", ("morning",)))
    at_b = person(Pledge("B", ("morning",)))
    conv = handle(at_b, ask_event(shift="afternoon"), world).conv
    assert conv.asked == Offer("B", ("afternoon",), 1.3, (1,))
    world.clock = utc(6, 30)
    about = {"room": "B", "shifts": ["morning"], "shift": "morning", "step": CHASE}
    chased = handle(conv, Inbound(TG, event="attendance", payload=json.dumps(about)), world)
    assert chased.replies and chased.conv.asked is None and chased.conv.asked_until == 0
    turn = handle(chased.conv, Inbound(TG, text="yes on my way"), world)
    assert turn.conv.pledge == Pledge("B", ("morning",))
    assert [type(e).__name__ for e in turn.effects] == ["OnTheWay"]
    assert world.answers == {}


def test_an_event_that_sends_nothing_leaves_the_ask_open():
    """A chase for someone already here says nothing, so their YES still answers the ask."""
    world = on_the_day(6, 10, b_afternoon=4)
    assert world.reserve(TG, Pledge("B", ("morning",)))
    conv = handle(person(Pledge("B", ("morning",))), ask_event(shift="afternoon"), world).conv
    about = {"room": "B", "shifts": ["afternoon"], "shift": "afternoon", "step": CHASE}
    quiet = handle(conv, Inbound(TG, event="attendance", payload=json.dumps(about)), world)
    assert quiet.replies == [] and quiet.conv.asked == conv.asked


def test_one_look_asks_each_person_once_pages_outward_and_spreads_many_rooms(rt, r, monkeypatch):
    """Two rooms short for the evening, the same people near both: nobody gets two asks at
    once (the second room asks the next nearest), the search goes past the nearest few when
    they were asked already, and a look asks at most WAVES_PER_LOOK rooms (the next look
    takes the rest)."""
    from bot.model.person import Conversation as Conv
    from workers import backfill as waves

    monkeypatch.setattr(waves, "SEARCH", 2)
    monkeypatch.setattr(waves, "WAVES_PER_LOOK", 1)
    now = utc(15).timestamp()
    s, rooms = rt.store, rt.world.directory.rooms
    hall, other = rooms["hendon-brent-st"], rooms["colindale"]
    for rid, room in rooms.items():  # every room full but two
        for shift in ("afternoon", "evening"):
            r.hset("pd:pledged", f"{rid}|{shift}", room.places(shift))
    r.hset("pd:pledged", "hendon-brent-st|evening", hall.places("evening") - 2)  # asked first
    r.hset("pd:pledged", "colindale|evening", other.places("evening") - 1)
    people = [f"console:p{n}" for n in range(6)]
    for n, who in enumerate(people):  # n x ~200 m north of the hall
        at = Location(hall.location.latitude + 0.0018 * n, hall.location.longitude)
        s.people.save(Conv(who, State.ASK_SHIFTS, location=at, consent=YES),
                      new_person=True, consent=YES)  # fmt: skip
    s.backfill.ask("hendon-brent-st", "evening", 1, people[:2], now - 900, 600)  # earlier

    assert waves.look(rt, now=now, at_once=True) == 4  # the room most short, alone
    first = s.backfill.asked("hendon-brent-st", "evening", people)
    assert first == [True] * 6  # past p0 and p1 (asked before): p2 to p5
    assert s.backfill.asked("colindale", "evening", people) == [False] * 6

    assert waves.look(rt, now=now + 1, at_once=True) == 2  # the other room next
    second = s.backfill.asked("colindale", "evening", people)
    assert second == [True, True, False, False, False, False]  # p2 to p5 are resting
    for who in people:  # one ask each
        (ask,) = r.zrange(f"pd:timed:{who}", 0, -1)
        assert json.loads(ask)["event"] == BACKFILL_EVENT


def test_data_stored_before_the_indexes_were_kept_is_indexed_once(r):
    """A Redis from before this version: conversations and pledges, no geo index or
    rosters. The first worker to start builds them, once."""
    s = Store(r)
    agreed = Conversation("sms:+1", State.DONE, location=N7, consent=YES,
                          pledge=Pledge("A", ("morning",)))  # fmt: skip
    said_no = Conversation("sms:+2", State.DONE, location=N7,
                           consent=Consent(False, 1, "sms", "v1"))  # fmt: skip
    for conv in (agreed, said_no):
        s.people.save(conv, new_person=True, consent=conv.consent)
    assert s.places.reserve("sms:+1", Pledge("A", ("morning",)), [5])
    r.delete("pd:nearby", "pd:roster:A")  # as before the indexes were kept
    assert s.index()
    assert [m for m, _ in r.zrange("pd:nearby", 0, -1, withscores=True)] == [b"sms:+1"]
    assert s.places.roster("A") == {"sms:+1": ("morning",)}
    r.delete("pd:nearby")
    assert not s.index() and not r.exists("pd:nearby")  # once
    # Someone saved (or erased) between the read and the write keeps what the save did.
    s.people._index_nearby(keys=["pd:nearby", "pd:conv:sms:+1"], args=["sms:+1", "old", "0 51"])
    s.people._index_nearby(keys=["pd:nearby", "pd:conv:sms:+9"], args=["sms:+9", "", "0 51"])
    assert not r.exists("pd:nearby")
    # Another worker building it (or one killed half way, for ten minutes): left to it.
    r.set("pd:indexed", "building", ex=600)
    assert not s.index()


def test_a_message_that_asks_nothing_leaves_the_ask_open():
    """A coordinator's message to everyone expected asks nothing: YES still answers the ask."""
    world = on_the_day(6, 10, b_afternoon=4)
    assert world.reserve(TG, Pledge("B", ("morning",)))
    conv = handle(person(Pledge("B", ("morning",))), ask_event(shift="afternoon"), world).conv
    about = json.dumps({"room": "B", "text": "Tea is on", "at": 1})
    told = handle(conv, Inbound(TG, event="room_message", payload=about), world)
    assert told.replies and told.conv.asked == conv.asked
