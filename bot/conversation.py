"""The state machine: which handler takes a message, in a declared order. Pure: I/O is in World.

```mermaid
stateDiagram-v2
    [*] --> ASK_LOCATION: first message (welcome, privacy, referral credit)
    ASK_LOCATION --> ASK_LOCATION: outcode / unknown / malformed postcode
    ASK_LOCATION --> ASK_SHIFTS: postcode or location pin
    ASK_SHIFTS --> ASK_SHIFTS: not understood / every room full
    ASK_SHIFTS --> STANDBY: STANDBY after every room was full
    STANDBY --> STANDBY: a place held for them (event) / NO passes it on
    STANDBY --> ASK_CONSENT: YES in time (the held place becomes theirs)
    STANDBY --> OFFER: other times
    STANDBY --> ASK_SHIFTS: LEAVE
    ASK_SHIFTS --> OFFER: shifts chosen, room ranked
    OFFER --> OFFER: NEXT / lost the race for the last place
    OFFER --> ASK_CONSENT: YES (place reserved atomically)
    OFFER --> DONE: YES, consent already asked before a CHANGE
    ASK_CONSENT --> DONE: YES / NO recorded, share message sent
    DONE --> DONE: status / on my way / VOTED / asked if on their way or voted (events)
    DONE --> DONE: their room's coordinator's message (event); a reply goes to the room
    DONE --> OFFER: the room has too many (event): the nearest short room
    DONE --> ASK_SHIFTS: CAN'T, or a no-show with no shift left (event)
    DONE --> OFFER: FULL on the day (a short room nearby; STAY goes back to DONE)
    state "any state" as ANY
    ANY --> ANY: HERE (checked in for the shift under way, or told why not)
    ANY --> DONE: YES to a room short of people nearby (asked on the day, an event)
    ANY --> STOPPED: STOP (pledge released, confirmed once)
    STOPPED --> ASK_LOCATION: START
    ANY --> ASK_LOCATION: CHANGE (pledge released)
    ANY --> [*]: DELETE (erased but for the suppression record)
```

Precedence: the first rule in ``RULES`` whose test matches takes the message.

1. a system event (``room_closed``, ``reminder``, ``attendance``, ``vote``,
   ``standby_offer``, ``backfill_ask``, ``room_message``, ``move_ask``): never typed by a
   person;
2. an organiser's ``/broadcast <text>``: a preview, sent only after YES;
3. an organiser's pending draft: YES sends it, anything else drops it and carries on;
4. someone with no conversation (new, or erased): ``handlers/stopped.unknown``;
5. STOPPED: silence until START (DELETE still works);
6. a command (STOP, START, HELP, CHANGE, DELETE), in any other state;
7. HERE (or its button), in any other state: checking in at the room (handlers/checkin.py);
8. YES or NO while a room short of people nearby has asked them (handlers/backfill.py);
   anything else carries on below, the ask still open until its shift ends or the bot
   asks them something else (an event that sends a message closes it);
9. the handler for the conversation's state (``STATES``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from bot.backfill import ASKABLE
from bot.model.message import Inbound, merged
from bot.model.person import Conversation, State
from bot.model.turn import Turn, World
from handlers import (
    ask_consent,
    ask_location,
    ask_shifts,
    attendance,
    backfill,
    broadcast_draft,
    checkin,
    commands,
    coordinator,
    done,
    offer,
    say,
    standby,
    stopped,
    vote,
)
from handlers.answers import says_here
from handlers.words import Command, command

Handler = Callable[[Conversation, Inbound, World], Turn]

# Things the system tells a conversation (never typed by a person).
EVENTS: dict[str, Handler] = {
    "room_closed": offer.room_closed,
    "reminder": done.reminder,
    "attendance": attendance.attendance,
    "vote": vote.vote,
    standby.STANDBY_EVENT: standby.offered,
    backfill.BACKFILL_EVENT: backfill.asked,
    coordinator.ROOM_MESSAGE: coordinator.room_message,
    coordinator.MOVE_ASK: coordinator.move_ask,
}

# Events whose message asks a question a YES or NO answers (a reminder on the day or a
# coordinator's message does not: an open ask from a room nearby stays open).
QUESTIONS = frozenset({"attendance", "vote", standby.STANDBY_EVENT, coordinator.MOVE_ASK})

STATES: dict[State, Handler] = {
    State.ASK_LOCATION: ask_location.ask_location,
    State.ASK_SHIFTS: ask_shifts.ask_shifts,
    State.OFFER: offer.offer,
    State.ASK_CONSENT: ask_consent.consent,
    State.DONE: done.done,
    State.STANDBY: standby.standby,
}


@dataclass(frozen=True)
class Seen:
    """One message as the rules see it: who (None: no conversation), what, which command."""

    conv: Conversation | None
    msg: Inbound
    world: World
    cmd: Command | None


def _event(s: Seen) -> Turn | None:
    if not s.msg.event:
        return None
    if s.conv is None:
        return Turn(None)
    turn = EVENTS[s.msg.event](s.conv, s.msg, s.world)
    if turn.replies and turn.conv and turn.conv.asked and s.msg.event in QUESTIONS:
        # What the bot has just asked them (on your way? voted? a move? a place?) is what
        # their next YES or NO answers: the room short of people has had its chance.
        turn = replace(turn, conv=turn.conv.evolve(asked=None, asked_until=0))
    return turn


def _new_draft(s: Seen) -> Turn | None:
    text = broadcast_draft.draft_text(s.msg, s.world)
    return None if text is None else broadcast_draft.preview(s.conv, s.msg, text, s.world)


def _pending_draft(s: Seen) -> Turn | None:
    if s.conv is None or s.conv.draft is None:
        return None
    sent = broadcast_draft.confirm(s.conv, s.msg, s.world)
    if sent:
        return sent
    dropped = handle(s.conv.evolve(draft=None), s.msg, s.world)
    notice = say.say(s.conv, "broadcast_dropped")
    return Turn(dropped.conv, [notice, *dropped.replies], dropped.effects)


def _unknown(s: Seen) -> Turn | None:
    return stopped.unknown(s.msg, s.world, s.cmd) if s.conv is None else None


def _stopped(s: Seen) -> Turn | None:
    if s.conv is None or s.conv.state is not State.STOPPED:
        return None
    return stopped.stopped(s.conv, s.msg, s.world, s.cmd)


def _command(s: Seen) -> Turn | None:
    if s.cmd is None or s.conv is None:
        return None
    return commands.FALLBACKS[s.cmd](s.conv, s.msg, s.world)


def _here(s: Seen) -> Turn | None:
    if s.conv is None or not (s.msg.payload == "here" or says_here(s.msg.text)):
        return None
    return checkin.here(s.conv, s.msg, s.world)


def _asked(s: Seen) -> Turn | None:
    if s.conv is None or s.conv.asked is None:
        return None
    # The ask lapses when its shift is over, or once they are elsewhere in the journey (a
    # CHANGE, STOP and START since): their YES then answers what is in front of them.
    lapsed = s.world.now().timestamp() >= s.conv.asked_until
    if lapsed or s.conv.state not in ASKABLE:
        return handle(s.conv.evolve(asked=None, asked_until=0), s.msg, s.world)
    return backfill.answer(s.conv, s.msg, s.world)


def _state(s: Seen) -> Turn | None:
    assert s.conv is not None
    return STATES[s.conv.state](s.conv, s.msg, s.world)


# The declared precedence (see the module docstring): each rule answers or passes (None).
RULES: tuple[Callable[[Seen], Turn | None], ...] = (
    _event,
    _new_draft,
    _pending_draft,
    _unknown,
    _stopped,
    _command,
    _here,
    _asked,
    _state,
)


def handle(conv: Conversation | None, msg: Inbound, world: World) -> Turn:
    """One turn: the new conversation (None when erased) and the replies."""
    cmd = command(msg.text) if msg.text else None
    if msg.text.startswith("/start"):
        cmd = Command.START
    seen = Seen(conv, msg, world, cmd)
    for rule in RULES:
        if (turn := rule(seen)) is not None:
            if msg.name and turn.conv is not None and turn.conv.name != msg.name:
                turn = replace(turn, conv=turn.conv.evolve(name=msg.name))  # for their room
            return replace(turn, replies=merged(turn.replies))
    raise AssertionError("the last rule always answers")
