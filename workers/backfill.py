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

from bot.backfill import free_for, shifts_over, shifts_to_fill
from bot.channels import capabilities
from bot.model.message import Inbound
from bot.model.person import Conversation
from bot.rooms import Room
from handlers.backfill import BACKFILL_EVENT
from workers import pulse
from workers.runtime import Runtime

log = logging.getLogger(__name__)
LOOK_EVERY = 30  # seconds between looks for short rooms
WAVE_FACTOR = 3  # people asked per place short in a wave: many will not answer in time
SEARCH = 500  # the nearest people read per wave, before those not free are left out
_next_look = 0.0  # this process's next look (so the clock's tick rarely asks Redis)


def look(rt: Runtime, now: float | None = None, at_once: bool = False) -> int:
    """Ask for people wherever a target room is short on the day (at most once every
    LOOK_EVERY s across all workers, unless ``at_once``); how many were asked."""
    global _next_look
    if not at_once:
        if time.monotonic() < _next_look:
            return 0
        _next_look = time.monotonic() + LOOK_EVERY
        if not rt.store.backfill.mark_look(LOOK_EVERY):
            return 0
    now = time.time() if now is None else now
    c = rt.settings.campaign
    at = datetime.fromtimestamp(now, UTC)
    shifts = shifts_to_fill(c.polling_day, c.timezone, c.shifts, at)
    directory = rt.world.directory
    rooms = [r for r in directory.rooms.values() if directory.priority(r) is not None]
    pairs = [(r, s) for r in rooms for s in shifts if r.places(s) > 0]
    if not pairs:
        return 0
    taken = rt.store.places.taken([(r.id, s) for r, s in pairs])
    waiting = rt.store.standby.sizes([(r.id, s) for r, s in pairs])
    over = shifts_over(c.polling_day, c.timezone, c.shifts, at)
    asked = 0
    for (room, shift), n, queued in zip(pairs, taken, waiting, strict=True):
        short = room.places(shift) - n
        if short <= 0:
            if rt.store.backfill.covered(room.id, shift, now):
                log.info("a backfill is covered")
            continue
        if not queued:  # standby goes first
            asked += wave(rt, room, shift, short, over, now)
    if asked:
        pulse.count("backfill:asked", asked)
    return asked


def wave(rt: Runtime, room: Room, shift: str, short: int, over: frozenset[str], now: float) -> int:
    """Ask the nearest free people to come, if a wave is due; how many were asked."""
    store, c = rt.store, rt.settings.campaign
    every = c.backfill_wave_minutes * 60
    last = store.backfill.last_wave(room.id, shift)
    if last and now - last < every:
        return 0
    near = store.backfill.near(room.location, c.max_distance_km, SEARCH)
    addresses = [a for a, _ in near]
    already = store.backfill.asked(room.id, shift, addresses)
    fresh = [(a, km) for (a, km), done in zip(near, already, strict=True) if not done]
    convs = store.people.load_many([a for a, _ in fresh])
    # Free text on WhatsApp only inside the person's 24-hour window: the others are left
    # out and counted (the board shows how many).
    window = capabilities("whatsapp").reply_window or 0
    picked: list[tuple[str, float]] = []
    outside = 0
    for (address, km), conv in zip(fresh, convs, strict=True):
        if len(picked) >= short * WAVE_FACTOR:
            break
        if not _may_ask(rt, conv, room.id, shift, over):
            continue
        if address.startswith("whatsapp:"):
            wrote = store.inbox.last_inbound(address) or 0.0
            if wrote < now - window:
                outside += 1
                continue
        picked.append((address, km))
    km_of = dict(picked)
    got = store.backfill.ask(room.id, shift, short, list(km_of), now, every, outside)
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


def _may_ask(rt: Runtime, conv: Conversation | None, room: str, shift: str,
             over: frozenset[str]) -> bool:  # fmt: skip
    if conv is None or not free_for(conv, room, shift, over):
        return False
    people = rt.store.people
    return not (rt.world.was_stopped(conv.address) or people.unreachable(conv.address))
