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
SEARCH_MOST = 8000  # ...up to this many
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
    asked = sum(wave(rt, room, shift, n, over, now) for (room, shift), n in due[:WAVES_PER_LOOK])
    if asked:
        pulse.count("backfill:asked", asked)
    return asked


def wave(rt: Runtime, room: Room, shift: str, short: int, over: frozenset[str], now: float) -> int:
    """Ask the nearest free people to come, if a wave is due; how many were asked."""
    store, c = rt.store, rt.settings.campaign
    every = c.backfill_wave_minutes * 60
    want, count = short * WAVE_FACTOR, SEARCH
    while True:  # further out only while too few of the nearest are free to ask
        picked, outside, found = _pick(rt, room, shift, over, now, want, count)
        if len(picked) >= want or found < count or count >= SEARCH_MOST:
            break
        count *= 4
    km_of = dict(picked)
    got = store.backfill.ask(room.id, shift, short, list(km_of), now, every,
                             rest=every * REST_WAVES, outside_window=outside)  # fmt: skip
    for address in got or ():
        about = {"room": room.id, "shift": shift, "km": round(km_of[address], 2)}
        event = Inbound(
            address,
            event=BACKFILL_EVENT,
            payload=json.dumps(about, separators=(",", ":")),
            external_id="backfill-" + store.suppression.hid(f"{address}|{room.id}|{shift}"),
            received_at=now,
        )
        store.timed.add(event, now)
    if got is not None:
        log.info("a room short of %d asked %d people nearby", short, len(got))
    return len(got or ())


def _pick(
    rt: Runtime, room: Room, shift: str, over: frozenset[str], now: float, want: int, count: int
) -> tuple[list[tuple[str, float]], int, int]:
    """Up to ``want`` of the ``count`` nearest who may be asked, nearest first (address,
    km); how many WhatsApp users were left out as outside their 24-hour window (free text
    only inside it: the board shows how many); how many were found at all."""
    store = rt.store
    near = store.backfill.near(room.location, rt.settings.campaign.max_distance_km, count)
    already = store.backfill.asked(room.id, shift, [a for a, _ in near])
    fresh = [(a, km) for (a, km), done in zip(near, already, strict=True) if not done]
    addresses = [a for a, _ in fresh]
    convs = store.people.load_many(addresses)
    reach = store.backfill.reach(addresses, now)
    picked: list[tuple[str, float]] = []
    outside = 0
    for (address, km), conv, (blocked, wrote) in zip(fresh, convs, reach, strict=True):
        if len(picked) >= want:
            break
        if blocked or conv is None or not free_for(conv, room.id, shift, over):
            continue
        if not capabilities(conv.channel).in_window(wrote or None, now):
            outside += 1
            continue
        picked.append((address, km))
    return picked, outside, len(near)
