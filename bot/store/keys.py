"""Every Redis key the app writes, declared once: pattern, type, lifetime, and what DELETE
and the purge do with it. Nothing else builds a key string; erase and purge walk ``KEYS``.

Patterns follow the key prefix (``pd`` unless ``KEY_PREFIX`` says otherwise). Placeholders:
``{address}`` a person's address (``telegram:42``); ``{hid}`` their one-way id (a keyed
hash of the address, see ``hid``); ``{bid}`` a broadcast id; anything else names no one.

What erasing one person does (``Erase``):
  KEY      the key is theirs ({address} or {hid} in the pattern): deleted
  FIELD    a hash with one field per person, the field being the address: that field goes
  MEMBER   a set (or sorted set) with one member per person: that member goes
  ITEM     a list of addresses that is read by position (a broadcast's recipients): their
           entries are blanked, so everyone else keeps their place
  VALUE    a hash whose *values* are addresses (referral code -> sharer): the fields
           pointing at them go (the referrals module says which fields to look at)
  QUEUE    a plain list of addresses (the ready list): their entries go
  KEEP     nothing about one person, or a suppression record that must outlive DELETE

The purge deletes every key with ``purge=True``; the rest (suppression records, rooms and
targets, totals that name no one) stay. ``personal`` says whether the key can hold personal
data at all; the tests scan Redis after whole journeys and check both rules.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from enum import StrEnum


class Erase(StrEnum):
    """What DELETE does with a key for one person (see the module docstring)."""

    KEY = "key"
    FIELD = "field"
    MEMBER = "member"
    ITEM = "item"
    VALUE = "value"
    QUEUE = "queue"
    KEEP = "keep"


@dataclass(frozen=True)
class Key:
    """One declared key: its pattern after the prefix, Redis type, TTL and erasure rule."""

    pattern: str
    type: str  # string, hash, set, list, zset
    ttl: int | None  # seconds; None: until DELETE, the purge, or kept
    personal: bool
    erase: Erase
    purge: bool
    doc: str

    def __call__(self, prefix: str, **parts: object) -> str:
        """The key for these placeholder values."""
        return f"{prefix}:{self.pattern.format(**parts)}"

    def glob(self, prefix: str, **parts: object) -> str:
        """A SCAN pattern: given placeholders filled in, the others as ``*``."""
        fill = {name: parts.get(name, "*") for name in self.placeholders}
        escaped = {k: v if v == "*" else _glob_escape(str(v)) for k, v in fill.items()}
        return f"{prefix}:{self.pattern.format(**escaped)}"

    @property
    def placeholders(self) -> tuple[str, ...]:
        """The ``{names}`` in the pattern, in order."""
        return tuple(re.findall(r"{(\w+)}", self.pattern))

    def regex(self, prefix: str) -> re.Pattern[str]:
        """Matches every concrete key of this declaration (for the tests' scans)."""
        body = re.escape(self.pattern)
        body = re.sub(r"\\{\w+\\}", "[^ ]+?", body)
        return re.compile(f"^{re.escape(prefix)}:{body}$")


def _glob_escape(text: str) -> str:
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)


DAY = 24 * 3600

# One declaration a line or two, so they read as a table.
# fmt: off

# --- the inbound queue (bot/store/inbox.py) -------------------------------------------------
INBOX = Key("inbox:{address}", "list", None, True, Erase.KEY, True,
    "queued Inbound JSON, drained in order by one worker")
# Long enough to outlast the ready list in a surge (2,000 people in a minute on Telegram
# wait up to ~100 s): a mark that ran out let the rescue queue them a second time, and that
# second place then served their next message ahead of people who wrote before it.
SCHED = Key("sched:{address}", "string", 300, True, Erase.KEY, True,
    "set while a drain for the address is pending")
LOCK = Key("lock:{address}", "string", 60, True, Erase.KEY, True,
    "held by the worker draining that address")
READY = Key("ready:{channel}", "list", None, True, Erase.QUEUE, True,
    "people with messages waiting, a lane per channel (bot/store/inbox.py)")
DRAINERS = Key("drainers", "string", 30, False, Erase.KEEP, False, "drainer jobs running")
JOBS = Key("jobs", "list", None, False, Erase.KEEP, False,
    "work the web process asks of the workers (a drainer, a broadcast step)")
QUOTA = Key("quota:{hid}:{minute}", "string", 120, False, Erase.KEY, True,
    "messages from one sender this clock minute (flood quota)")
