"""Standby, as the state tables see it (handlers/standby.py on the memory world): joining
when every room is full, a freed place held and offered, YES / NO / too late, LEAVE, other
times, STOP; then the Lua scripts on a real Redis (bot/store/standby.py)."""

from __future__ import annotations

import json
import time

import pytest

from bot.model.message import Inbound
from bot.model.person import Conversation, Pledge, State
from bot.model.turn import JoinStandby, PassHold, Release
from bot.rooms import Offer
from bot.store import Store
from handlers.standby import STANDBY_EVENT
from tests.world import POSTCODES, MemoryWorld, handle

TG = "telegram:42"
N7 = POSTCODES["N7 6AA"]
FULL = {(r, s): 5 for r in "ABCSW" for s in ("morning", "afternoon", "evening")}


def msg(text: str = "", **kw) -> Inbound:
    return Inbound(TG, text=text, **kw)


def full_world() -> MemoryWorld:
    return MemoryWorld(taken=dict(FULL))


def asked_morning(world: MemoryWorld) -> Conversation:
    """Someone at N7 6AA who asked for the morning and was told every room is full."""
    conv = Conversation(TG, State.ASK_SHIFTS, postcode="N7 6AA", location=N7)
    turn = handle(conv, msg("morning"), world)
    assert turn.conv.state is State.ASK_SHIFTS and "Reply STANDBY" in turn.replies[0].text
    return turn.conv


def waiting(world: MemoryWorld) -> Conversation:
    turn = handle(asked_morning(world), msg("STANDBY"), world)
    assert turn.conv.state is State.STANDBY
    return turn.conv


def offer_event(room: str = "A", until: float | None = None, km: float = 0.661) -> Inbound:
    """What workers/standby.py tells a conversation when it holds a place for them."""
    until = until if until is not None else MemoryWorld().clock.timestamp() + 1200
    about = {"room": room, "shift": "morning", "km": km, "until": int(until)}
    return Inbound(TG, event=STANDBY_EVENT, payload=json.dumps(about))


def held(world: MemoryWorld, room: str = "A") -> Conversation:
    """On standby, with a place at ``room`` held for them (counted taken) and offered."""
    conv = waiting(world)
    world.taken[(room, "morning")] -= 1  # someone left...
    world.hold(TG, room, "morning")  # ...and the worker held it for this person
    turn = handle(conv, offer_event(room), world)
    assert turn.conv.held == Offer(room, ("morning",), 0.661)
    return turn.conv


@pytest.mark.parametrize(
    "said, payload",
    [("STANDBY", None), ("standby please", None), ("put me on the waiting list", None),
     ("stand by", None), ("", "standby"), ("⏳ Put me on standby", None)],
)  # fmt: skip
def test_standby_joins_the_lists_of_the_nearest_target_rooms(said, payload):
    world = full_world()
    turn = handle(asked_morning(world), msg(said, payload=payload), world)
    assert turn.conv.state is State.STANDBY
    assert [o.room_id for o in turn.conv.offers] == ["A", "B", "C"]  # no safe seat, no Cardiff
    (join,) = turn.effects
    assert isinstance(join, JoinStandby) and [(r, s) for r, s, _ in join.lists] == [
        (r, "morning") for r in "ABC"
    ]
    assert [round(km, 1) for _, _, km in join.lists] == [0.7, 1.3, 8.1]
    (reply,) = turn.replies
    assert reply.text.startswith(
        "You're on standby for Room A, Room B and Room C: Morning 07:00–12:00. If a place"
        " comes up we'll message you here and keep it for you for 20 minutes."
    )


def test_standby_when_a_place_came_free_meanwhile_offers_it_instead():
    world = full_world()
    conv = asked_morning(world)
    world.taken[("B", "morning")] = 4
    turn = handle(conv, msg("standby"), world)
    assert turn.conv.state is State.OFFER and turn.conv.offer.room_id == "B"
    assert turn.effects == []


