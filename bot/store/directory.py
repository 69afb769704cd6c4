"""The directory: committee rooms and target seats in Redis, and each process's copy of it.

Rooms and targets change only by import (all rows checked first, then swapped in one
transaction); every import bumps a version, and each process reloads its in-memory
``Directory`` when it sees a new one (looked at no more than once a second).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace

import redis

from bot.rooms import Directory, Room
from bot.store import keys
from bot.store.places import parse_pledge


class Rooms:
    """Rooms and target seats in Redis."""

    def __init__(self, r: redis.Redis, prefix: str) -> None:
        self.r, self.p = r, prefix

    def version(self) -> int:
        """Bumped by every import; 0 when nothing was ever imported."""
        return int(self.r.get(keys.DIRECTORY_VERSION(self.p)) or 0)

    def load(self) -> Directory:
        """Every room and target seat, as a Directory."""
        pipe = self.r.pipeline()
        pipe.hgetall(keys.ROOMS(self.p))
        pipe.hgetall(keys.TARGETS(self.p))
        rooms, targets = pipe.execute()
        return Directory(
            [Room.from_json(v) for v in rooms.values()],
            {k.decode(): int(v) for k, v in targets.items()},
        )

    def replace_rooms(self, rooms: Sequence[Room]) -> None:
        """Swap in a new set of rooms in one transaction."""
        self.replace_rooms_unless_pledged(rooms, set(), force=True)

    def replace_rooms_unless_pledged(
        self, rooms: Sequence[Room], gone: set[str], force: bool
    ) -> dict[str, tuple[str, tuple[str, ...]]]:
        """Swap in the rooms unless someone is pledged to a room in ``gone`` (and not
        ``force``), checked and done atomically (WATCH); returns the pledges it saw."""
        with self.r.pipeline(transaction=True) as pipe:
            while True:
                try:
                    pipe.watch(keys.PLEDGE(self.p))
                    pledges = {
                        a.decode(): parse_pledge(raw)
                        for a, raw in pipe.hgetall(keys.PLEDGE(self.p)).items()
                    }
                    if not force and any(room in gone for room, _ in pledges.values()):
                        pipe.unwatch()
                        return pledges
                    pipe.multi()
                    self._put(pipe, rooms=rooms)
                    pipe.execute()
                    return pledges
                except redis.WatchError:
                    continue  # someone pledged meanwhile: look again

    def room(self, room: str) -> Room | None:
        """The room a coordinator's page shows, read alone (not the whole directory: the
        page refreshes itself every 15 s on every coordinator's phone); None if removed."""
        raw = self.r.hget(keys.ROOMS(self.p), room)
        return Room.from_json(raw) if raw else None

    def raise_places(self, room: str, shift: str, at_least: int) -> int | None:
        """The room's places for ``shift`` raised to ``at_least`` (never lowered), seen by
        every process; the places now, or None if the room is gone. Only that one figure
        changes, and only on the rooms as they are (WATCH, again if an import lands
        meanwhile): an import is never undone, nor a removed room brought back."""
        with self.r.pipeline(transaction=True) as pipe:
            while True:
                try:
                    pipe.watch(keys.ROOMS(self.p))
                    raw = pipe.hget(keys.ROOMS(self.p), room)
                    if raw is None:
                        return None
                    was = Room.from_json(raw)
                    if was.places(shift) >= at_least:
                        return was.places(shift)
                    now = replace(was, capacity={**was.capacity, shift: at_least})
                    pipe.multi()
                    pipe.hset(keys.ROOMS(self.p), room, now.to_json())
                    pipe.incr(keys.DIRECTORY_VERSION(self.p))  # every process reloads it
                    pipe.execute()
                    return at_least
                except redis.WatchError:
                    continue

    def replace_all(self, rooms: Sequence[Room], targets: dict[str, int]) -> None:
        """Rooms and targets together, in one transaction."""
        pipe = self.r.pipeline(transaction=True)
        self._put(pipe, rooms=rooms, targets=targets)
        pipe.execute()

    def replace_targets(self, targets: dict[str, int]) -> None:
        """Swap in a new set of target seats in one transaction."""
        pipe = self.r.pipeline(transaction=True)
        self._put(pipe, targets=targets)
        pipe.execute()

    def _put(
        self,
        pipe: redis.client.Pipeline,
        rooms: Sequence[Room] | None = None,
        targets: dict[str, int] | None = None,
    ) -> None:
        if rooms is not None:
            pipe.delete(keys.ROOMS(self.p))
            if rooms:
                pipe.hset(keys.ROOMS(self.p), mapping={r.id: r.to_json() for r in rooms})
        if targets is not None:
            pipe.delete(keys.TARGETS(self.p))
            if targets:
                pipe.hset(keys.TARGETS(self.p), mapping=targets)
        pipe.incr(keys.DIRECTORY_VERSION(self.p))

    def seed_once(self, load: Callable[[], tuple[list[Room], dict[str, int]]]) -> bool:
        """Load the rooms and targets with ``load`` if nothing was ever imported; True if
        this call did. Processes starting together take turns (a lock), and rooms and
        targets arrive in one step, so nobody ever sees targets without rooms."""
        deadline = time.monotonic() + 120
        lock = keys.DIRECTORY_SEEDING(self.p)
        while not self.version():
            if self.r.set(lock, 1, nx=True, ex=keys.DIRECTORY_SEEDING.ttl):
                try:
                    if self.version():
                        return False
                    self.replace_all(*load())
                    return True
                finally:
                    self.r.delete(lock)
            if time.monotonic() > deadline:
                raise RuntimeError("another process has been loading the rooms for 2 minutes")
            time.sleep(0.1)
        return False


class DirectoryCache:
    """This process's copy of the directory, reloaded when an import bumps the version
    (looked at no more than once a second, so a turn costs no extra round trip)."""

    CHECK_EVERY = 1.0

    def __init__(self, rooms: Rooms) -> None:
        self.rooms = rooms
        self._version = -1
        self._checked = 0.0
        self._directory = Directory([], {})

    def get(self) -> Directory:
        """The current Directory."""
        now = time.monotonic()
        if now - self._checked >= self.CHECK_EVERY:
            self._checked = now
            version = self.rooms.version()
            if version != self._version:
                self._directory = self.rooms.load()
                self._version = version
        return self._directory
