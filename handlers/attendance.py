"""After a shift starts: someone pledged who has not checked in is asked whether they are
on their way, and after a second wait with no word they count as a no-show and that
shift's place is freed for someone else (workers/reminders.py schedules both).

Both are ``attendance`` system events, handled in order with what the person writes, and
only while the pledge they were scheduled for still stands. ON MY WAY (handlers/done.py)
is recorded for the room to see; CAN'T frees the place at once.
"""

from __future__ import annotations

import json

from bot.campaign import CHASE, NO_SHOW
from bot.model.message import Button, Inbound
from bot.model.person import Conversation, Pledge, State
from bot.model.turn import NoShow, Turn, World
from handlers import say


def attendance(conv: Conversation, msg: Inbound, world: World) -> Turn:
    """On your way? (CHASE), or a no-show (NO_SHOW), unless they are here or have said
    they are coming."""
    about = json.loads(msg.payload or "{}")
    pledge = Pledge(str(about.get("room", "")), tuple(about.get("shifts", ())))
    shift, step = str(about.get("shift", "")), about.get("step")
    room = world.directory.rooms.get(pledge.room_id)
    if (
        conv.state is State.STOPPED
        or conv.pledge != pledge
        or shift not in pledge.shifts
        or room is None
        or world.was_stopped(conv.address)
        or world.arrival(conv.address, pledge.room_id, shift) is not None
    ):
        return Turn(conv)  # plans changed, or they are here, on their way, or said STOP
    c = world.campaign
    label = c.shift(shift).label
    start = f"{c.shift(shift).start:%H:%M}"
    if step == CHASE:
        buttons = (Button(say.text(conv, "on_my_way_button"), "onway"),
                   Button(say.text(conv, "cant_button"), "cant"))  # fmt: skip
        ask = say.say(conv, "chase", *buttons, room=room.name, shift=label, start=start)
        return Turn(conv, [ask])
    if step != NO_SHOW:
        return Turn(conv)
    kept = tuple(s for s in pledge.shifts if s != shift)
    gone = NoShow(conv.address, pledge.room_id, shift, say.stamp(world))
    told = say.text(conv, "no_show", room=room.name, shift=label)
    if kept:
        rest = say.text(conv, "no_show_kept", shift_phrase=say.shift_phrase(c, kept))
        conv = conv.evolve(pledge=Pledge(pledge.room_id, kept), shifts=kept)
    else:
        rest = say.text(conv, "no_show_none")
        conv = conv.evolve(state=State.ASK_SHIFTS, pledge=None, shifts=(), offers=())
    return Turn(conv, [say.say(conv, "no_show_reply", told=told, rest=rest)], [gone])