def test_a_held_place_is_offered_and_yes_takes_it():
    world = full_world()
    conv = held(world)
    offer = handle(waiting(full_world()), offer_event(), full_world())
    (text,) = [r.text for r in offer.replies]
    assert text.startswith(
        "Good news: a place has come up at Room A, 1 A Street, N1 1AA: Morning 07:00–12:00,"
        " 660 m from you."
    )
    assert "It's yours if you reply YES by 13:20. Reply NO to pass it" in text  # 12:20 UTC
    assert [b.payload for b in offer.replies[0].buttons] == ["take", "pass"]
    turn = handle(conv, msg("yes please"), world)
    assert turn.conv.pledge == Pledge("A", ("morning",)) and turn.conv.held is None
    assert turn.conv.state is State.ASK_CONSENT  # asked about updates after a first place
    assert turn.replies[0].text.startswith("You're confirmed: Room A")
    assert world.pledges[TG] == Pledge("A", ("morning",)) and TG not in world.holds
    assert world.taken[("A", "morning")] == 5  # the held place, not one more
    assert TG not in world.standby and world.reminders == [(TG, Pledge("A", ("morning",)))]


@pytest.mark.parametrize("said, payload", [("no", None), ("no thanks", None), ("", "pass")])
def test_no_passes_the_held_place_on_and_they_keep_waiting(said, payload):
    world = full_world()
    turn = handle(held(world), msg(said, payload=payload), world)
    assert turn.conv.state is State.STANDBY and turn.conv.held is None
    assert turn.effects == [PassHold(TG, "A", "morning")]
    assert turn.replies[0].text.startswith("No problem, it'll go to the next person.")
    assert TG not in world.holds and world.taken[("A", "morning")] == 4  # free for the next


def test_yes_after_the_hold_ran_out_is_told_kindly():
    world = full_world()
    conv = held(world)
    world.drop_hold(TG)  # the clock gave it to the next person
    turn = handle(conv, msg("YES"), world)
    assert turn.conv.state is State.STANDBY and turn.conv.pledge is None
    assert turn.replies[0].text == (
        "Sorry, the place at Room A was kept for you until 13:20 and has gone to the next"
        " person. You're still on standby for your other rooms and times."
    )


@pytest.mark.parametrize(
    "conv_state, until_from_now, stopped",
    [(State.DONE, 1200, False), (State.STANDBY, -1, False), (State.STANDBY, 1200, True)],
)
def test_a_held_place_for_someone_no_longer_waiting_passes_straight_on(
    conv_state, until_from_now, stopped
):
    """They pledged elsewhere, the hold ran out before it reached them, or they said STOP
    in a message still queued: nothing is sent, the place goes to the next person."""
    world = full_world()
    conv = waiting(world).evolve(state=conv_state)
    if stopped:
        world.stopped.add(TG)
    until = world.clock.timestamp() + until_from_now
    turn = handle(conv, offer_event(until=until), world)
    assert turn.replies == [] and turn.conv.held is None
    assert turn.effects == [PassHold(TG, "A", "morning")]


@pytest.mark.parametrize("said", ["LEAVE", "leave please", "take me off standby",
                                  "I'm not waiting any more"])  # fmt: skip
def test_leave_comes_off_the_lists_and_gives_back_a_held_place(said):
    world = full_world()
    turn = handle(held(world), msg(said), world)
    assert turn.conv.state is State.ASK_SHIFTS and turn.conv.held is None
    assert turn.effects == [Release(TG)]
    assert turn.replies[0].text.startswith("You're off the standby list.")
    assert TG not in world.standby and TG not in world.holds


def test_other_times_look_again_and_come_off_the_lists():
    world = full_world()
    conv = held(world)
    world.taken = {k: n for k, n in world.taken.items() if k[1] != "evening"}
    turn = handle(conv, msg("evening"), world)
    assert turn.conv.state is State.OFFER and turn.conv.shifts == ("evening",)
    assert turn.effects[0] == Release(TG) and turn.conv.held is None
    assert TG not in world.standby and TG not in world.holds


@pytest.mark.parametrize(
    "said, start",
    [("what's happening?", "You're on standby for Room A, Room B and Room C: Morning"),
     ("I'll leave it to you", "You're on standby for Room A"),  # not a LEAVE
     ("START", "You're on standby for Room A")],
)  # fmt: skip
def test_anything_else_says_where_they_wait(said, start):
    world = full_world()
    turn = handle(waiting(world), msg(said), world)
    assert turn.conv.state is State.STANDBY and turn.effects == []
    assert turn.replies[0].text.startswith(start)
    assert "We'll message you the moment a place comes up." in turn.replies[0].text


def test_an_unclear_answer_to_a_held_place_asks_again():
    world = full_world()
    turn = handle(held(world), msg("hmm where is it"), world)
    assert turn.conv.held is not None and turn.effects == []
    assert turn.replies[0].text == (
        "Reply YES by 13:20 to take the place at Room A, or NO to pass it to the next person."
    )


