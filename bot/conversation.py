"""The state machine: fallbacks first, then one handler per state. Pure: I/O is in World.

```mermaid
stateDiagram-v2
    [*] --> ASK_LOCATION: first message (welcome, privacy, referral credit)
    ASK_LOCATION --> ASK_LOCATION: outcode / unknown / malformed postcode
    ASK_LOCATION --> ASK_SHIFTS: postcode or location pin
    ASK_SHIFTS --> ASK_SHIFTS: not understood / every room full
    ASK_SHIFTS --> OFFER: shifts chosen, room ranked
    OFFER --> OFFER: NEXT / lost the race for the last place
    OFFER --> ASK_CONSENT: YES (place reserved atomically)
    OFFER --> DONE: YES, consent already asked before a CHANGE
    ASK_CONSENT --> DONE: YES / NO recorded, share message sent
    DONE --> DONE: status
    state "any state" as ANY
    ANY --> STOPPED: STOP (pledge released, confirmed once)
    STOPPED --> ASK_LOCATION: START
    ANY --> ASK_LOCATION: CHANGE (pledge released)
    ANY --> [*]: DELETE (erased but for the suppression record)
```
"""

from __future__ import annotations

from collections.abc import Callable

from bot.model import Inbound
from bot.state import Conversation, State, Turn, World
from handlers import availability, commands, location, offer, organiser, say, share, start
from handlers.words import Command, command

Handler = Callable[[Conversation, Inbound, World], Turn]

# Things the system tells a conversation (never typed by a person).
EVENTS: dict[str, Handler] = {"room_closed": offer.room_closed}

STATES: dict[State, Handler] = {
    State.ASK_LOCATION: location.ask_location,
    State.ASK_SHIFTS: availability.ask_shifts,
    State.OFFER: offer.offer,
    State.ASK_CONSENT: share.consent,
    State.DONE: share.done,
}


def handle(conv: Conversation | None, msg: Inbound, world: World) -> Turn:
    """One turn: the new conversation (None when erased) and the replies."""
    if msg.event:
        return EVENTS[msg.event](conv, msg, world) if conv else Turn(None)
    if (text := organiser.draft_text(msg, world)) is not None:
        return organiser.preview(conv, msg, text, world)
    if conv is not None and conv.draft is not None:
        sent = organiser.confirm(conv, msg, world)
        if sent:
            return sent
        dropped = handle(conv.evolve(draft=None), msg, world)
        notice = say.say(conv, "broadcast_dropped")
        return Turn(dropped.conv, [notice, *dropped.replies])
    cmd = command(msg.text) if msg.text else None
    if msg.text.startswith("/start"):
        cmd = Command.START
    if conv is None:
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
        return start.first_contact(msg, world)
    if conv.state is State.STOPPED:
        if cmd is Command.START:
            return commands.resume(conv, msg, world)
        if cmd is Command.DELETE:
            return commands.delete(conv, msg, world)
        return Turn(conv)  # silence after STOP
    if cmd is not None:
        return commands.FALLBACKS[cmd](conv, msg, world)
    return STATES[conv.state](conv, msg, world)
