"""Understanding what people type: commands, yes/no, and shift choices."""

from __future__ import annotations

import re
from collections.abc import Sequence
from enum import StrEnum

from bot.campaign import Shift


class Command(StrEnum):
    """Words that work in every state."""

    STOP = "stop"
    START = "start"
    HELP = "help"
    CHANGE = "change"
    DELETE = "delete"


# Twilio's own opt-out words, which the webhook still receives, plus plain requests.
STOP_WORDS = {"stop", "stopall", "unsubscribe", "cancel", "end", "quit", "optout", "opt out"}
STOP_PHRASE = re.compile(
    r"^(please |pls )?(stop|unsubscribe|quit|cancel|end)"
    r"( (all|it|this|that|now|please|messaging|messages|message|texting|texts|sending|"
    r"contacting|me|us|them|from|the|bot|you|your|these|spam))+$"
)
OTHER_STOPS = {
    "leave me alone",
    "dont message me",
    "dont text me",
    "do not message me",
    "do not text me",
    "do not contact me",
    "dont contact me",
    "no more messages",
    "remove me",
    "take me off your list",
    "unsubscribe me",
}
COMMANDS = {
    "start": Command.START,
    "unstop": Command.START,
    "resume": Command.START,
    "help": Command.HELP,
    "info": Command.HELP,
    "change": Command.CHANGE,
    "restart": Command.CHANGE,
    "start again": Command.CHANGE,
    "start over": Command.CHANGE,
    "delete": Command.DELETE,
    "delete me": Command.DELETE,
    "delete my data": Command.DELETE,
    "erase": Command.DELETE,
    "forget me": Command.DELETE,
}
YES = {"yes", "y", "yeah", "yep", "yup", "ok", "okay", "sure", "confirm", "go", "yes please"}
NO = {"no", "n", "nope", "no thanks", "no thank you", "nah"}
NEXT = {"next", "another", "other", "next option", "no", "n", "skip", "something else"}
ALL_DAY = {"all", "all day", "any", "anytime", "any time", "whole day", "all of them", "allday"}
FILLER = {"and", "or", "the", "i", "im", "can", "do", "free", "shift", "shifts", "please", "in"}


def normalise(text: str) -> str:
    """Lower case, punctuation to spaces, apostrophes dropped, spaces collapsed."""
    text = text.lower().replace("'", "").replace("’", "")
    return " ".join(re.sub(r"[^\w]+", " ", text).split())


def command(text: str) -> Command | None:
    """The global command in ``text``, if that is all it says (``/stop`` counts too)."""
    words = normalise(text.split("@", 1)[0] if text.startswith("/") else text)
    if words in STOP_WORDS or words in OTHER_STOPS or STOP_PHRASE.match(words):
        return Command.STOP
    return COMMANDS.get(words)


def is_yes(text: str) -> bool:
    """An affirmative answer."""
    return normalise(text) in YES


def is_no(text: str) -> bool:
    """A negative answer."""
    return normalise(text) in NO


def is_next(text: str) -> bool:
    """A request for the next option."""
    return normalise(text) in NEXT


def parse_shifts(text: str, shifts: Sequence[Shift]) -> tuple[str, ...] | None:
    """Shift ids chosen in ``text`` ("1 and 3", "morning, evening", "all day"), in config
    order; None when nothing in it names a shift or a word is not understood."""
    words = normalise(text)
    if words in ALL_DAY:
        return tuple(s.id for s in shifts)
    chosen: set[str] = set()
    for word in words.split():
        if word.isdigit() and 1 <= int(word) <= len(shifts):
            chosen.add(shifts[int(word) - 1].id)
        elif match := [s.id for s in shifts if word == s.id or word in normalise(s.label).split()]:
            chosen.update(match)
        elif word not in FILLER:
            return None
    return tuple(s.id for s in shifts if s.id in chosen) or None
