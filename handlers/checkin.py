"""HERE: checking in at the room on polling day (in any state but STOPPED; a button on the
morning-of reminder on Telegram).

It counts for their room and the shift under way (or starting within the hour) and the
shifts they pledged straight after it (bot/campaign.arrival). Outside those times, or with
no pledge, it is refused kindly and says what to do instead.
"""

from __future__ import annotations

from bot.campaign import arrival
from bot.model.message import Inbound
from bot.model.person import Conversation
from bot.model.turn import CheckIn, Turn, World
from handlers import say


def here(conv: Conversation, msg: Inbound, world: World) -> Turn:
    """Record the arrival, or say kindly why not."""
    c = world.campaign
    pledge = conv.pledge
    room = world.directory.rooms.get(pledge.room_id) if pledge else None
    if pledge is None or room is None:
        return Turn(conv, [say.say(conv, "checkin_no_pledge")])
    now = world.now()
    came = arrival(c.polling_day, c.timezone, c.shifts, pledge.shifts, now)
    values = say.pledge_values(c, room, pledge.shifts)
    if came.shifts:
        phrase = say.shift_phrase(c, came.shifts)
        arrived = CheckIn(conv.address, room.id, came.shifts, say.stamp(world))
        reply = say.say(conv, "checked_in", room=room.name, shifts=phrase)
        return Turn(conv, [reply], [arrived])
    if came.opens is None:
        return Turn(conv, [say.say(conv, "checkin_over", room=room.name)])
    opens = say.clock(c, came.opens.timestamp())
    return Turn(conv, [say.say(conv, "checkin_early", opens=opens, **values)])
