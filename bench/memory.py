"""Benchmark 5: Redis memory per supporter at 100,000 supporters with pledges.

Each supporter is stored the way a finished journey leaves them (conversation, pledge,
people and consent indexes, suppression record, referral code, WhatsApp window), through
the same Store calls the workers use. Target: <= 1 KB each (INFO used_memory difference).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import redis

from bench.common import machine, record
from bot.model.message import Location
from bot.model.person import Consent, Conversation, Pledge, State
from bot.redis_server import RedisServer
from bot.store import Store, keys
from bot.store.inbox import LANES

PEOPLE = 100_000


def run() -> dict:
    """Fill an empty Redis with PEOPLE supporters; bytes each."""
    with tempfile.TemporaryDirectory() as tmp, RedisServer(Path(tmp)) as server:
        r = redis.Redis.from_url(server.url)
        store = Store(r)
        before = r.info("memory")["used_memory"]
        consent = Consent(True, 1871316191, "whatsapp", "updates-v1")
        for i in range(PEOPLE):
            address = f"whatsapp:+4477{i:08d}"
            pledge = Pledge(f"room-{i % 5000}", ("morning", "evening"))
            conv = Conversation(
                address, State.DONE, postcode="N7 6AA", location=Location(51.5541, -0.1097),
                shifts=pledge.shifts, offers=(), pledge=pledge, consent=consent,
                code=store.referrals.code_for(address), last_id="0f3a9c2e71b4d586",
            )  # fmt: skip
            store.places.reserve(address, pledge, [1_000_000, 1_000_000])
            store.people.save(conv, new_person=True, consent=consent)
            store.referrals.first_contact(address, None)
            store.inbox.ingest(f"twilio:SM{i:032x}", address, "{}", received_at=1.9e9)
            r.delete(keys.INBOX(store.p, address=address), keys.SCHED(store.p, address=address))
        r.delete(
            *(keys.READY(store.p, channel=n) for n in LANES),
            keys.DRAINERS(store.p),
            keys.JOBS(store.p),
        )
        used = r.info("memory")["used_memory"] - before
        seen = sum(int(r.hlen(k)) for k in r.scan_iter(keys.DELIVERED.glob(store.p)))
        figures = {
            **machine(r),
            "supporters": PEOPLE,
            "used_memory difference MB": round(used / 2**20, 1),
            "bytes per supporter": round(used / PEOPLE),
            "including delivery dedupe entries (one per message, kept 1-2 days)": seen,
            "target": "<= 1 KB per supporter",
        }
    record("5. Redis memory per supporter", figures)
    return figures


if __name__ == "__main__":
    run()
