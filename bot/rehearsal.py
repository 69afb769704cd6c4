"""``pollday rehearse``: a whole polling day played fast, with simulated supporters.

It starts a Redis of its own (var/rehearsal/, emptied first: never the real data) and the
web and worker processes from the Procfile, on a clock that plays polling day from 06:00 to
just after the last shift in a few real minutes (bot/daytime.py). Every platform is off:
the supporters talk through the local chat, as ``make run``'s terminal does, so nobody real
is ever messaged (its end-to-end test gives it fake platforms on this machine instead:
``Phones``). The organiser page is at the printed URL: watch the board and check the rooms
as the day goes.

Supporters near the target rooms sign up as people do (hi, a location pin, their times,
YES, yes or no to updates), then live the day: most come and check in (HERE); some are late
(ON MY WAY when chased), some never come, some cancel, some say STOP; the willing take a
place when a room nearby asks, or one that comes up on standby. As it plays, the rehearsal
checks what the bot did, from outside, by what each supporter was sent:

- no room is ever over capacity for a shift;
- nobody is asked twice to fill the same gap;
- nobody who said STOP (once it was confirmed) or no to updates is asked at all;
- every no-show's place is refilled, unless nobody willing and free nearby was left
  unasked.

The report says what happened and which rules, if any, were broken.
"""

from __future__ import annotations

import heapq
import math
import os
import random
import secrets
import shutil
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Protocol

import redis
import yaml

from bot import daytime, local, procfile
from bot.backfill import free_for, shifts_over
from bot.campaign import Campaign, shift_window
from bot.channels.console import outbox_key
from bot.config import FAKES_ENV, environment_names, load_campaign, load_settings
from bot.daytime import Clock
from bot.geo import OfflineGeocoder, distance_km
from bot.model.message import Inbound, Location, Outbound
from bot.model.person import Conversation, Pledge, State
from bot.redis_server import RedisServer, free_port
from bot.rooms import Directory
from bot.store import Store, keys

# Who the supporters are: how each lives the day, and how many of each (out of 100).
KINDS = {"reliable": 55, "late": 10, "no_show": 10, "cancels": 10, "stops": 5, "no_updates": 10}
WILLING = 0.6  # of those asked to fill a gap (or offered a place on standby), say YES
SPREAD_KM = 4.0  # supporters live up to this far from the room they are placed near
DAY_STARTS = clock_time(6)  # the rehearsal's day begins at 06:00: sign-ups, then the shifts
AFTER_LAST = timedelta(minutes=10)  # and plays on this long after the last shift ends
JUDGED_WAVES = 3  # a no-show this many waves before the shift ends is judged
STEP = 0.05  # real seconds between looks at what the supporters were sent
STARTUP = 10.0  # real seconds for the processes to start before the day begins
# The live settings are left out of the processes' environment (every platform's
# credentials among them: nobody real is ever messaged), but for how places are found and
# where files go; Phones may give fakes.
KEPT = frozenset({"GEOCODER", "POSTCODES_IO_URL", "VAR_DIR", "KEY_PREFIX"})
NEVER_PASSED = environment_names() - KEPT | {daytime.ENV, FAKES_ENV}

# What the supporters recognise in what they are sent (messages/en.yaml; a test checks).
CUES = {
    "ask": "reply YES to go",  # backfill_ask: a room nearby is short
    "chase": "Are you on your way to",  # chase
    "no_show": "has gone to someone else",  # no_show
    "checked_in": "You're checked in at",  # checked_in
    "confirmed": "You're confirmed:",  # confirmed
    "full": "already full for those times",  # no_rooms, no_rooms_standby
    "standby": "Reply STANDBY to wait",  # no_rooms_standby
    "place": "a place has come up at",  # standby_offer
    "stopped": "you won't get any more messages",  # stop_confirm, stop_released
}


class Phones(Protocol):
    """How the simulated supporters reach the bot, and read what it sends them."""

    def env(self, web: str) -> dict[str, str]:
        """The platforms' settings for the processes (the web process is at ``web``)."""
        ...

    def address(self, i: int) -> str:
        """The ``i``th supporter's address."""
        ...

    def deliver(self, store: Store, messages: list[Inbound]) -> None:
        """Supporters send these."""
        ...

    def collect(self, store: Store, addresses: Iterable[str]) -> dict[str, list[str]]:
        """What the bot has sent each of ``addresses`` since the last look, in order."""
        ...


