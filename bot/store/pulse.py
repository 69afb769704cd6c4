"""The pulse: which worker processes are alive, what they have done, and how long people
wait, as /healthz and /metrics read them from any process (no personal data: counts by
channel and result, times, and process names)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

import redis

from bot import daytime
from bot.model.message import Inbound
from bot.store import keys
from bot.store.inbox import LANES

FORGET_AFTER = 24 * 3600  # a worker not heard from for a day is dropped from the list


@dataclass(frozen=True)
class Workers:
    """Worker processes heard from recently."""

    alive: int  # reported within the allowed silence
    scheduler: bool  # one of them runs the scheduler
    last_seen: float | None  # seconds since any reported, None if none ever did


class Pulse:
    """Heartbeats and counts in Redis."""

    def __init__(self, r: redis.Redis, prefix: str) -> None:
        self.r, self.p = r, prefix

    def beat(self, worker: str, scheduler: bool, counts: Mapping[str, int]) -> None:
        """A worker is alive; add what it counted since its last beat."""
        pipe = self.r.pipeline(transaction=False)
        pipe.hset(keys.WORKERS(self.p), worker, f"{time.time():.0f}|{int(scheduler)}")
        for name, n in counts.items():
            pipe.hincrby(keys.COUNTS(self.p), name, n)
        pipe.execute()

    def workers(self, silence: float) -> Workers:
        """Workers heard from within ``silence`` seconds."""
        now, alive, scheduler, newest = time.time(), 0, False, None
        for worker, raw in self.r.hgetall(keys.WORKERS(self.p)).items():
            at, runs = raw.decode().split("|")
            age = now - float(at)
            if age > FORGET_AFTER:
                self.r.hdel(keys.WORKERS(self.p), worker)
                continue
            newest = age if newest is None else min(newest, age)
            if age <= silence:
                alive, scheduler = alive + 1, scheduler or runs == "1"
        return Workers(alive, scheduler, newest)

    def counts(self) -> dict[str, int]:
        """Everything counted so far, by name."""
        return {k.decode(): int(v) for k, v in self.r.hgetall(keys.COUNTS(self.p)).items()}

    def timeline(self) -> dict[str, dict[int, int]]:
        """New supporters (``joined``) and first pledges (``pledged``), by unix hour."""
        out: dict[str, dict[int, int]] = {"joined": {}, "pledged": {}}
        for field, n in self.r.hgetall(keys.TIMELINE(self.p)).items():
            kind, hour = field.decode().split("|", 1)
            out.setdefault(kind, {})[int(hour)] = int(n)
        return out

    def waiting(self) -> tuple[int, float]:
        """People waiting for a worker, and how long the first of them (the longest waiting
        at the head of a lane) has waited (s)."""
        pipe = self.r.pipeline(transaction=False)
        for name in LANES:
            pipe.llen(keys.READY(self.p, channel=name))
            pipe.lindex(keys.READY(self.p, channel=name), 0)
        got = pipe.execute()
        people, heads = sum(got[0::2]), [h.decode() for h in got[1::2] if h]
        for address in heads:
            pipe.lindex(keys.INBOX(self.p, address=address), 0)
        oldest = [Inbound.from_json(raw).received_at for raw in pipe.execute() if raw]
        at = min((t for t in oldest if t), default=0.0)
        return int(people), max(0.0, daytime.real_since(at)) if at else 0.0
