"""Organisers broadcasting from chat: ``/broadcast <text>`` previews, YES sends."""

from __future__ import annotations

import re

from bot.broadcasts import MAX_TEXT, render, visible
from bot.model.message import Inbound
from bot.model.person import Conversation, State
from bot.model.turn import StartBroadcast, Turn, World
from handlers import say
from handlers.answers import says_yes

COMMAND = re.compile(r"^\s*(?:/broadcast(?:@\w+)?|broadcast)\s+(\S.*)$", re.S | re.I)


def draft_text(msg: Inbound, world: World) -> str | None:
    """The broadcast an organiser is asking for, if this message is one."""
    if msg.address not in world.campaign.organisers:
        return None
    match = COMMAND.match(msg.text)
    return match[1].strip() if match else None


def preview(conv: Conversation | None, msg: Inbound, text: str, world: World) -> Turn:
    """Show what would be sent and to how many; nothing goes until they say YES."""
    conv = conv or Conversation(msg.address, State.ASK_LOCATION)
    if len(text) > MAX_TEXT:  # a cut-off message would lose the imprint at its end
        return Turn(conv, [say.say(conv, "broadcast_too_long", max=MAX_TEXT, length=len(text))])
    if not visible(text):
        return Turn(conv, [say.say(conv, "broadcast_invisible")])
    count = world.broadcast_size()
    if not count:
        return Turn(conv, [say.say(conv, "broadcast_nobody")])
    sample = render(text, world.campaign)
    reply = say.say(conv, "broadcast_preview", count=count, text=sample)
    return Turn(conv.evolve(draft=text), [reply])


def confirm(conv: Conversation, msg: Inbound, world: World) -> Turn | None:
    """YES sends the drafted broadcast; anything else drops it (and is then handled as usual:
    None tells the caller to carry on)."""
    assert conv.draft is not None
    if msg.payload == "yes" or says_yes(msg.text):
        # The worker starts it and tells them its id and how many it goes to.
        return Turn(conv.evolve(draft=None), [], [StartBroadcast(conv.draft)])
    return None
