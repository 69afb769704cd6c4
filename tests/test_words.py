"""STOP and DELETE however people write them, and never for a message that only mentions them.

The tables are the measure: false positives (an ordinary message taken as STOP or DELETE)
and false negatives (a request missed) are counted, and both must be 0. README records it.
"""

from __future__ import annotations

import pytest

from handlers.words import Command, command

STOPS = [
    "STOP", "stop", " Stop ", "STOP STOP", "stop stop stop", "ＳＴＯＰ", "ｓｔｏｐ", "Stop.",
    "STOP!!!", "stop please", "please stop", "pls stop", "just stop", "JUST STOP", "stop it",
    "stop it now", "stop now please", "Stop messaging me", "stop texting me",
    "Please stop texting me!", "stop sending me messages", "stop contacting me",
    "stop all messages", "stop this", "stop the messages", "STOPALL", "stop all",
    "Unsubscribe", "unsubscribe me", "UNSUBSCRIBE please", "cancel", "CANCEL", "end", "quit",
    "opt out", "opt-out", "optout", "opt me out", "I want to opt out",
    "i want to unsubscribe", "/stop", "/stop@pollday_bot", "leave me alone",
    "don't message me", "dont text me", "do not contact me", "no more messages",
    "take me off your list", "remove me from your list", "STOPIO", "stopio", "Stopio plis",
    "stop, thanks", "ok stop", "stop now!", "stop right now", "I said stop", "Stop. Thank you.",
    "stop x", "go away",
]  # fmt: skip
DELETES = [
    "DELETE", "delete", "Delete me", "delete my data", "Delete my details", "delete my info",
    "delete my number", "delete my account", "delete everything", "delete all my data",
    "erase", "erase me", "Erase my data", "please erase my details", "forget me",
    "forget my details", "remove my data", "remove my details", "wipe my data",
    "DILEU", "dileu", "Dileu fy manylion", "delete my data please", "just delete me",
    "ＤＥＬＥＴＥ", "delete delete", "delete it all", "delete me now", "erase everything",
    "please delete all my details",
]  # fmt: skip
ORDINARY = [
    "which bus stop?", "I'm at the bus stop, N7 6AA", "stop by the shop", "end of the road",
    "weekend", "the stop is near N7 6AA", "can I stop by later?", "don't stop!",
    "I can't stop now, busy", "what time do you stop?", "when does the shift end?",
    "I'll be there till the end", "full stop", "nonstop", "stopwatch", "bus stop N19 4LU",
    "the 43 stops outside", "stop and search", "stop press: I'm free all day",
    "is there a stop near the hall?", "where do I stop for the hall", "can you stop at 5",
    "I have to stop at 3pm", "stop smoking", "tram stop", "stopped by yesterday",
    "I deleted your last message by mistake", "how do I delete a message?",
    "delete the last message", "can I delete my shift?", "oops delete that", "deleted",
    "I'll delete the app later", "erase the board", "I forgot", "forget it, morning is fine",
    "don't forget me", "remove the evening shift", "remove morning", "wipe the table",
    "cancel the evening and do morning", "can I cancel my shift?", "end of story",
    "I'll quit my job", "quite", "opt for morning", "unsure", "descend", "Stoppage time",
    "end date?", "cancelled train, running late", "please help", "help", "yes",
    "N7 6AA", "1 and 3", "morning", "thank you", "hi", "what do I do at the hall?",
    "I want to help", "start", "stop over in Leeds",
]  # fmt: skip


def test_the_tables_are_big_enough():
    assert len(STOPS) + len(DELETES) >= 60 and len(ORDINARY) >= 60


def _counts() -> tuple[list[str], list[str]]:
    missed = [t for t in STOPS if command(t) is not Command.STOP]
    missed += [t for t in DELETES if command(t) is not Command.DELETE]
    wrong = [t for t in ORDINARY if command(t) in (Command.STOP, Command.DELETE)]
    return missed, wrong


def test_no_false_negatives_and_no_false_positives():
    missed, wrong = _counts()
    assert (missed, wrong) == ([], []), f"false negatives {missed}, false positives {wrong}"


@pytest.mark.parametrize("text", ["start", "START", "unstop", "resume"])
def test_start_is_not_an_opt_out(text):
    assert command(text) is Command.START
