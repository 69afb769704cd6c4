"""What people mean by their answers to the shifts question and to an offer, written as
they write them: "mornings", "after work", "from 4", "1-3", "not evenings", "yes thanks 👍",
"too far", "can't make it".

Pure functions over text and the campaign's shifts. Times of day are read as clock windows
and matched to whichever configured shifts they overlap, so they work for any shift
pattern. Tables: tests/test_answers.py; the hit rate on 177 replies written before this was
tuned: tests/test_replies_eval.py.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import time
from typing import Literal

from bot.campaign import Shift
from handlers.words import normalise

DAY_END = 24 * 60  # minutes

# Times of day as people say them: (from, to) in minutes after midnight.
WINDOWS: dict[str, tuple[int, int]] = {
    "morning": (0, 12 * 60), "am": (0, 12 * 60), "early": (0, 10 * 60),
    "first thing": (0, 9 * 60), "before work": (0, 9 * 60), "breakfast": (0, 10 * 60),
    "lunch": (11 * 60 + 30, 14 * 60), "lunchtime": (11 * 60 + 30, 14 * 60),
    "afternoon": (12 * 60, 17 * 60), "arvo": (12 * 60, 17 * 60), "pm": (12 * 60, DAY_END),
    "after school": (15 * 60, DAY_END), "school hours": (9 * 60, 15 * 60),
    "after the school run": (9 * 60 + 30, DAY_END), "after school run": (9 * 60 + 30, DAY_END),
    "daytime": (7 * 60, 17 * 60), "during the day": (7 * 60, 17 * 60), "day": (7 * 60, 17 * 60),
    "evening": (17 * 60, DAY_END), "eve": (17 * 60, DAY_END), "tonight": (17 * 60, DAY_END),
    "after work": (17 * 60 + 30, DAY_END), "late": (18 * 60, DAY_END),
    "night": (18 * 60, DAY_END), "polls close": (17 * 60, DAY_END), "close": (17 * 60, DAY_END),
}  # fmt: skip
# Whole answers meaning every shift, once politeness and filler are gone.
EVERY = {"all", "all day", "any", "anytime", "any time", "whenever", "whenever you need me",
         "all of them", "all three", "whole day", "all day long", "everything", "any of them",
         "all shifts", "all day any time", "as long as you need", "allday", "whole"}  # fmt: skip
FILLER = {"and", "or", "the", "i", "im", "can", "could", "do", "free", "shift", "shifts",
          "please", "pls", "in", "only", "just", "a", "thanks", "ok", "okay", "happy", "to",
          "id", "like", "be", "available", "prefer", "would", "on", "is", "best", "great",
          "fine", "for", "me", "its", "onwards", "ish", "then", "either",
          "both", "you", "need", "long", "polling", "day", "of", "them", "three"}  # fmt: skip
NOT = {"not", "no", "except", "but", "apart", "without"}
FROM = {"from", "after", "at", "since", "starting"}
UNTIL = {"till", "til", "until", "to", "before", "upto"}
CLOCK = re.compile(r"^(\d{1,2})(?:h(\d{2}))?(am|pm)?$")  # "10h30am" is "10:30am" (see _words)


@dataclass(frozen=True)
class Unsure:
    """An answer that could mean more than one thing (a bare "7" with a from or an at):
    ``hour`` to ask about."""

    hour: int


def read_shift_reply(
    text: str, payload: str | None, shifts: Sequence[Shift]
) -> tuple[str, ...] | Unsure | None:
    """The shifts chosen by a button (payload ``shift:<id>`` or ``shift:all``: exactly a
    shift, or all; an old button may name none) or else by the words of ``text``."""
    pressed = payload.removeprefix("shift:") if payload else None
    if pressed is None:
        return read_shifts(text, shifts)
    ids = tuple(s.id for s in shifts)
    return ids if pressed == "all" else (pressed,) if pressed in ids else None


def read_shifts(text: str, shifts: Sequence[Shift]) -> tuple[str, ...] | Unsure | None:
    """The shift ids ``text`` chooses, in config order; Unsure when it names an hour that
    could be morning or evening; None when it says nothing about times we can use."""
    words = _words(text)
    if not words:
        return None
    numbered = _shift_numbers(words, len(shifts))
    if numbered is not None:
        return tuple(shifts[i - 1].id for i in sorted(numbered))
    if " ".join(w for w in words if w not in FILLER) in EVERY or " ".join(words) in EVERY:
        return tuple(s.id for s in shifts)
    negated = next((i for i, w in enumerate(words) if w in NOT), None)
    if negated is not None and negated + 1 < len(words):
        excluded = _windows(words[negated + 1 :], shifts)
        if isinstance(excluded, set) and excluded:
            return tuple(s.id for s in shifts if s.id not in excluded) or None
    chosen = _windows(words, shifts)
    if isinstance(chosen, Unsure) or not chosen:
        return chosen or None
    return tuple(s.id for s in shifts if s.id in chosen)


def _words(text: str) -> list[str]:
    """Normalised words, with ranges ("1-3", "9 to 12") and "&" or "+" kept as words."""
    text = re.sub(
        r"\b(\d{1,2})[:.](\d{2})(?!\d)", r"\1h\2", text
    )  # a clock time survives normalise
    text = re.sub(r"(\d)\s*[-–]\s*(\d)", r"\1 to \2", text)
    text = text.replace("&", " and ").replace("+", " and ")
    text = re.sub(r"(\d)\s*(am|pm)\b", r"\1\2", text, flags=re.IGNORECASE)
    return [_singular(w) for w in normalise(text).split()]


def _singular(word: str) -> str:
    """ "mornings" is "morning"; "evenings" is "evening"; not "yes" or "pls"."""
    return word[:-1] if len(word) > 4 and word.endswith("s") and not word.endswith("ss") else word


def _shift_numbers(words: list[str], n: int) -> set[int] | None:
    """Shift numbers ("1 and 3", "1 to 3"), if that is all the answer is."""
    kept = [w for w in words if w not in FILLER]
    if not kept or not all(w.isdigit() or w in UNTIL for w in kept):
        return None
    numbers = [int(w) for w in kept if w.isdigit()]
    if not numbers or not all(1 <= x <= n for x in numbers):
        return None
    if len(numbers) == 2 and any(w in UNTIL for w in words):  # "1 to 3", "1-3"
        low, high = sorted(numbers)
        return set(range(low, high + 1))
    return set(numbers)


def _windows(words: list[str], shifts: Sequence[Shift]) -> set[str] | Unsure:
    """The shifts that the times of day in ``words`` overlap."""
    chosen: set[str] = set()
    text = " ".join(words)
    for phrase, (start, end) in _PHRASES:
        if re.search(rf"\b{phrase}\b", text):
            if any(w in UNTIL for w in words[: _index(words, phrase)]) and "close" not in phrase:
                start, end = 0, start  # "till lunch": up to when it starts
            chosen |= _overlapping(shifts, start, end)
            text = re.sub(rf"\b{phrase}\b", " ", text)
    for shift in shifts:  # the campaign's own names for its shifts ("Early", "Late")
        names = {shift.id.lower(), *normalise(shift.label).split()}
        if any(w in names or (len(w) >= 3 and any(n.startswith(w) for n in names))
               for w in text.split() if w not in FILLER | FROM | UNTIL | NOT):  # fmt: skip
            chosen.add(shift.id)
    clock = _clock_window(words)
    if isinstance(clock, Unsure):
        return clock
    if clock:
        chosen |= _overlapping(shifts, *clock)
    return chosen


# WINDOWS as the words are read (singular), longest first: "after work" before "work".
_PHRASES = sorted(
    ((" ".join(_singular(w) for w in k.split()), v) for k, v in WINDOWS.items()),
    key=lambda kv: -len(kv[0]),
)


def _index(words: list[str], phrase: str) -> int:
    first = phrase.split()[0]
    return words.index(first) if first in words else 0


def _overlapping(shifts: Sequence[Shift], start: int, end: int) -> set[str]:
    """Shifts overlapping [start, end), or containing ``start`` when it is a moment."""
    found = set()
    for s in shifts:
        a, b = _minutes(s.start), _minutes(s.end) or DAY_END
        if (end > start and a < end and start < b) or (end == start and a <= start < b):
            found.add(s.id)
    return found


def _minutes(t: time) -> int:
    return t.hour * 60 + t.minute


def _clock_window(words: list[str]) -> tuple[int, int] | Unsure | None:
    """A window from clock times: "from 4", "after 6pm", "7 till 12", "7am"."""
    times = [(i, m) for i, w in enumerate(words) if (m := CLOCK.match(w))]
    if not times or len(times) > 2:
        return None
    hours: list[int] = []
    for i, m in times:
        hour, minute, half = int(m[1]), int(m[2] or 0), m[3]
        if hour > 23 or minute > 59:
            return None
        if half == "pm" and hour < 12:
            hour += 12
        elif half is None and 1 <= hour <= 6:
            hour += 12  # nobody means 4 in the morning on polling day
        elif half is None and 7 <= hour <= 11 and len(times) == 1:
            cue = words[i - 1] if i else ""
            if cue in FROM or cue in UNTIL:
                return Unsure(hour)  # 7 in the morning, or 7 in the evening?
        hours.append(hour * 60 + minute)
    first = times[0][0]
    if len(hours) == 2:
        return (hours[0], hours[1]) if hours[1] > hours[0] else None
    before = words[first - 1] if first else ""
    if before in UNTIL:
        return (0, hours[0])
    if before in FROM or (first + 1 < len(words) and words[first + 1] in {"onwards", "on"}):
        return (hours[0], DAY_END)
    return (hours[0], hours[0]) if times[0][1][3] else None


OfferAnswer = Literal["yes", "next", "far", "times"]
THUMBS_UP, THUMBS_DOWN = ("👍", "✅", "👌", "🙌", "✔"), ("👎", "❌")
YES_WORDS = {"yes", "y", "yeah", "yea", "yep", "yup", "ok", "okay", "sure", "confirm", "fine",
             "great", "perfect", "lovely", "brilliant", "excellent", "absolutely", "definitely",
             "deal", "done", "aye", "ya", "yh", "k", "kk", "cool", "grand", "smashing",
             "go"}  # fmt: skip
YES_PHRASES = ("sounds good", "that works", "works for me", "count me in", "ill be there",
               "book me in", "go on", "of course", "why not", "happy to", "sign me up",
               "put me down", "thats fine", "that fine", "sure thing", "see you there")  # fmt: skip
NO_WORDS = {"no", "n", "nope", "nah"}
NEXT_WORDS = NO_WORDS | {"next", "another", "skip", "different", "else", "other", "option"}
NEXT_PHRASES = ("something else", "somewhere else", "not that one", "other option",
                "different room", "different one", "another one", "another room")  # fmt: skip
FAR = ("far", "miles away", "closer", "nearer", "long way", "too much of a trek", "distance")
TIMES = ("cant", "cannot", "times", "another time", "different time", "other time",
         "not then", "wrong time", "busy then", "other shift", "different shift")  # fmt: skip


def _has(words: str, phrases: Sequence[str]) -> bool:
    return any(re.search(rf"\b{p}\b", words) for p in phrases)


def says_yes(text: str) -> bool:
    """Yes, as people write it: "yes", "yes thanks", "sounds good", 👍 (not "no 👍")."""
    words = normalise(text)
    if says_no(text):
        return False
    thumbs = any(mark in text for mark in THUMBS_UP)
    return thumbs or bool(words) and (words.split()[0] in YES_WORDS or _has(words, YES_PHRASES))


def says_no(text: str) -> bool:
    """No, as people write it: "no", "no thanks", "nah", 👎."""
    words = normalise(text)
    if not words:
        return any(mark in text for mark in THUMBS_DOWN)
    return words.split()[0] in NO_WORDS


def read_offer(text: str) -> OfferAnswer | None:
    """What someone means by their answer to an offer; None if it is none of these.
    (CHANGE, "start again" and the like are global commands: bot/conversation.py takes
    them before an offer sees them.)"""
    stripped = text.strip()
    if stripped == "1":
        return "yes"
    if stripped == "2":
        return "next"
    words = normalise(text)
    if _has(words, FAR):
        return "far"
    if _has(words, TIMES):
        return "times"
    if says_no(text) or _has(words, NEXT_PHRASES) or (words and words.split()[0] in NEXT_WORDS):
        return "next"
    if says_yes(text):
        return "yes"
    return None


StillComing = Literal["yes", "cant", "no"]
# Saying they can no longer come, in so many words: each frees the place at once. A "can't"
# about anything else ("can't find the room") is not one of them.
CANT_PHRASES = ("cant make it", "cant come", "cant do it", "cant go", "cant attend",
                "cant help", "cant anymore", "cannot make it", "cannot come", "cannot attend",
                "not coming", "wont make it", "wont be coming", "wont be able to come",
                "not able to come", "not able to make it", "unable to come", "unable to make it",
                "unable to attend", "no longer coming", "no longer able", "no longer available",
                "drop out", "pull out", "something came up", "not going to make it",
                "not gonna make it")  # fmt: skip
CANT_ALONE = {"cant", "cannot", "sorry cant", "sorry cannot", "i cant", "sorry i cant",
              "im afraid i cant", "afraid not", "cant sorry"}  # fmt: skip
COMING_PHRASES = ("still coming", "on my way", "see you", "cant wait", "still on")


def read_still_coming(text: str) -> StillComing | None:
    """Someone's answer to "still coming?": yes (keep the place), cant (free it), or a bare
    no, which is asked about before anything is freed (it may answer something else)."""
    words = normalise(text)
    if _has(words, COMING_PHRASES):
        return "yes"
    if words in CANT_ALONE or _has(words, CANT_PHRASES):
        return "cant"
    if says_no(text):
        return "no"
    return "yes" if says_yes(text) else None


# Asking to wait for a place when every room is full, and asking to stop waiting.
STANDBY_PHRASES = ("standby", "stand by", "waiting list", "wait list", "waitlist",
                   "reserve list", "wait for a place", "put me down", "let me know if")  # fmt: skip
LEAVE_PHRASES = ("off the list", "off standby", "come off", "no longer wait", "dont wait",
                 "not waiting", "stop waiting", "leave standby", "leave the list")  # fmt: skip
LEAVE_ALONE = {"leave", "leave please", "off", "please leave", "leave it"}  # "leave at 5" is not


def asks_for_standby(text: str) -> bool:
    """They want to wait for a place ("standby", "put me on the waiting list")."""
    return _has(normalise(text), STANDBY_PHRASES)


def asks_to_leave(text: str) -> bool:
    """They want off the standby list ("leave", "no longer waiting")."""
    words = normalise(text)
    return words in LEAVE_ALONE or _has(words, LEAVE_PHRASES)


# Checking in at the room on polling day, when that is all a message says.
HERE_PHRASES = {"here", "im here", "i am here", "here now", "arrived", "ive arrived",
                "i have arrived", "just arrived", "checking in", "check in", "check me in",
                "checked in", "made it", "im at the room", "at the room", "we are here",
                "were here", "here at the room", "reporting for duty", "i made it"}  # fmt: skip
HERE_AROUND = {"hi", "hello", "ok", "okay", "thanks", "now", "yes", "just", "all", "hey",
               "morning", "evening", "afternoon", "good", "and", "ready"}  # fmt: skip


def says_here(text: str) -> bool:
    """They have arrived ("HERE", "I'm here!", "just arrived 👋"), and nothing else."""
    words = normalise(text)
    kept = " ".join(w for w in words.split() if w not in HERE_AROUND)
    return words in HERE_PHRASES or kept in HERE_PHRASES


# At the room on the day: more people than it needs, and staying put after all.
FULL_PHRASES = {"full", "its full", "room is full", "were full", "we are full", "too many",
                "too many people", "too many here", "too many of us", "theres too many",
                "there are too many", "too many people here", "no room here", "packed",
                "its packed", "overcrowded", "nothing to do", "not needed here"}  # fmt: skip
STAY_PHRASES = {"stay", "ill stay", "i will stay", "staying", "stay here", "no ill stay",
                "ill stay here", "no stay", "no thanks ill stay", "im staying"}  # fmt: skip


def says_full(text: str) -> bool:
    """Their room has more people than it needs ("FULL", "too many of us here")."""
    words = normalise(text)
    kept = " ".join(w for w in words.split() if w not in HERE_AROUND | {"here", "the"})
    return words in FULL_PHRASES or kept in FULL_PHRASES


def asks_to_stay(text: str) -> bool:
    """They would rather stay where they are ("STAY", "no, I'll stay")."""
    return normalise(text) in STAY_PHRASES


VOTED_PHRASES = {"voted", "ive voted", "i have voted", "i voted", "already voted", "done it",
                 "just voted", "yes voted", "yes ive voted", "voted already", "postal vote",
                 "i voted by post", "voted by post", "ive already voted",
                 "already voted by post", "ive voted by post"}  # fmt: skip


def says_voted(text: str) -> bool:
    """They have voted ("VOTED", "I've voted!", "already voted by post")."""
    words = normalise(text)
    kept = " ".join(w for w in words.split() if w not in HERE_AROUND)
    return words in VOTED_PHRASES or kept in VOTED_PHRASES
