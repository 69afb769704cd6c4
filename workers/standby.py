"""Giving freed places to people on standby (bot/store/standby.py keeps the lists).

A place frees up when someone releases it (CAN'T, CHANGE, STOP, DELETE, a room moved), a
hold runs out or is passed on, or an organiser imports more capacity. The first three call
``fill`` at once with what they freed; the clock's ``look`` (every LOOK_EVERY s across all
workers) gives back holds that ran out and fills every list with a free place, so an import,
or a worker killed between freeing and filling, costs seconds, never the place.

Filling holds the place for the nearest person on the list and puts a ``standby_offer``
event in their timed set, due now: it reaches their inbox within a clock tick and is
handled in order with what they wrote (a STOP before it wins; handlers/standby.py).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable

from bot import daytime
from bot.channels import capabilities
from bot.model.message import Inbound
from bot.store.standby import Pair
from handlers.standby import STANDBY_EVENT
from workers import pulse
from workers.runtime import Runtime

log = logging.getLogger(__name__)
LOOK_EVERY = 5  # seconds between looks for holds run out and places free on a list
_next_look = 0.0  # this process's next look (so the clock's tick rarely asks Redis)


def fill(rt: Runtime, pairs: Iterable[Pair], now: float | None = None) -> int:
    """Hold each free place at these (room, shift) for the nearest person waiting, and tell
    them; how many were offered."""
    now = daytime.now() if now is None else now
    rooms = rt.world.directory.rooms
    until = now + rt.settings.campaign.standby_hold_minutes * 60
    # Nobody is held a place they cannot be told about: WhatsApp's free text needs a window.
    opened_after = now - (capabilities("whatsapp").reply_window or 0)
    offered = 0
    for room_id, shift in dict.fromkeys(pairs):  # each once, in order
        room = rooms.get(room_id)
        if room is None:
            continue  # the room went in an import: nothing to give
        cap = room.places(shift)
        while got := rt.store.standby.offer(room_id, shift, cap, until, opened_after):
            address, km = got
            about = {"room": room_id, "shift": shift, "km": km, "until": int(until)}
            event = Inbound(
                address,
                event=STANDBY_EVENT,
                payload=json.dumps(about, separators=(",", ":")),
                external_id="standby-" + rt.store.suppression.hid(f"{address}|{about}"),
                received_at=now,
            )
            rt.store.timed.add(event, now)
            offered += 1
    if offered:
        pulse.count("standby:offered", offered)
        log.info("%d freed places held for people on standby", offered)
    return offered


def look(rt: Runtime, now: float | None = None, at_once: bool = False) -> int:
    """Give back holds that ran out and fill every list with a free place (at most once
    every LOOK_EVERY s across all workers, unless ``at_once``); how many were offered."""
    global _next_look
    store = rt.store
    if not at_once:
        if time.monotonic() < _next_look:
            return 0
        every = daytime.real(LOOK_EVERY, least=0.5)  # a rehearsal's day looks as often
        _next_look = time.monotonic() + every
        if not store.standby.mark_look(every):
            return 0  # another worker looked a moment ago
    now = daytime.now() if now is None else now
    expired = store.standby.expire(now)
    if expired:
        pulse.count("standby:expired", len(expired))
    waiting = store.standby.waiting()
    rooms = rt.world.directory.rooms
    known = [(r, s) for r, s in waiting if r in rooms]
    taken = store.places.taken(known)
    free = [(r, s) for (r, s), n in zip(known, taken, strict=True) if rooms[r].places(s) > n]
    return fill(rt, [*expired, *free], now)
