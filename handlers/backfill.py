"""Backfill on the day: a room near them is short of people for the shift under way or the
next one, and they are asked to go (workers/backfill.py chooses whom, nearest first).

The ask is an event, so it is handled in order with what they wrote (a STOP before it
wins) and checked again here: still free, still agreed to updates, the room still short.
YES takes a place atomically, never more than the room is short; once it is covered, a
later YES is thanked and told so. NO, or the shift ending, drops the ask.
"""

from __future__ import annotations

import json

from bot.backfill import free_for, pledge_after_yes, shifts_over
from bot.campaign import shift_window
from bot.model.message import Button, Inbound
from bot.model.person import Conversation
from bot.model.turn import BackfillAnswer, Turn, World
from bot.rooms import Offer
from handlers import offer, say
from handlers.answers import says_no, says_yes

BACKFILL_EVENT = "backfill_ask"  # a room near them is short (bot/conversation.py)


def asked(conv: Conversation, msg: Inbound, world: World) -> Turn:
    """Ask them to go, if they are still free and the room still needs people; else say
    nothing."""
    about = json.loads(msg.payload or "{}")
    room_id, shift_id, km = about.get("room", ""), about.get("shift", ""), about.get("km", 0.0)
    c, now = world.campaign, world.now()
    room = world.directory.rooms.get(room_id)
    over = shifts_over(c.polling_day, c.timezone, c.shifts, now)
    if (
        room is None
        or shift_id not in c.shift_ids
        or world.was_stopped(conv.address)
        or not free_for(conv, room_id, shift_id, over)
    ):
        return Turn(conv)
    (left,) = world.places_left([(room_id, shift_id)])
    if left <= 0:
        return Turn(conv)  # covered since the wave went
    shift = c.shift(shift_id)
    start, end = shift_window(c.polling_day, c.timezone, shift)
    when = (
        say.text(conv, "backfill_now", end=f"{shift.end:%H:%M}")
        if start <= now
        else say.text(conv, "backfill_from", start=f"{shift.start:%H:%M}")
    )
    ask_for = Offer(room_id, (shift_id,), km, (left,))
    conv = conv.evolve(asked=ask_for, asked_until=int(end.timestamp()))
    people = say.text(conv, "person" if left == 1 else "people")
    ask = say.say(
        conv, "backfill_ask",
        Button(say.text(conv, "backfill_yes_button"), "bf_yes"),
        Button(say.text(conv, "backfill_no_button"), "bf_no"),
        room=room.name, n=left, people=people, when=when, distance=say.distance(km),
        address=room.address, postcode=room.postcode, map_url=say.map_url(room),
    )  # fmt: skip
    return Turn(conv, [ask])


def answer(conv: Conversation, msg: Inbound, world: World) -> Turn | None:
    """YES or NO to the ask; None for anything else (the conversation carries on, the ask
    still open)."""
    o = conv.asked
    assert o is not None
    if msg.payload == "bf_yes" or (not msg.payload and says_yes(msg.text)):
        meant = "yes"
    elif msg.payload == "bf_no" or (not msg.payload and says_no(msg.text)):
        meant = "no"
    else:
        return None
    room_id, shift_id = o.room_id, o.shifts[0]
    room = world.directory.rooms.get(room_id)
    cleared = conv.evolve(asked=None, asked_until=0)
    if meant == "no":
        reply = say.say(cleared, "backfill_declined")
        return Turn(cleared, [reply], [BackfillAnswer(conv.address, room_id, shift_id, "declined")])
    if room is None:  # removed since it asked: they said yes, too late
        reply = say.say(cleared, "backfill_gone")
        return Turn(cleared, [reply], [BackfillAnswer(conv.address, room_id, shift_id, "late")])
    c = world.campaign
    over = shifts_over(c.polling_day, c.timezone, c.shifts, world.now())
    pledge = pledge_after_yes(conv, room_id, shift_id, c)
    if not free_for(conv, room_id, shift_id, over) or not world.reserve(conv.address, pledge):
        reply = say.say(cleared, "backfill_covered", room=room.name)
        return Turn(cleared, [reply], [BackfillAnswer(conv.address, room_id, shift_id, "late")])
    turn = offer.confirmed(cleared, world, pledge)
    turn.replies.append(say.say(cleared, "here_prompt"))
    # Their day at any other room is over (free_for): its check-ins stand, and it is no
    # move from a room with too many, so no LeftRoom.
    turn.effects.append(BackfillAnswer(conv.address, room_id, shift_id, "took"))
    return turn
