"""Understanding what people type: commands, yes/no, and shift choices."""

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum


class Command(StrEnum):
    """Words that work in every state."""

    STOP = "stop"
    START = "start"
    HELP = "help"
    CHANGE = "change"
    DELETE = "delete"


# Opting out and erasure are recognised generously (however people write them) but only
# when that is all a message says: "which bus stop?" is a question, not a STOP.
# Twilio's own opt-out words (which the webhook still receives), and Welsh.
STOP_WORDS = {"stop", "stopall", "unsubscribe", "cancel", "end", "quit", "optout", "stopio",
              "unsub", "halt"}  # fmt: skip
STOP_PHRASE = re.compile(
    r"^(stop|unsubscribe|quit|cancel|end|stopio)"
    r"( (all|it|this|that|messaging|messages|message|texting|texts|text|sending|contacting|"
    r"me|us|them|from|the|bot|you|your|these|spam|everything|now|right|immediately|asap))+$"
)
OTHER_STOPS = {
    "leave me alone",
    "dont message me",
    "dont text me",
    "dont contact me",
    "do not message me",
    "do not text me",
    "do not contact me",
    "dont message me again",
    "dont text me again",
    "no more messages",
    "no more texts",
    "no more",
    "remove me",
    "remove me from your list",
    "take me off your list",
    "take me off",
    "unsubscribe me",
    "opt out",
    "opt me out",
    "i want to opt out",
    "i want to unsubscribe",
    "go away",
    "peidiwch",  # Welsh: don't
}
# DELETE: an erasing verb and, optionally, what to erase.
ERASE_VERBS = {"delete", "erase", "remove", "forget", "wipe", "dileu"}
ERASE_OBJECTS = {"", "me", "it", "it all", "all", "everything", "my data", "my details", "my info",
                 "my information", "my number", "my account", "my personal data",
                 "all my data", "all my details", "everything about me", "all of it",
                 "my data please", "fy manylion", "fy nata", "fi"}  # fmt: skip
# Politeness and emphasis around a request, which do not change what it asks.
AROUND = {"please", "pls", "plz", "just", "now", "thanks", "thank", "you", "ok", "okay", "i",
          "said", "want", "to", "can", "could", "would", "like", "kindly", "right", "away",
          "immediately", "asap", "yes", "hi", "hello", "already", "again", "x", "cheers",
          "diolch", "plis", "fine", "sorry", "u", "ta"}  # fmt: skip
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
    "new postcode": Command.CHANGE,
    "different postcode": Command.CHANGE,
}


def normalise(text: str) -> str:
    """Any width and case folded (NFKC: ＳＴＯＰ is STOP), punctuation to spaces,
    apostrophes dropped, spaces collapsed."""
    text = unicodedata.normalize("NFKC", text).casefold().replace("'", "").replace("’", "")
    return " ".join(re.sub(r"[^\w]+", " ", text).split())


def command(text: str) -> Command | None:
    """The global command in ``text``, if that is all it says (``/stop`` counts too)."""
    words = normalise(text.split("@", 1)[0] if text.lstrip().startswith("/") else text)
    if _is_stop(words):
        return Command.STOP
    if _is_erase(words):
        return Command.DELETE
    return COMMANDS.get(words)


def _request(words: str) -> str:
    """What a message asks once the politeness around it is gone: "just stop it please" is
    "stop it"; repeats collapse ("stop stop")."""
    kept = [w for w in words.split() if w not in AROUND]
    deduped = [w for i, w in enumerate(kept) if i == 0 or w != kept[i - 1]]
    return " ".join(deduped)


def _is_stop(words: str) -> bool:
    request = _request(words)
    return bool(request) and (
        request in STOP_WORDS
        or words in OTHER_STOPS
        or request in OTHER_STOPS
        or bool(STOP_PHRASE.match(request))
    )


def _is_erase(words: str) -> bool:
    parts = _request(words).split(" ", 1)
    verb, rest = parts[0], parts[1] if len(parts) > 1 else ""
    rest = rest.removesuffix(" now").removesuffix(" please")
    return verb in ERASE_VERBS and rest in ERASE_OBJECTS