# 4,096 small hashes a day, not one large one: Redis stores a hash of up to 512 short
# fields compactly, about 20 bytes a delivery instead of about 85 (up to ~2M messages a day).
DELIVERED = Key("delivered:{day}:{part}", "hash", 3 * DAY, False, Erase.KEEP, True,
    "digests of update_id / MessageSid accepted that day (dedupe), by their first 12 bits")
LASTIN = Key("lastin", "hash", None, True, Erase.FIELD, True,
    "address -> when they last wrote (a reply window such as WhatsApp's 24 h)")
RESCUE = Key("rescue", "string", 30, False, Erase.KEEP, False,
    "set for 30 s after a worker looked for stranded people (one look across all workers)")

# --- people and their conversations (bot/store/people.py) -----------------------------------
CONV = Key("conv:{address}", "string", None, True, Erase.KEY, True, "the Conversation as JSON")
OUTBOX = Key("outbox:{address}", "list", None, True, Erase.KEY, True,
    "replies saved with a turn, not yet sent (Outbound JSON, in order; each leaves once sent)")
HANDLED = Key("handled:{msg}", "string", DAY, False, Erase.KEEP, True,
    "a message handled for someone we keep no conversation for (a replay is not retaken)")
PEOPLE = Key("people", "set", None, True, Erase.MEMBER, True, "addresses with a conversation")
CONSENTED = Key("consented", "set", None, True, Erase.MEMBER, True,
    "addresses that agreed to polling-day updates")
UNREACHABLE = Key("unreachable", "hash", None, True, Erase.FIELD, True,
    "address -> why the platform says they cannot be messaged")
SUPPORTERS = Key("supporters", "hash", None, False, Erase.KEEP, False,
    "channel -> people with a conversation (a total)")

# --- places (bot/store/places.py) -----------------------------------------------------------
PLEDGED = Key("pledged", "hash", None, False, Erase.KEEP, False, "room|shift -> places taken")
PLEDGE = Key("pledge", "hash", None, True, Erase.FIELD, True, "address -> room|shift,shift")

# --- standby: people waiting for a place at full rooms, and places held for them ----------
# (bot/store/standby.py). A room id has no colon, so ``standby:{room}:{shift}`` never
# matches the one-part keys beside it.
STANDBY = Key("standby:{room}:{shift}", "zset", None, True, Erase.MEMBER, True,
    "people waiting for a place at a room and shift: address -> km (nearest first)")
STANDING = Key("standing", "hash", None, True, Erase.FIELD, True,
    "address -> room|shift,room|shift: the standby lists a person is on")
WAITING = Key("waiting", "set", None, False, Erase.KEEP, True,
    "room|shift lists with anyone on them (the clock looks at these for free places)")
HOLDS = Key("holds", "hash", None, True, Erase.FIELD, True,
    "address -> room|shift|until: a freed place kept (and counted taken) while they answer")
STANDBY_LOOK = Key("standby:look", "string", 5, False, Erase.KEEP, False,
    "set for a few seconds after a worker looked for free places and holds run out")

# --- backfill: rooms short of people on the day, filled from nearby (bot/store/backfill.py)
NEARBY = Key("nearby", "zset", None, True, Erase.MEMBER, True,
    "geo index: people who agreed to updates and did not STOP, at their point (who is near)")
GAP = Key("gap:{room}:{shift}", "hash", None, False, Erase.KEEP, True,
    "a room short for a shift: when it began, waves, places short, covered (the board)")
ASKED = Key("asked:{room}:{shift}", "hash", None, True, Erase.FIELD, True,
    "address -> asked|took|late|declined: who was asked to fill that gap (once) and answered")
ASKING = Key("asking", "hash", None, True, Erase.FIELD, True,
    "address -> unix s: someone just asked to fill one gap is asked for no other until then")
GAPS = Key("gaps", "zset", None, False, Erase.KEEP, True,
    "room|shift of each gap, by when it began")
INDEXED = Key("indexed", "string", None, False, Erase.KEEP, False,
    "the version of the indexes built from data stored before saves kept them, or 'building'"
    " for ten minutes while one worker builds them (Store.index)")
GAP_LOOK = Key("gaplook", "string", 30, False, Erase.KEEP, False,
    "set for a while after a worker looked for rooms short of people")

# --- room coordinators (bot/store/coordinators.py) ------------------------------------------
# A hash, not a set: small hashes are stored compactly (31 bytes a person, not 79).
ROSTER = Key("roster:{room}", "hash", None, True, Erase.FIELD, True,
    "address -> '': people pledged at a room (one who moved on is checked against their pledge)")
