"""FULL on the day: a supporter at a room with more people than it needs is offered the
nearest short room, measured from the room; YES moves the place, STAY keeps it
(handlers/surplus.py on the memory world)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.model.message import Inbound
from bot.model.person import Consent, Conversation, Pledge, State
from bot.model.turn import CheckIn, LeftRoom
from tests.world import POSTCODES, MemoryWorld, handle

TG = "telegram:42"
ASKED = Consent(True, 1, "telegram", "v1")  # asked about updates with their first pledge
AT_A = Pledge("A", ("morning",))
MORNING = datetime(2029, 5, 3, 6, 40, tzinfo=UTC)  # 07:40 local, the morning shift


def at_room(world: MemoryWorld) -> Conversation:
    """Pledged to Room A for the morning, and checked in there."""
    conv = Conversation(TG, State.DONE, postcode="N7 6AA", location=POSTCODES["N7 6AA"],
                        shifts=AT_A.shifts, pledge=AT_A, consent=ASKED)  # fmt: skip
    turn = handle(conv, Inbound(TG, text="HERE"), world)
    assert isinstance(turn.effects[0], CheckIn)
    return turn.conv


def world_at(when: datetime = MORNING) -> MemoryWorld:
    return MemoryWorld(clock=when, taken={("A", "morning"): 5}, pledges={TG: AT_A})


@pytest.mark.parametrize(
    "said, payload",
    [("FULL", None), ("the room is full", None), ("too many of us here", None),
     ("it's packed", None), ("", "full")],
)  # fmt: skip
def test_full_offers_the_nearest_short_room_and_yes_moves_the_place(said, payload):
    world = world_at()
    turn = handle(at_room(world), Inbound(TG, text=said, payload=payload), world)
    assert turn.conv.state is State.OFFER and turn.conv.pledge == AT_A  # kept until YES
    assert [o.room_id for o in turn.conv.offers] == ["B", "C"]  # not A, not the safe seat
    (offer,) = turn.replies
    assert offer.text.startswith(
        "Thanks for telling us. The nearest room that's short of people now (reply STAY to"
        " stay at Room A):\n\nRoom B\n"
    )
    # Measured from Room A, where they are.
    assert "needs 5 more people for Morning, 660 m from you." in offer.text
    moved = handle(turn.conv, Inbound(TG, text="yes"), world)
    assert moved.conv.pledge == Pledge("B", ("morning",)) and moved.conv.state is State.DONE
    assert LeftRoom(TG, "A", ("morning",)) in moved.effects
    assert moved.replies[0].text.startswith("You're confirmed: Room B")
    assert world.taken[("A", "morning")] == 4 and world.taken[("B", "morning")] == 1
    assert TG not in world.arrived[("A", "morning")]  # no longer counted at A


@pytest.mark.parametrize("said, payload", [("STAY", None), ("no, I'll stay", None),
                                           ("", "stay")])  # fmt: skip
def test_stay_keeps_the_place(said, payload):
    world = world_at()
    offered = handle(at_room(world), Inbound(TG, text="FULL"), world).conv
    turn = handle(offered, Inbound(TG, text=said, payload=payload), world)
    assert turn.conv.state is State.DONE and turn.conv.pledge == AT_A and turn.effects == []
    assert turn.replies[0].text == "OK, stay at Room A. Thank you!"
    assert world.taken[("A", "morning")] == 5


def test_full_before_the_day_or_with_every_room_full_is_answered_kindly():
    world = world_at(datetime(2029, 5, 2, 12, tzinfo=UTC))
    turn = handle(_pledged(), Inbound(TG, text="FULL"), world)
    assert turn.conv.state is State.DONE and turn.effects == []
    assert turn.replies[0].text.startswith("Thanks! On polling day, if your room has more")
    world = world_at()
    world.taken.update({(r, "morning"): 5 for r in "BCW"})
    turn = handle(_pledged(), Inbound(TG, text="FULL"), world)
    assert turn.conv.state is State.DONE and turn.effects == []
    assert turn.replies[0].text.startswith(
        "Thanks for telling us. Every room nearby has the people it needs right now, so"
        " please stay at Room A"
    )


def _pledged() -> Conversation:
    return Conversation(TG, State.DONE, postcode="N7 6AA", location=POSTCODES["N7 6AA"],
                        shifts=AT_A.shifts, pledge=AT_A, consent=ASKED)  # fmt: skip


MORNING_EVENING = Pledge("A", ("morning", "evening"))


def at_room_all_day(world: MemoryWorld) -> Conversation:
    """Pledged to Room A for the morning and the evening, checked in for the morning."""
    conv = Conversation(TG, State.DONE, postcode="N7 6AA", location=POSTCODES["N7 6AA"],
                        shifts=MORNING_EVENING.shifts, pledge=MORNING_EVENING,
                        consent=ASKED)  # fmt: skip
    return handle(conv, Inbound(TG, text="HERE"), world).conv


def test_full_moves_a_later_shift_after_a_gap_too_when_a_short_room_has_it():
    world = MemoryWorld(clock=MORNING, taken={("A", "morning"): 5, ("A", "evening"): 1},
                        pledges={TG: MORNING_EVENING})  # fmt: skip
    turn = handle(at_room_all_day(world), Inbound(TG, text="FULL"), world)
    assert turn.conv.offers[0].shifts == ("morning", "evening")
    assert "gives up" not in turn.replies[0].text
    moved = handle(turn.conv, Inbound(TG, text="yes"), world)
    assert moved.conv.pledge == Pledge("B", ("morning", "evening"))
    assert LeftRoom(TG, "A", ("morning", "evening")) in moved.effects


def test_full_says_a_later_shift_is_given_up_when_no_short_room_has_it():
    taken = {("A", "morning"): 5, ("A", "evening"): 1, ("B", "evening"): 5, ("C", "evening"): 5}
    world = MemoryWorld(clock=MORNING, taken=taken, pledges={TG: MORNING_EVENING})
    turn = handle(at_room_all_day(world), Inbound(TG, text="FULL"), world)
    assert turn.conv.offers[0].shifts == ("morning",)
    assert "(Taking it gives up your Evening 17:00–22:00 at Room A" in turn.replies[0].text


def test_a_move_in_the_afternoon_leaves_the_mornings_check_in_where_it_was():
    both = Pledge("A", ("morning", "afternoon"))
    afternoon = datetime(2029, 5, 3, 12, 10, tzinfo=UTC)  # 13:10 local
    world = MemoryWorld(clock=afternoon, taken={("A", "morning"): 5, ("A", "afternoon"): 5},
                        pledges={TG: both})  # fmt: skip
    conv = Conversation(TG, State.DONE, postcode="N7 6AA", location=POSTCODES["N7 6AA"],
                        shifts=both.shifts, pledge=both, consent=ASKED)  # fmt: skip
    offered = handle(conv, Inbound(TG, text="FULL"), world).conv
    moved = handle(offered, Inbound(TG, text="yes"), world)
    assert moved.conv.pledge == Pledge("B", ("afternoon",))
    assert LeftRoom(TG, "A", ("afternoon",)) in moved.effects  # not the morning: it is done


def test_full_never_moves_someone_off_the_shift_they_are_working():
    """At 13:10 on the afternoon and evening at A, with the only room short for both none:
    B is short in the evening alone, C in the afternoon alone. C is offered, for the
    afternoon, and the evening is said to be given up (never B for the evening alone)."""
    both = Pledge("A", ("afternoon", "evening"))
    afternoon = datetime(2029, 5, 3, 12, 10, tzinfo=UTC)
    taken = {("A", "afternoon"): 5, ("A", "evening"): 1, ("B", "afternoon"): 5,
             ("C", "evening"): 5}  # fmt: skip
    world = MemoryWorld(clock=afternoon, taken=taken, pledges={TG: both})
    conv = Conversation(TG, State.DONE, postcode="N7 6AA", location=POSTCODES["N7 6AA"],
                        shifts=both.shifts, pledge=both, consent=ASKED)  # fmt: skip
    turn = handle(conv, Inbound(TG, text="FULL"), world)
    assert [(o.room_id, o.shifts) for o in turn.conv.offers] == [("C", ("afternoon",))]
    assert "(Taking it gives up your Evening 17:00–22:00 at Room A" in turn.replies[0].text
