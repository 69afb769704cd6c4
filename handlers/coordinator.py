"""What a room's coordinator sends through the bot (bot/coordinating.py): a message relayed
to everyone expected at the room, whose replies go back to the room's page for a while,
and "we have too many", which asks the last to arrive whether they would move.

Both are events, handled in order with what the person wrote (a STOP before wins), and
only while they are still down for that room.
"""

from __future__ import annotations

import json

from bot.model.message import Inbound
from bot.model.person import Conversation, State
from bot.model.turn import RelayReply, Turn, World
from handlers import say, surplus

ROOM_MESSAGE = "room_message"  # the coordinator's message, relayed (bot/conversation.py)
MOVE_ASK = "move_ask"  # the room has too many: would they move?
RELAY_WINDOW = 2 * 3600  # seconds after a coordinator's message that replies go to the room
MAX_REPLY = 500  # characters of a reply shown to the room


def _theirs(conv: Conversation, room_id: str, world: World) -> bool:
    p = conv.pledge
    return (
        p is not None
        and p.room_id == room_id
        and room_id in world.directory.rooms
        and conv.state is not State.STOPPED
        and not world.was_stopped(conv.address)
    )


def room_message(conv: Conversation, msg: Inbound, world: World) -> Turn:
    """The coordinator's message, with how to answer; their replies go to the room."""
    about = json.loads(msg.payload or "{}")
    room_id = about.get("room", "")
    if not _theirs(conv, room_id, world):
        return Turn(conv)
    room = world.directory.rooms[room_id]
    conv = conv.evolve(relay_until=say.stamp(world) + RELAY_WINDOW, relay_room=room_id)
    return Turn(conv, [say.say(conv, "room_message", room=room.name, text=about.get("text", ""))])


def relay(conv: Conversation, msg: Inbound, world: World) -> Turn | None:
    """Their answer to a coordinator's message (text nothing else understood, while the
    window is open): passed on to the page of the room that wrote to them (they may have
    moved room since). None when it is not one."""
    # (A conversation from before the room was kept: their own room.)
    room_id = conv.relay_room or (conv.pledge.room_id if conv.pledge else "")
    room = world.directory.rooms.get(room_id)
    if not msg.text or msg.payload or room is None or say.stamp(world) >= conv.relay_until:
        return None
    reply = RelayReply(conv.address, room.id, conv.name, msg.text[:MAX_REPLY], say.stamp(world))
    return Turn(conv, [say.say(conv, "relay_passed", room=room.name)], [reply])


def move_ask(conv: Conversation, msg: Inbound, world: World) -> Turn:
    """The room has too many: offer the nearest room short of people now, or say nothing
    (none is short, or it is not their shift)."""
    room_id = json.loads(msg.payload or "{}").get("room", "")
    if conv.state is not State.DONE or not _theirs(conv, room_id, world):
        return Turn(conv)
    room = world.directory.rooms[room_id]
    turn = surplus.full(conv, world, say.text(conv, "move_intro", room=room.name))
    return turn if turn.conv and turn.conv.state is State.OFFER else Turn(conv)
