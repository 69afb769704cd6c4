"""DONE: the pledge is made. "Still coming?" is answered here (YES keeps the place, CAN'T
frees it and asks for other times; on the day, in their shift's time, YES or ON MY WAY
tells the room they are coming); FULL offers a room that is short (handlers/surplus.py);
anything else gets a reminder of it and the commands."""

from __future__ import annotations

import json

from bot.campaign import arrival
from bot.model.message import Button, Inbound, Outbound
from bot.model.person import Conversation, Pledge, State
from bot.model.turn import OnTheWay, Release, Turn, World
from handlers import coordinator, say, surplus
from handlers.answers import read_still_coming, says_full, says_voted


def status(conv: Conversation, world: World) -> Outbound:
    """Where the person is down to help, and what they can do next."""
    assert conv.pledge
    room = world.directory.rooms[conv.pledge.room_id]
    values = say.pledge_values(world.campaign, room, conv.pledge.shifts)
    return say.say(conv, "status", **values)


def done(conv: Conversation, msg: Inbound, world: World) -> Turn:
    """DONE: "still coming?" answered (the evening-before reminder asks it, but it may come
    at any time), or else a reminder of their pledge and the commands."""
    if not conv.pledge or conv.pledge.room_id not in world.directory.rooms:
        conv = conv.evolve(state=State.ASK_LOCATION, pledge=None)  # nothing to show: start again
        return Turn(conv, [say.ask_location(conv)])
    room = world.directory.rooms[conv.pledge.room_id]
    if msg.payload == "full" or says_full(msg.text):  # too many at their room: move?
        return surplus.full(conv, world)
    if msg.payload == "voted" or says_voted(msg.text):  # the polling-day morning message
        return Turn(conv, [say.say(conv, "voted_thanks")])
    meant = (
        msg.payload if msg.payload in ("coming", "cant", "onway") else read_still_coming(msg.text)
    )
    if meant == "cant":
        return cant_come(conv, world, room.name)
    if meant == "no":
        return Turn(conv, [say.say(conv, "cant_check", room=room.name)])
    if meant in ("yes", "coming", "onway"):
        c = world.campaign
        came = arrival(c.polling_day, c.timezone, c.shifts, conv.pledge.shifts, world.now())
        if came.shifts:  # on the day, in their shift's time: tell the room they are coming
            on_way = OnTheWay(conv.address, room.id, came.shifts, say.stamp(world))
            return Turn(conv, [say.say(conv, "on_my_way_thanks", room=room.name)], [on_way])
        values = say.pledge_values(world.campaign, room, conv.pledge.shifts)
        return Turn(conv, [say.say(conv, "still_coming_thanks", **values)])
    if relayed := coordinator.relay(conv, msg, world):  # answering their room's coordinator
        return relayed
    return Turn(conv, [status(conv, world)])


def cant_come(conv: Conversation, world: World, room: str) -> Turn:
    """They can no longer come: free the place at once, thank them, ask for other times."""
    conv = conv.evolve(state=State.ASK_SHIFTS, pledge=None, shifts=(), offers=(), offer_index=0)
    ask = say.ask_shifts(conv, world.campaign, say.text(conv, "cant_thanks", room=room))
    return Turn(conv, [ask], [Release(conv.address)])


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
    if not str(about.get("name", "")).startswith("d"):  # on the day: check in on arrival
        text = f"{say.text(conv, 'reminder', **values)}\n\n{say.text(conv, 'here_prompt')}"
        here = Button(say.text(conv, "here_button"), "here")
        return Turn(conv, [Outbound(conv.address, text, (here,))])
    # The evening before: still coming? A place freed now can go to someone else.
    reminder = say.text(conv, "reminder", **values)
    ask = f"{reminder}\n\n{say.text(conv, 'still_coming')}"
    buttons = (Button(say.text(conv, "still_coming_button"), "coming"),
               Button(say.text(conv, "cant_button"), "cant"))  # fmt: skip
    return Turn(conv, [Outbound(conv.address, ask, buttons)])