class LocalChat:
    """Every supporter on the local chat: nobody real is ever messaged."""

    def env(self, web: str) -> dict[str, str]:
        return {}

    @staticmethod
    def address(i: int) -> str:
        return f"console:rehearsal-{i:04d}"

    def deliver(self, store: Store, messages: list[Inbound]) -> None:
        store.inbox.accept(messages)

    def collect(self, store: Store, addresses: Iterable[str]) -> dict[str, list[str]]:
        who = list(addresses)
        pipe = store.r.pipeline(transaction=False)
        for address in who:
            pipe.lpop(outbox_key(store.p, address), 50)
        got = zip(who, pipe.execute(), strict=True)
        return {a: [Outbound.from_json(x).text for x in sent] for a, sent in got if sent}


@dataclass
class Supporter:
    """One simulated supporter: who they are, and what happened to them."""

    address: str
    at: Location
    shifts: tuple[str, ...]  # the times they offer when they sign up
    kind: str  # how they live the day (KINDS)
    willing: bool  # says YES when a room nearby asks, or a place comes up
    conv: Conversation | None = None  # as last read
    planned: set[str] = field(default_factory=set)  # shifts whose coming is planned
    signed_up: bool = False  # reached a pledge once (later ASK_SHIFTS: free, not signing up)
    steps: int = 0  # sign-up messages sent (a guard: never a loop)
    waiting: bool = False  # every room was full for their times: on standby, or left it
    stopped_at: float = 0.0  # when their STOP was confirmed (0: never)
    asks: Counter[tuple[str, str]] = field(default_factory=Counter)  # (room, shift) -> times
    asked_at: list[float] = field(default_factory=list)


@dataclass
class NoShow:
    """A place freed by a no-show, and whether anyone took it again."""

    room: str
    shift: str
    at: float
    low: int  # places taken for good just after (a place held on standby not yet)
    free: list[str]  # willing people nearby, free then and never asked for this gap
    refilled: bool = False


@dataclass
class Report:
    """What happened on the rehearsal's day, and any rule the bot broke."""

    supporters: int = 0
    pledged: int = 0  # signed up with a place
    checked_in: int = 0  # check-ins (one HERE may cover two shifts, or come twice)
    chased: int = 0
    no_shows: int = 0
    refilled: int = 0
    cancelled: int = 0
    stopped: int = 0
    asked: int = 0  # asks to fill a gap
    took: int = 0  # places taken by a YES to an ask or a standby offer
    broken: list[str] = field(default_factory=list)

    def text(self) -> str:
        """The report for people."""
        lines = [
            f"supporters {self.supporters:>5}  pledged {self.pledged}",
            f"check-ins  {self.checked_in:>5}  chased {self.chased}, no-shows {self.no_shows} "
            f"({self.refilled} refilled)",
            f"cancelled  {self.cancelled:>5}  said STOP {self.stopped}",
            f"asked      {self.asked:>5}  places taken from asks and standby {self.took}",
        ]
        if not self.broken:
            return "\n".join([*lines, "ok: every rule held"])
        return "\n".join([*lines, f"BROKEN: {len(self.broken)} rules", *self.broken])


def cast(
    directory: Directory, c: Campaign, n: int, rng: random.Random,
    address: Callable[[int], str] = LocalChat.address,
) -> list[Supporter]:  # fmt: skip
    """``n`` supporters near the target rooms (more near the bigger rooms), each with their
    times and their way of living the day."""
    rooms = [r for r in directory.rooms.values() if directory.priority(r) is not None]
    if not rooms:
        raise ValueError("no committee room is in a target seat: nothing to rehearse")
    weights = [sum(r.places(s) for s in c.shift_ids) for r in rooms]
    kinds, shares = zip(*KINDS.items(), strict=True)
    people = []
    for i in range(n):
        room = rng.choices(rooms, weights)[0]
        km, bearing = SPREAD_KM * rng.random() ** 0.5, rng.uniform(0, math.tau)
        lat = room.location.latitude + km / 111.0 * math.cos(bearing)
        per_degree = 111.0 * math.cos(math.radians(room.location.latitude))
        lon = room.location.longitude + km / per_degree * math.sin(bearing)
        two = rng.random() < 0.15 and len(c.shift_ids) > 1  # some offer two shifts
        shifts = tuple(rng.sample(c.shift_ids, 2 if two else 1))
        shifts = tuple(s for s in c.shift_ids if s in shifts)
        kind = rng.choices(kinds, shares)[0]
        people.append(Supporter(address(i), Location(lat, lon), shifts, kind,
                                rng.random() < WILLING))  # fmt: skip
    return people


