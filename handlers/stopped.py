"""STOPPED, and people we keep no conversation for: silence until START, DELETE always works."""

from __future__ import annotations

from bot.model.message import Inbound
from bot.model.person import Conversation
from bot.model.turn import Erase, SetStopped, Turn, World
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
        stub = Conversation(msg.address)
        reply = say.say(stub, "deleted", id_kind=say.text(stub, "id_kind"))
        return Turn(None, [reply], [Erase(msg.address)])
    if cmd is Command.STOP:  # (the web records a STOP the moment it arrives: confirm it)
        reply = say.say(Conversation(msg.address), "stop_confirm")
        return Turn(None, [reply], [SetStopped(msg.address, True)])
    if world.was_stopped(msg.address):
        if cmd is not Command.START:
            return Turn(None)  # said STOP before being erased: silent until START
        turn = new.first_contact(msg, world)
        turn.effects.append(SetStopped(msg.address, False))
        return turn
    return new.first_contact(msg, world)