def test_stop_while_waiting_gives_the_held_place_back():
    world = full_world()
    turn = handle(held(world), msg("STOP"), world)
    assert turn.conv.state is State.STOPPED and turn.conv.held is None
    assert Release(TG) in turn.effects
    assert TG not in world.standby and TG not in world.holds


def test_a_conversation_on_standby_round_trips_through_json():
    world = full_world()
    conv = held(world)
    again = Conversation.from_json(TG, conv.to_json())
    assert again == conv and again.held_until == conv.held_until > 0


# --- the scripts, on a real Redis ---------------------------------------------------


def test_a_freed_place_is_held_for_the_nearest_who_can_take_it(r):
    s = Store(r)
    now = time.time()
    for who, km in (("sms:+1", 0.5), ("telegram:2", 1.0), ("whatsapp:+3", 0.1),
                    ("telegram:4", 2.0), ("telegram:5", 3.0)):  # fmt: skip
        s.standby.join(who, [("A", "morning", km), ("B", "morning", km + 1)])
    r.hset("pd:lastin", "whatsapp:+3", f"{now - 25 * 3600:.0f}")  # its window has closed
    r.hset("pd:unreachable", "sms:+1", "blocked")  # blocked the bot: off the list
    assert s.places.reserve("telegram:2", Pledge("C", ("morning",)), [5])  # a place elsewhere
    r.hset("pd:pledged", "A|morning", 2)  # 2 of 3 taken: one free
    assert s.standby.offer("A", "morning", 3, now + 60, now - 24 * 3600) == ("telegram:4", 2.0)
    assert r.hget("pd:pledged", "A|morning") == b"3"  # held counts as taken
    assert s.standby.offer("A", "morning", 3, now + 60, now - 24 * 3600) is None  # full
    # The blocked and the pledged are off the list; the one out of window stays for later.
    assert r.zrange("pd:standby:A:morning", 0, -1) == [b"whatsapp:+3", b"telegram:5"]
    # One hold at a time: telegram:4 is skipped on B's list.
    r.hset("pd:pledged", "B|morning", 0)
    got = s.standby.offer("B", "morning", 1, now + 60, now - 24 * 3600)
    assert got == ("telegram:5", 4.0)
    assert s.standby.held() == {"telegram:4": ("A", "morning", float(int(now + 60))),
                                "telegram:5": ("B", "morning", float(int(now + 60)))}  # fmt: skip


def test_take_only_in_time_and_drop_only_the_hold_named(r):
    s = Store(r)
    now = time.time()
    s.standby.join("telegram:1", [("A", "morning", 1.0)])
    s.standby.join("telegram:2", [("A", "morning", 2.0)])
    assert s.standby.offer("A", "morning", 2, now + 60, 0) == ("telegram:1", 1.0)
    assert s.standby.offer("A", "morning", 2, now + 60, 0) == ("telegram:2", 2.0)
    assert not s.standby.take("telegram:1", "B", "morning", now)  # not the place held
    assert not s.standby.take("telegram:1", "A", "morning", now + 61)  # ran out
    assert s.standby.take("telegram:1", "A", "morning", now)
    assert s.places.pledge_of("telegram:1") == "A|morning"
    assert r.hget("pd:pledged", "A|morning") == b"2"  # taken, not counted again
    assert not s.standby.take("telegram:1", "A", "morning", now)  # once
    assert s.standby.drop("telegram:2", "B", "morning") is None  # not that one
    assert s.standby.drop("telegram:2", "A", "morning") == ("A", "morning")
    assert r.hget("pd:pledged", "A|morning") == b"1" and s.standby.held() == {}


def test_expire_gives_back_what_ran_out_and_erase_takes_everything(r):
    s = Store(r, secret="k")
    now = time.time()
    for i, km in ((1, 1.0), (2, 2.0)):
        s.standby.join(f"telegram:{i}", [("A", "morning", km), ("A", "evening", km)])
    s.standby.offer("A", "morning", 1, now + 10, 0)  # telegram:1
    s.standby.offer("A", "evening", 1, now + 100, 0)  # telegram:2 (1 holds one already)
    assert s.standby.expire(now + 50) == [("A", "morning")]
    assert r.hget("pd:pledged", "A|morning") == b"0"
    assert sorted(s.standby.waiting()) == [("A", "evening"), ("A", "morning")]
    # DELETE gives back the place held for them and takes them off every list.
    assert s.erase("telegram:2") == [("A", "evening")]
    assert r.hget("pd:pledged", "A|evening") == b"0" and s.standby.held() == {}
    assert r.zrange("pd:standby:A:morning", 0, -1) == []  # 1 was asked once; 2 erased
    assert r.zrange("pd:standby:A:evening", 0, -1) == [b"telegram:1"]
    assert r.hkeys("pd:standing") == [b"telegram:1"]