class Day:
    """The supporters living the day against a running bot, and the rules checked."""

    def __init__(
        self, store: Store, c: Campaign, directory: Directory, people: list[Supporter],
        rng: random.Random, phones: Phones | None = None,
    ) -> None:  # fmt: skip
        self.store, self.c, self.directory, self.rng = store, c, directory, rng
        self.phones = phones or LocalChat()
        self.people = {p.address: p for p in people}
        self.due: list[tuple[float, int, str, str, Location | None]] = []
        self.seq = 0
        self.report = Report(supporters=len(people))
        self.no_shows: list[NoShow] = []

    # --- what supporters do ---------------------------------------------------------------

    def send(self, who: str, text: str = "", at: float = 0.0, loc: Location | None = None) -> None:
        """``who`` writes ``text`` (or sends a location pin) at the day's time ``at``."""
        self.seq += 1
        heapq.heappush(self.due, (at or daytime.now(), self.seq, who, text, loc))

    def minutes(self, lo: float, hi: float) -> float:
        """A day's time between ``lo`` and ``hi`` minutes from now."""
        return daytime.now() + 60 * self.rng.uniform(lo, hi)

    def begin(self) -> None:
        """Everyone says hi in the first half hour of the day."""
        for p in self.people.values():
            self.send(p.address, "hi", self.minutes(0, 30))

    def step(self) -> None:
        """Send what is due, read what came back, react, and check capacity."""
        now = daytime.now()
        batch = []
        while self.due and self.due[0][0] <= now:
            _, _, who, text, loc = heapq.heappop(self.due)
            common = {"address": who, "external_id": f"rehearsal:{uuid.uuid4().hex}"}
            batch.append(Inbound(text=text, location=loc, received_at=now, **common))
        if batch:
            self.phones.deliver(self.store, batch)
        for who, texts in self.phones.collect(self.store, self.people).items():
            self.react(self.people[who], texts, now)
        self.check_places()

    def react(self, p: Supporter, texts: list[str], now: float) -> None:
        """What a supporter does with what they were just sent."""
        before = p.conv
        p.conv = self.store.people.load(p.address)
        said = _said(texts)
        for text in texts:  # in the order sent: an ask before the STOP's answer is fine
            one = _said([text])
            if "stopped" in one:
                p.stopped_at = now
                self.report.stopped += 1
            if "ask" in one:
                self.asked(p, self.gap_of(text), now)
            self.report.checked_in += "checked_in" in one
        if "no_show" in said and before and before.pledge:
            self.no_show(p, before.pledge, now)
        if "chase" in said:
            self.report.chased += 1
            if p.kind == "late":
                self.send(p.address, "on my way", self.minutes(1, 5))
                self.send(p.address, "HERE", self.minutes(6, 25))
        if "place" in said and p.willing:
            self.send(p.address, "yes", self.minutes(1, 8))
        if "confirmed" in said and (p.signed_up or (before and before.state is State.STANDBY)):
            self.report.took += 1  # a YES to a room short nearby, or to a place on standby
        conv = p.conv
        if conv is None or conv.state is State.STOPPED:
            return
        if not p.signed_up:
            self.sign_up(p, conv, said)
        if conv.pledge:
            if not p.signed_up:
                p.signed_up = True
                self.report.pledged += 1
            self.plan(p, conv.pledge, now)

    def sign_up(self, p: Supporter, conv: Conversation, said: set[str]) -> None:
        """The next step of signing up, as a person would take it."""
        if p.steps >= 12:
            return
        p.steps += 1
        who = p.address
        if p.waiting and conv.state in (State.ASK_LOCATION, State.ASK_SHIFTS):
            return
        if conv.state is State.ASK_LOCATION:
            self.send(who, loc=p.at, at=self.minutes(0.2, 2))
        elif conv.state is State.ASK_SHIFTS and "full" in said:  # nowhere has room then
            if p.willing and "standby" in said:
                self.send(who, "STANDBY", self.minutes(0.2, 2))
            p.waiting = True  # on standby (a place offered: YES), or they leave it there
        elif conv.state is State.ASK_SHIFTS:
            labels = " and ".join(self.c.shift(s).label.lower() for s in p.shifts)
            self.send(who, labels, self.minutes(0.2, 2))
        elif conv.state is State.OFFER:
            self.send(who, "yes", self.minutes(0.2, 2))
        elif conv.state is State.ASK_CONSENT:
            self.send(who, "no" if p.kind == "no_updates" else "yes", self.minutes(0.2, 2))

    def plan(self, p: Supporter, pledge: Pledge, now: float) -> None:
        """How they will come for each shift newly pledged."""
        for shift in pledge.shifts:
            if shift in p.planned:
                continue
            p.planned.add(shift)
            start, _ = shift_window(self.c.polling_day, self.c.timezone, self.c.shift(shift))
            begins = max(start.timestamp(), now)
            if p.kind in ("late", "no_show") and len(p.planned) == 1:
                continue  # chased first (late), or never (no-show)
            if p.kind == "cancels" and len(p.planned) == 1:
                self.send(p.address, "can't", self.rng.uniform(now + 60, max(now + 120,
                          start.timestamp() - 600)))  # fmt: skip
                self.report.cancelled += 1
                continue
            if p.kind == "stops" and len(p.planned) == 1:
                self.send(p.address, "STOP", self.minutes(20, 400))
            self.send(p.address, "HERE", begins + 60 * self.rng.uniform(1, 20))

    def gap_of(self, ask: str) -> tuple[str, str] | None:
        """The room and shift an ask is for, read from its words ("Hendon Labour Hall needs
        2 more people from 17:00" / "now, until 17:00")."""
        name, _, rest = _unfold(ask).partition(" needs ")
        named = [r for r in self.directory.rooms.values() if _unfold(r.name) == name]
        if len(named) > 1:  # rooms of one name: the ask's address line tells them apart
            named = [r for r in named if _unfold(f"{r.address}, {r.postcode}") in rest]
        room = named[0].id if len(named) == 1 else None
        for shift in self.c.shifts:
            if f"from {shift.start:%H:%M}," in rest or f"until {shift.end:%H:%M}," in rest:
                return (room, shift.id) if room else None
        return None

    def asked(self, p: Supporter, gap: tuple[str, str] | None, now: float) -> None:
        """A room nearby asked them to come: the rules about asks, then their answer."""
        self.report.asked += 1
        if p.kind == "no_updates":
            self.broken(f"{p.address} said no to updates and was asked to fill a gap")
        if p.stopped_at:
            self.broken(f"{p.address} was asked to fill a gap after their STOP")
        p.asked_at.append(now)
        if gap is None:
            self.broken(f"{p.address} was asked to fill a gap the ask does not name")
            return
        p.asks[gap] += 1
        if p.asks[gap] == 2:
            self.broken(f"{p.address} was asked twice to fill {gap[0]}'s {gap[1]} gap")
        if p.willing:
            self.send(p.address, "yes", self.minutes(1, 8))
        elif self.rng.random() < 0.5:
            self.send(p.address, "no", self.minutes(1, 8))

    def firm(self) -> Counter[str]:
        """Places taken for good per room|shift: a place held for someone on standby (the
        bot gives a no-show's place at once to the next on the list) counts once taken."""
        pipe = self.store.r.pipeline(transaction=True)  # both at one moment
        pipe.hgetall(keys.PLEDGED(self.store.p))
        pipe.hvals(keys.HOLDS(self.store.p))
        taken, holds = pipe.execute()
        firm = Counter({k.decode(): int(v) for k, v in taken.items()})
        firm.subtract(h.decode().rsplit("|", 1)[0] for h in holds)  # room|shift|until
        return firm

    def no_show(self, p: Supporter, was: Pledge, now: float) -> None:
        """They never came and their place went: remember it, to see it refilled."""
        kept = p.conv.pledge.shifts if p.conv and p.conv.pledge else ()
        for shift in (s for s in was.shifts if s not in kept):
            low = self.firm()[f"{was.room_id}|{shift}"]
            free = self.free_near(was.room_id, shift, now)
            self.no_shows.append(NoShow(was.room_id, shift, now, low, free))
            self.report.no_shows += 1

    def free_near(self, room_id: str, shift: str, now: float) -> list[str]:
        """Willing people near the room who are free for the shift now (as the bot's own
        rule has it), agreed to updates, never stopped, and never asked for this gap."""
        c, room = self.c, self.directory.rooms.get(room_id)
        if room is None:
            return []
        over = shifts_over(c.polling_day, c.timezone, c.shifts, daytime.now_dt())
        near = [p for p in self.people.values()
                if p.willing and not p.stopped_at and p.kind not in ("stops", "no_updates")
                and not p.asks[(room_id, shift)]
                and distance_km(p.at, room.location) <= c.max_distance_km]  # fmt: skip
        addresses = [p.address for p in near]
        convs = self.store.people.load_many(addresses)
        # Asked in a wave whose ask found the gap covered by the time it was sent (so
        # they saw nothing): the bot rightly never asks them for it again.
        waved = self.store.backfill.asked(room_id, shift, addresses)
        return [a for a, conv, done in zip(addresses, convs, waved, strict=True)
                if conv and not done and free_for(conv, room_id, shift, over)]  # fmt: skip

    # --- the rules ------------------------------------------------------------------------

    def broken(self, why: str) -> None:
        if why not in self.report.broken:
            self.report.broken.append(why)

    def check_places(self) -> None:
        """No room over capacity; a no-show's place taken again is refilled."""
        for (room_id, shift), n in self.store.places.by_room_shift().items():
            room = self.directory.rooms.get(room_id)
            if room and shift in self.c.shift_ids and n > room.places(shift):
                self.broken(
                    f"{room.name} had {n} people for {shift}, over its {room.places(shift)}"
                )
        firm = self.firm() if self.no_shows else Counter()
        for gone in self.no_shows:
            if firm[f"{gone.room}|{gone.shift}"] > gone.low:
                gone.refilled = True

    def finish(self) -> Report:
        """The rules that are judged at the end of the day; the report."""
        rooms = self.directory.rooms
        self.report.refilled = sum(g.refilled for g in self.no_shows)
        counted: Counter[tuple[str, str]] = Counter()
        for p in self.people.values():
            conv = self.store.people.load(p.address)
            if conv and conv.pledge:
                counted.update((conv.pledge.room_id, s) for s in conv.pledge.shifts)
        for (room_id, shift), n in counted.items():
            room = rooms.get(room_id)
            if room and n > room.places(shift):
                self.broken(f"{room.name} has {n} pledges for {shift}, over its capacity")
        for gone in self.no_shows:
            if gone.refilled or gone.room not in rooms or self.too_late(gone):
                continue
            if missed := self.missed(gone):
                self.broken(
                    f"{rooms[gone.room].name}'s {gone.shift} place from a no-show at "
                    f"{datetime.fromtimestamp(gone.at, self.c.timezone):%H:%M} was not refilled, "
                    f"though {len(missed)} willing people nearby were free and never asked "
                    f"({', '.join(missed[:3])})"
                )
        return self.report

    def too_late(self, gone: NoShow) -> bool:
        """Too near the shift's end to judge: the waves need their time."""
        end = shift_window(self.c.polling_day, self.c.timezone, self.c.shift(gone.shift))[1]
        return end.timestamp() - gone.at < JUDGED_WAVES * self.c.backfill_wave_minutes * 60

    def missed(self, gone: NoShow) -> list[str]:
        """Of those free for a no-show's place when it went, who was asked nothing at all
        (for it, or for anywhere else) from then until the shift ended."""
        c = self.c
        end = shift_window(c.polling_day, c.timezone, c.shift(gone.shift))[1].timestamp()
        asked = {who for who in gone.free
                 if any(gone.at <= t <= end for t in self.people[who].asked_at)}  # fmt: skip
        return [who for who in gone.free if who not in asked]