ROOM_LINK = Key("roomlink:{digest}", "string", None, False, Erase.KEEP, True,
    "SHA-256 of a coordinator link's token -> its room (expires as polling day ends)")
ROOM_LINKS = Key("roomlinks", "hash", None, False, Erase.KEEP, True,
    "room -> the SHA-256 of its current coordinator link (a new one revokes the old)")
ROOM_SAID = Key("roomsaid:{room}", "list", None, False, Erase.KEEP, True,
    "the coordinator's messages relayed to the room's volunteers, newest first")
ROOM_SENDING = Key("roomsending:{room}", "string", 10, False, Erase.KEEP, True,
    "SHA-256 of the coordinator's last message, for 10 s: a double tap sends it once")
ROOM_REPLIES = Key("roomreplies:{room}", "hash", None, True, Erase.FIELD, True,
    "address -> their latest replies to the coordinator: [first name, when, text]")
SURPLUS = Key("surplus:{room}:{shift}", "hash", None, False, Erase.KEEP, True,
    "a room that reported too many: when, how many, asked to move, moved (the board)")
SURPLUSES = Key("surpluses", "zset", None, False, Erase.KEEP, True,
    "room|shift of each surplus report, by when")

# --- polling day in the rooms: who has arrived (bot/store/arrivals.py) --------------------
ARRIVED = Key("arrived:{room}:{shift}", "hash", None, True, Erase.FIELD, True,
    "address -> here|onway|noshow:<unix s>: checked in, said they are on their way, or no-show")

# --- referrals (bot/store/referrals.py) -----------------------------------------------------
# 1,024 small hashes by a code's first two characters, not one large one: Redis stores a
# hash of up to 512 short fields compactly (~35 bytes a code, not ~85), to ~500,000 sharers.
CODES = Key("codes:{part}", "hash", None, True, Erase.VALUE, True,
    "referral code -> sharer address, for the codes that begin with part")
CODES_BEFORE = Key("codes", "hash", None, True, Erase.VALUE, True,
    "referral code -> sharer address, all in one: codes given before codes:{part} (kept)")
REFERRALS = Key("referrals", "hash", None, True, Erase.FIELD, True,
    "sharer address -> people brought in")
CREDITED = Key("credited:{msg}", "string", DAY, False, Erase.KEEP, True,
    "the sharer's new total, by the message that credited it (a replay says the same)")

# --- suppression records: outlive DELETE and the purge (bot/store/suppression.py) ----------
SEEN = Key("seen", "set", None, False, Erase.KEEP, False,
    "one-way ids ever seen (a referral is credited once)")
STOPPED = Key("stopped", "set", None, False, Erase.KEEP, False,
    "one-way ids that said STOP and not START since")
CONSENT = Key("consent", "hash", None, False, Erase.KEEP, False,
    "one-way id -> granted|unix time|channel|wording version (the evidence)")

# --- the campaign the data belongs to (bot/store/calendar.py) ---------------------------------
POLLING_DAY = Key("campaign:polling_day", "string", None, False, Erase.KEEP, False,
    "the polling day the supporters in Redis signed up for (ISO date)")

# --- rooms and target seats: the directory (bot/store/directory.py) ------------------------
ROOMS = Key("rooms", "hash", None, False, Erase.KEEP, False, "room id -> Room JSON")
TARGETS = Key("targets", "hash", None, False, Erase.KEEP, False, "seat key -> priority")
DIRECTORY_VERSION = Key("directory:version", "string", None, False, Erase.KEEP, False,
    "bumped by every import, so workers reload")
DIRECTORY_SEEDING = Key("directory:seeding", "string", 120, False, Erase.KEEP, False,
    "held by the worker loading config.yaml's CSVs")

# --- broadcasts (bot/store/broadcasts.py) ---------------------------------------------------
BC_SEQ = Key("bc:seq", "string", None, False, Erase.KEEP, False, "last broadcast id")
BC = Key("bc:{bid}", "hash", None, False, Erase.KEEP, False,
    "text, audience, status, total, slices, times")
BC_TO = Key("bc:{bid}:to", "list", 7 * DAY, True, Erase.ITEM, True,
    "recipient addresses, fixed at creation (kept 7 days after it ends)")
BC_LEDGER = Key("bc:{bid}:ledger", "hash", 7 * DAY, True, Erase.FIELD, True,
    "address -> sending, sent, ambiguous, failed:<x>, skipped:<x>")
BC_COUNTS = Key("bc:{bid}:counts", "hash", None, False, Erase.KEEP, False,
    "sent, failed, ambiguous, skipped:<reason>")