# --- the worker side in-process: effects, the clock, and the turns that follow ------


def test_a_cancellation_reaches_the_nearest_on_standby_then_the_next(rt, r):
    """A pledges; every room fills; B and C wait (C further away). A's CAN'T holds the
    place for B; B's NO passes it to C; C's silence runs out the hold and the clock's look
    frees it; a place freed by the organisers reaches B, whose YES takes it."""
    from workers import clock, turns
    from workers import standby as filling

    def say(who: str, *texts: str) -> list[str]:
        before = r.llen(f"pd:console:{who}")
        for i, text in enumerate(texts):
            rt.store.inbox.accept([Inbound(who, text=text, external_id=f"{who}:{text}:{i}")])
        clock.tick(rt)  # anything timed that fell due goes in first
        turns.drain(who)
        raw = r.lrange(f"pd:console:{who}", before, -1)
        return [json.loads(x)["text"] for x in raw]

    def told(who: str) -> list[str]:
        clock.tick(rt)  # a held place's event, due now, into their inbox
        return say(who)

    a, b, c = "console:a", "console:b", "console:c"
    say(a, "hi", "N7 6AA", "1", "yes", "no")
    room = rt.store.places.pledge_of(a).split("|")[0]
    rooms = rt.world.directory.rooms
    for rid, rm in rooms.items():
        r.hset("pd:pledged", f"{rid}|morning", rm.places("morning"))
    assert "Reply STANDBY" in say(b, "hi", "N5 1XL", "1")[-1]
    assert say(b, "standby")[-1].startswith(f"You're on standby for {rooms[room].name}")
    say(c, "hi", "N7 6AA", "1", "standby")  # further from A's room than B
    assert (room, "morning") in rt.store.standby.lists_of(c)
    assert r.zrange(f"pd:standby:{room}:morning", 0, -1) == [b.encode(), c.encode()]

    assert say(a, "can't make it")[-1].startswith("Thanks for letting us know")
    offer = told(b)[-1]
    assert offer.startswith(f"Good news: a place has come up at {rooms[room].name}")
    until = pytest.approx(time.time() + 1200, abs=5)  # config.yaml's 20 minutes
    assert rt.store.standby.held() == {b: (room, "morning", until)}
    assert told(c) == []  # one place, one person asked
    assert say(b, "no")[-1].startswith("No problem, it'll go to the next person.")
    assert told(c)[-1].startswith(f"Good news: a place has come up at {rooms[room].name}")
    cap = rooms[room].places("morning")
    assert r.hget("pd:pledged", f"{room}|morning") == str(cap).encode()  # held: still full

    # C never answers: the look after the hold runs out gives the place back, and nobody
    # else waits for it (B passed, C was asked).
    assert filling.look(rt, now=time.time() + 1201, at_once=True) == 0
    assert rt.store.standby.held() == {}
    assert r.hget("pd:pledged", f"{room}|morning") == str(cap - 1).encode()
    assert say(c, "yes")[-1].startswith(f"Sorry, the place at {rooms[room].name} was kept")

    # The organisers free a place at another room B waits for: the look holds it for B.
    other = next(rid for rid, _ in rt.store.standby.lists_of(b) if rid != room)
    r.hincrby("pd:pledged", f"{other}|morning", -1)
    assert filling.look(rt, at_once=True) == 1
    assert told(b)[-1].startswith(f"Good news: a place has come up at {rooms[other].name}")
    assert say(b, "yes")[0].startswith(f"You're confirmed: {rooms[other].name}")
    assert rt.store.places.pledge_of(b) == f"{other}|morning"
    assert r.hget("pd:pledged", f"{other}|morning") == str(rooms[other].places("morning")).encode()
    assert rt.store.standby.lists_of(b) == [] and rt.store.standby.held() == {}
