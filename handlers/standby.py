"""STANDBY: every room near them is full for their times, and they wait for a place.

STANDBY (after "every room is full") puts them on the lists of the nearest target rooms
(``conv.offers`` holds those rooms). When a place frees up, the worker keeps it for the
nearest person waiting and tells their conversation (the ``standby_offer`` event, below):
YES takes it, NO passes it on, and a hold that runs out goes to the next person by itself
(workers/standby.py). Other times look again; LEAVE comes off the lists.
"""

from __future__ import annotations

import json

from bot.model.message import Button, Inbound, Outbound
from bot.model.person import Conversation, Pledge, State
from bot.model.turn import JoinStandby, PassHold, Release, Turn, World
from bot.rooms import Offer
from handlers import offer, say
from handlers.answers import Unsure, asks_to_leave, read_shift_reply, says_no, says_yes

STANDBY_EVENT = "standby_offer"  # a freed place is held for them (bot/conversation.py)


def join(conv: Conversation, world: World) -> Turn:
    """Wait for a place at the nearest target rooms for their times; if one is free after
    all (freed since they asked), offer it instead."""
    c = world.campaign
    if not conv.shifts or conv.location is None:
        return Turn(conv, [say.ask_shifts(conv, c)])
    if world.directory.choose(conv.location, conv.shifts, world.places_left, c.tie_km):
        return offer.first_offer(conv, world)
    rooms = world.directory.standby_rooms(
        conv.location, conv.shifts, c.standby_rooms, c.max_distance_km
    )
    if not rooms:  # no target room runs those times at all
        return Turn(conv, [say.no_rooms(conv, c, [])])
    conv = conv.evolve(state=State.STANDBY, offers=tuple(rooms), offer_index=0)
    lists = tuple((o.room_id, s, o.km) for o in rooms for s in o.shifts)
    values = _waiting_for(conv, world)
    minutes = f"{c.standby_hold_minutes:g}"
    reply = say.say(conv, "standby_joined", minutes=minutes, **values)
    return Turn(conv, [reply], [JoinStandby(conv.address, lists)])


def standby(conv: Conversation, msg: Inbound, world: World) -> Turn:
    """STANDBY: YES or NO to a place held for them, other times, LEAVE, or where they
    stand."""
    if conv.held is not None:
        meant = msg.payload if msg.payload in ("take", "pass") else _read_hold(msg.text)
        if meant == "take":
            return take(conv, world)
        if meant == "pass":
            held = conv.held
            conv = conv.evolve(held=None, held_until=0)
            passed = PassHold(conv.address, held.room_id, held.shifts[0])
            return Turn(conv, [say.say(conv, "standby_passed")], [passed])
    if asks_to_leave(msg.text):
        conv = conv.evolve(state=State.ASK_SHIFTS, offers=(), held=None, held_until=0)
        return Turn(conv, [say.say(conv, "standby_left")], [Release(conv.address)])
    shifts = read_shift_reply(msg.text, msg.payload, world.campaign.shifts)
    if isinstance(shifts, Unsure):
        question = say.text(conv, "shifts_which_hour", hour=shifts.hour)
        return Turn(conv, [say.ask_shifts(conv, world.campaign, question)])
    if shifts:  # other times: look again, off the lists (any hold passed on)
        turn = offer.first_offer(conv.evolve(shifts=shifts, held=None, held_until=0), world)
        turn.effects.insert(0, Release(conv.address))
        return turn
    if conv.held is not None:
        room = world.directory.rooms.get(conv.held.room_id)
        until = say.clock(world.campaign, conv.held_until)
        name = room.name if room else ""
        return Turn(conv, [say.say(conv, "standby_offer_unclear", room=name, until=until)])
    return Turn(conv, [status(conv, world)])


def _read_hold(text: str) -> str | None:
    if says_yes(text):
        return "take"
    return "pass" if says_no(text) else None


def take(conv: Conversation, world: World) -> Turn:
    """YES to the place held for them: theirs, unless the hold ran out first."""
    held = conv.held
    assert held is not None
    room = world.directory.rooms.get(held.room_id)
    until = say.clock(world.campaign, conv.held_until)
    conv = conv.evolve(held=None, held_until=0)
    if room is None or not world.take_hold(conv.address, held.room_id, held.shifts[0]):
        name = room.name if room else ""
        return Turn(conv, [say.say(conv, "standby_too_late", room=name, until=until)])
    return offer.confirmed(conv, world, Pledge(held.room_id, held.shifts))


def status(conv: Conversation, world: World) -> Outbound:
    """Where they are waiting, and for which times."""
    return say.say(conv, "standby_status", **_waiting_for(conv, world))


def _waiting_for(conv: Conversation, world: World) -> dict[str, str]:
    rooms = world.directory.rooms
    names = [rooms[o.room_id].name for o in conv.offers if o.room_id in rooms]
    return {"rooms": say.listing(names), "shift_phrase": say.shift_phrase(world.campaign,
            [s for s in conv.shifts if s in world.campaign.shift_ids])}  # fmt: skip


def offered(conv: Conversation, msg: Inbound, world: World) -> Turn:
    """A freed place is held for them (a system event from workers/standby.py): tell them,
    if they are still waiting; otherwise pass it straight on."""
    about = json.loads(msg.payload or "{}")
    room_id, shift = str(about.get("room", "")), str(about.get("shift", ""))
    until = float(about.get("until", 0))
    room = world.directory.rooms.get(room_id)
    if (
        conv.state is not State.STANDBY
        or room is None
        or world.was_stopped(conv.address)
        or until <= world.now().timestamp()
    ):
        return Turn(conv, [], [PassHold(conv.address, room_id, shift)])
    km = float(about.get("km", 0))
    conv = conv.evolve(held=Offer(room_id, (shift,), km), held_until=int(until))
    c = world.campaign
    values = say.pledge_values(c, room, (shift,))
    buttons = (Button(say.text(conv, "take_button"), "take"),
               Button(say.text(conv, "pass_button"), "pass"))  # fmt: skip
    reply = say.say(conv, "standby_offer", *buttons, **values, distance=say.distance(km),
                    until=say.clock(c, until))  # fmt: skip
    return Turn(conv, [reply])