BC_NEXT = Key("bc:{bid}:next", "string", None, False, Erase.KEEP, False, "next fresh slice")
BC_DONE = Key("bc:{bid}:done", "set", None, False, Erase.KEEP, False, "finished slices")
BC_LEASE = Key("bc:{bid}:lease:{slice}", "string", None, False, Erase.KEEP, True,
    "held by the worker sending a slice (expires if it dies)")
BC_BY_MESSAGE = Key("bc:bymsg:{msg}", "string", DAY, False, Erase.KEEP, True,
    "the broadcast an organiser's YES started, by that message")
BC_LOOK = Key("bc:look", "string", 15, False, Erase.KEEP, False,
    "set for a while after a worker looked for broadcasts nobody is sending (one look for all)")

# --- pacing (bot/pacing.py) -----------------------------------------------------------------
PACE = Key("pace:{channel}", "zset", 2, False, Erase.KEEP, False,
    "admission times of every send on a channel")
PACE_CHAT = Key("pace:{channel}:{hid}", "zset", 2, False, Erase.KEY, True,
    "admission times of sends to one chat (Telegram's 1/s)")
LINE = Key("line:{channel}", "zset", 60, False, Erase.KEEP, False,
    "replies waiting to be admitted (random ticket -> when the person wrote, µs): first come")
LINE_SEEN = Key("lineseen:{channel}", "zset", 60, False, Erase.KEEP, False,
    "ticket -> when its waiter last asked (µs); one that stops asking leaves the line")
PAUSE = Key("pause:{channel}", "string", None, False, Erase.KEEP, False,
    "set for a platform's retry_after: nothing goes on the channel until it expires")

# --- timed events: reminders, replies held back (bot/store/timed.py) ------------------------
TIMED = Key("timed:{address}", "zset", None, True, Erase.KEY, True,
    "a person's system events (Inbound JSON) -> when due: reminders, held-back replies")
DUE = Key("due", "zset", None, True, Erase.MEMBER, True,
    "addresses with timed events -> when the earliest is due")

# --- the pulse: worker heartbeats and counts, read by /healthz and /metrics (bot/store/pulse.py)
WORKERS = Key("pulse:workers", "hash", None, False, Erase.KEEP, False,
    "worker process (host:pid) -> when it last reported (unix s)|1 if it runs the scheduler")
COUNTS = Key("pulse:counts", "hash", None, False, Erase.KEEP, False,
    "what happened, counted across processes: turns, sends by channel and result")
TIMELINE = Key("pulse:timeline", "hash", None, False, Erase.KEEP, False,
    "joined|<hour> and pledged|<hour> -> how many (unix hour): the organisers' chart")

# --- organisers signed in to the organiser pages (bot/store/sessions.py) ------------------
SESSION = Key("session:{sid}", "hash", 12 * 3600, False, Erase.KEEP, False,
    "a signed-in organiser: name, role, CSRF token; keyed by a hash of the cookie's id")
SIGNIN = Key("signin:{who}:{minute}", "string", 120, False, Erase.KEEP, False,
    "sign-in attempts from one network address (a one-way id) this clock minute")

UPLOAD = Key("upload:{uid}", "hash", 3600, False, Erase.KEEP, True,
    "a rooms or targets file an organiser uploaded, kept for its preview until applied")

# --- fault tests only: where a test asks a worker to die (workers/faults.py) -------------------
CRASH_AT = Key("fault:crash_at", "string", None, False, Erase.KEEP, False,
    "the crash point a fault test asked for; read only with POLLDAY_FAULTS=1")

# --- the terminal chat of ``make run`` (bot/channels/console.py) ---------------------------
CONSOLE = Key("console:{address}", "list", None, True, Erase.KEY, True,
    "replies waiting for the terminal to print them")
# fmt: on

KEYS: tuple[Key, ...] = tuple(v for v in list(globals().values()) if isinstance(v, Key))

# Redis keys that are not ours: RQ's queues, jobs and registries. No job names a person
# (what is timed for someone is in TIMED); failed jobs go in the purge.
EXTERNAL_PREFIXES = ("rq:",)


def hid(secret: bytes, address: str) -> str:
    """A person's one-way id: 128 bits of HMAC-SHA256 keyed by ``ID_SECRET``, so an id
    cannot be turned back into a phone number by hashing every possible number."""
    return hmac.new(secret, address.encode(), hashlib.sha256).hexdigest()[:32]


def declared(prefix: str, key: str) -> Key | None:
    """The declaration a concrete key belongs to, or None."""
    return next((k for k in KEYS if k.regex(prefix).match(key)), None)
