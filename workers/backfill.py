"""Backfill on the day: rooms short of people are filled from supporters nearby.

Every LOOK_EVERY s (across all workers) on polling day, each target room is measured for
the shift under way and the next: places short = capacity - places taken (holds for people
on standby count as taken, and a room with people still on its standby list is left to
standby, which goes first). A short room gets a wave of asks: up to WAVE_FACTOR times the
places short, from the nearest supporters who agreed to updates and are free then, each
asked once per gap. The next wave goes ``backfill_wave_minutes`` later if the room is still
short; a room no longer short is marked covered. Each ask is a ``backfill_ask`` event due
now, so it is sent in order with what the person wrote (handlers/backfill.py), paced by the
send pacer to the platform's limit.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from bot import daytime
from bot.backfill import free_for, shifts_over, shifts_to_fill
from bot.channels import capabilities
from bot.model.message import Inbound
from bot.rooms import Room
from handlers.backfill import BACKFILL_EVENT
from workers import pulse
from workers.runtime import Runtime

log = logging.getLogger(__name__)
LOOK_EVERY = 30  # seconds between looks for short rooms
WAVE_FACTOR = 3  # people asked per place short in a wave: many will not answer in time
REST_WAVES = 3  # someone asked is asked for no other gap for this many waves' time
SEARCH = 500  # the nearest people read first; further out (x4 each time) while too few
SEARCH_MOST = 4000  # ...up to this many
LOOK_BUDGET = 20_000  # people read per look, across its waves (the rest: the next look)
WAVES_PER_LOOK = 40  # short rooms asked per look (the rest wait 30 s: the tick stays short)
_next_look = 0.0  # this process's next look (so the clock's tick rarely asks Redis)


def look(rt: Runtime, now: float | None = None, at_once: bool = False) -> int:
    """Ask for people wherever a target room is short on the day (at most once every
    LOOK_EVERY s across all workers, unless ``at_once``); how many were asked."""
    global _next_look
    if not at_once:
        if time.monotonic() < _next_look:
            return 0
        every = daytime.real(LOOK_EVERY, least=1.0)  # a rehearsal's day looks as often
        _next_look = time.monotonic() + every
        if not rt.store.backfill.mark_look(every):
            return 0
    now = daytime.now() if now is None else now
    c, store = rt.settings.campaign, rt.store
    at = datetime.fromtimestamp(now, UTC)
    shifts = shifts_to_fill(c.polling_day, c.timezone, c.shifts, at)
    directory = rt.world.directory
    rooms = [r for r in directory.rooms.values() if directory.priority(r) is not None]
    pairs = [(r, s) for r in rooms for s in shifts if r.places(s) > 0]
    if not pairs:
        return 0
    ids = [(r.id, s) for r, s in pairs]
    taken, waiting = store.places.taken(ids), store.standby.sizes(ids)
    short = [room.places(shift) - n for (room, shift), n in zip(pairs, taken, strict=True)]
    full = [p for p, n in zip(ids, short, strict=True) if n <= 0]
    if covered := store.backfill.covered(full, now):
        log.info("%d backfills covered", covered)
    # Standby goes first; then the rooms whose wave is due, the shift under way first and
    # the most short first, as many as one look asks for.
    gaps = [(p, n) for p, n, queued in zip(pairs, short, waiting, strict=True)
            if n > 0 and not queued]  # fmt: skip
    every = c.backfill_wave_minutes * 60
    lasts = store.backfill.last_waves([(r.id, s) for (r, s), _ in gaps])
    due = [(p, n) for (p, n), last in zip(gaps, lasts, strict=True) if now - last >= every]
    due.sort(key=lambda g: (shifts.index(g[0][1]), -g[1]))
    over = shifts_over(c.polling_day, c.timezone, c.shifts, at)
    asked, budget = 0, LOOK_BUDGET
    for (room, shift), n in due[:WAVES_PER_LOOK]:
        if budget <= 0:
            break  # the rest wait for the next look: the clock's tick stays short
        got, read = wave(rt, room, shift, n, over, now)
        asked, budget = asked + got, budget - read
    if asked:
        pulse.count("backfill:asked", asked)
    return asked


def wave(
    rt: Runtime, room: Room, shift: str, short: int, over: frozenset[str], now: float
) -> tuple[int, int]:
    """Ask the nearest free people to come, if a wave is due: how many were asked, and
    how many people were read to choose them."""
    store, c = rt.store, rt.settings.campaign
    every = c.backfill_wave_minutes * 60
    want, count = short * WAVE_FACTOR, SEARCH
    picked: list[tuple[str, float]] = []
    outside = resting = read = 0
    while True:  # further out only while too few of the nearest are free to ask
        near = store.backfill.near(room.location, c.max_distance_km, count)
        got = _pick(rt, room, shift, over, now, want - len(picked), near[read:])
        picked += got.picked
        outside, resting, read = outside + got.outside, resting + got.resting, len(near)
        if len(picked) >= want or len(near) < count or count >= SEARCH_MOST:
            break
        count = min(count * 4, SEARCH_MOST)
    km_of = dict(picked)
    asked = store.backfill.ask(room.id, shift, short, list(km_of), now, every,
                               rest=every * REST_WAVES, outside_window=outside,
                               resting=resting)  # fmt: skip
    for address in asked or ():
        about = {"room": room.id, "shift": shift, "km": round(km_of[address], 2)}
        event = Inbound(
            address,
            event=BACKFILL_EVENT,
            payload=json.dumps(about, separators=(",", ":")),
            external_id="backfill-" + store.suppression.hid(f"{address}|{room.id}|{shift}"),
            received_at=now,
        )
        store.timed.add(event, now)
    if asked is not None:
        log.info("a room short of %d asked %d people nearby", short, len(asked))
    return len(asked or ()), read


@dataclass
class _Picked:
    picked: list[tuple[str, float]]  # who to ask, nearest first: (address, km)
    outside: int  # WhatsApp users left out, outside their 24-hour window
    resting: int  # free, but asked for another gap a moment ago


def _pick(
    rt: Runtime, room: Room, shift: str, over: frozenset[str], now: float, want: int,
    near: list[tuple[str, float]],
) -> _Picked:  # fmt: skip
    """Up to ``want`` of ``near`` (nearest first) who may be asked now. Free text reaches
    WhatsApp users only inside their 24-hour window: the others are counted (the board
    shows how many), as are those resting from another ask (asked soon, not "nobody")."""
    store = rt.store
    already = store.backfill.asked(room.id, shift, [a for a, _ in near])
    fresh = [(a, km) for (a, km), done in zip(near, already, strict=True) if not done]
    addresses = [a for a, _ in fresh]
    convs = store.people.load_many(addresses)
    reach = store.backfill.reach(addresses, now)
    out = _Picked([], 0, 0)
    for (address, km), conv, (blocked, rests, wrote) in zip(fresh, convs, reach, strict=True):
        if len(out.picked) >= want:
            break
        if blocked or conv is None or not free_for(conv, room.id, shift, over):
            continue
        if rests:
            out.resting += 1
        elif not capabilities(conv.channel).in_window(wrote or None, now):
            out.outside += 1
        else:
            out.picked.append((address, km))
    return out