def _unfold(text: str) -> str:
    return " ".join(text.split())


def _said(texts: list[str]) -> set[str]:
    """Which cues are in what was sent."""
    joined = _unfold(" ".join(texts))
    return {name for name, cue in CUES.items() if _unfold(cue) in joined}


def rehearse(
    supporters: int = 300, minutes: float = 15.0, seed: int = 1, root: Path | None = None,
    say: Callable[[str], None] = local.say, phones: Phones | None = None,
) -> Report:  # fmt: skip
    """Play polling day in ``minutes`` with ``supporters`` simulated people; the report.
    ``phones``: how they reach the bot (the local chat, unless a test gives it fakes)."""
    phones = phones or LocalChat()
    root = root or Path.cwd()
    var = root / os.environ.get("VAR_DIR", "var")
    home = var / "rehearsal"
    shutil.rmtree(home, ignore_errors=True)
    (home / "log").mkdir(parents=True)
    env = passed_on(os.environ)
    env.update(VAR_DIR=str(var), PYTHONUNBUFFERED="1", PORT=str(free_port()),
               ID_SECRET=secrets.token_hex(32), ADMIN_TOKEN=secrets.token_hex(16))  # fmt: skip
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["BOT_CONFIG"] = str(_config(root / env.get("BOT_CONFIG", "config.yaml"), home))
    env.update(phones.env(f"http://127.0.0.1:{env['PORT']}"))
    settings = load_settings(env)
    c = settings.campaign
    begins = datetime.combine(c.polling_day, DAY_STARTS, c.timezone)
    last = max(shift_window(c.polling_day, c.timezone, s)[1] for s in c.shifts)
    ends = (last + AFTER_LAST).astimezone(c.timezone)
    speed = (ends - begins).total_seconds() / (minutes * 60)
    clock = Clock(time.time() + STARTUP, begins.timestamp(), speed)
    env[daytime.ENV] = str(clock)
    real = daytime.use(clock)
    server = RedisServer(home / "redis", port=free_port(), log=home / "log" / "redis.log")
    procs: list = []
    try:
        server.start()
        env["REDIS_URL"] = server.url
        if settings.geocoder == "offline":
            OfflineGeocoder.open(var / "geo")
        for name, command in procfile.read(root / "Procfile").items():
            procs.append(procfile.start(command, env, (home / "log" / f"{name}.log").open("ab")))
        web = f"http://127.0.0.1:{env['PORT']}"
        local.wait_healthy(f"{web}/healthz", procs, logs=str(home / "log"))
        store = Store(redis.Redis.from_url(server.url), settings.key_prefix, env["ID_SECRET"])
        directory = _seeded(store)
        say(f"Rehearsal: polling day {c.polling_day} from {DAY_STARTS:%H:%M} to "
            f"{ends:%H:%M} in {minutes:g} minutes ({speed:.0f} times as fast), "
            f"{supporters} supporters; logs in {home / 'log'}")  # fmt: skip
        say(f"Organiser page: {web}/admin/ (sign in with the token {env['ADMIN_TOKEN']})")
        if (late := daytime.now() - begins.timestamp()) > 0:
            say(f"(the processes were slow to start: the day begins {late / 60:.0f} minutes in)")
        rng = random.Random(seed)
        people = cast(directory, c, supporters, rng, phones.address)
        day = Day(store, c, directory, people, rng, phones)
        while daytime.now() < begins.timestamp():
            time.sleep(STEP)
        day.begin()
        hour = begins.hour
        while daytime.now() < ends.timestamp():
            day.step()
            if (now := daytime.now_dt(c.timezone)).hour != hour:
                hour = now.hour
                say(f"{now:%H:%M}  {day.report.checked_in} checked in, {day.report.no_shows} "
                    f"no-shows, {day.report.asked} asked to fill gaps")  # fmt: skip
            time.sleep(STEP)
        return day.finish()
    finally:
        daytime.use(real)
        procfile.stop(procs)
        server.stop()


def passed_on(environ: Mapping[str, str]) -> dict[str, str]:
    """What of this environment the rehearsal's processes are given."""
    return {k: v for k, v in environ.items() if k not in NEVER_PASSED}


def _config(source: Path, home: Path) -> Path:
    """The organisers' config.yaml for the rehearsal: the same, but with nobody allowed to
    broadcast from a chat (the live platforms are off), and its files found from anywhere.
    ConfigError (naming the file and field) if it cannot be used."""
    load_campaign(source)
    data = yaml.safe_load(source.read_text())
    data["organisers"] = []
    for name in ("rooms", "targets", "postcode_seats"):
        if data.get(name):
            data[name] = str((source.parent / data[name]).resolve())
    path = home / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _seeded(store: Store, timeout: float = 30.0) -> Directory:
    """The rooms and targets, once the first worker has loaded them from the files."""
    from bot import organising

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        directory = organising.directory(store)
        if directory.rooms:
            return directory
        time.sleep(0.2)
    raise RuntimeError("the worker did not load the rooms")
