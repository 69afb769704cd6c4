"""DONE: the pledge is made; anything they send gets a reminder of it and the commands."""

from __future__ import annotations

import json

from bot.model.message import Inbound, Outbound
from bot.model.person import Conversation, Pledge, State
from bot.model.turn import Turn, World
from handlers import say


def status(conv: Conversation, world: World) -> Outbound:
    """Where the person is down to help, and what they can do next."""
    assert conv.pledge
    room = world.directory.rooms[conv.pledge.room_id]
    values = say.pledge_values(world.campaign, room, conv.pledge.shifts)
    return say.say(conv, "status", **values)


def done(conv: Conversation, msg: Inbound, world: World) -> Turn:
    """DONE: anything they send gets a reminder of their pledge and the commands."""
    if not conv.pledge or conv.pledge.room_id not in world.directory.rooms:
        conv = conv.evolve(state=State.ASK_LOCATION, pledge=None)  # nothing to show: start again
        return Turn(conv, [say.ask_location(conv)])
    return Turn(conv, [status(conv, world)])


def reminder(conv: Conversation, msg: Inbound, world: World) -> Turn:
    """A reminder came due (a system event, see workers/reminders.py): it goes only if the
    pledge it is about still stands and they have not said STOP (even in a message still
    queued behind it: STOP is recorded when it arrives)."""
    about = json.loads(msg.payload or "{}")
    pledge = Pledge(about.get("room", ""), tuple(about.get("shifts", ())))
    room = world.directory.rooms.get(pledge.room_id)
    if (
        conv.state is State.STOPPED
        or conv.pledge != pledge
        or room is None
        or world.was_stopped(conv.address)
    ):
        return Turn(conv)  # they changed their plans, the room went, or they said STOP
    values = say.pledge_values(world.campaign, room, about.get("about", pledge.shifts))
    return Turn(conv, [say.say(conv, "reminder", **values)])
