"""STOPPED, and people we keep no conversation for: silence until START, DELETE always works."""

from __future__ import annotations

from bot.model.message import Inbound
from bot.model.person import Conversation
from bot.model.turn import Turn, World
from handlers import commands, new, say
from handlers.words import Command


def stopped(conv: Conversation, msg: Inbound, world: World, cmd: Command | None) -> Turn:
    """STOPPED: START resumes, DELETE erases, anything else gets no answer at all."""
    if cmd is Command.START:
        return commands.resume(conv, msg, world)
    if cmd is Command.DELETE:
        return commands.delete(conv, msg, world)
    return Turn(conv)


def unknown(msg: Inbound, world: World, cmd: Command | None) -> Turn:
    """Someone with no conversation (new, or erased): DELETE confirms, a suppressed address
    stays silent until START, STOP is recorded, anything else is a first contact."""
    if cmd is Command.DELETE:
        world.erase(msg.address)
        stub = Conversation(msg.address)
        return Turn(None, [say.say(stub, "deleted", id_kind=say.text(stub, "id_kind"))])
    if world.was_stopped(msg.address):
        if cmd is not Command.START:
            return Turn(None)  # said STOP before being erased: silent until START
        world.set_stopped(msg.address, False)
    elif cmd is Command.STOP:
        world.set_stopped(msg.address, True)
        return Turn(None, [say.say(Conversation(msg.address), "stop_confirm")])
    return new.first_contact(msg, world)
