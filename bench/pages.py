"""Benchmark 14: the organiser pages with 1,000 rooms and 100,000 supporters.

Target: every page under 300 ms of server time (p99 of repeated requests, through Flask's
test client in this process, against a real Redis).
"""

from __future__ import annotations

import random
import re
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

import redis

from bench.common import ROOT, machine, p50_p99, record
from bench.matching import SEATS, SHIFTS
from bot.app import create_app
from bot.config import Settings, load_campaign
from bot.model.message import Location
from bot.redis_server import RedisServer
from bot.rooms import Room
from bot.store import Store, keys

ROOMS, SUPPORTERS, SHARERS, REQUESTS = 1_000, 100_000, 5_000, 30
TOKEN = "bench-admin-token"
BY_SEAT = "/admin/?" + urlencode({"seat": SEATS[0]})
PAGES = ["/admin/", "/admin/?shift=morning&sort=priority", BY_SEAT]


def populate(store: Store, r: redis.Redis, rng: random.Random) -> None:
    """Rooms in 100 seats (20 of them targets), and the keys the pages read filled as a day
    of 100,000 supporters leaves them: people by channel, pledges per room and shift,
    referral counts, the hourly timeline."""
    rooms = [
        Room(
            f"r{i}",
            f"Room {i}",
            f"{i} High Street",
            "N7 6AA",
            SEATS[i % 100],
            Location(rng.uniform(50.5, 55), rng.uniform(-4, 1)),
            {s: rng.randint(4, 40) for s in SHIFTS},
            contact=f"07700 9{i:05d}",
        )  # fmt: skip
        for i in range(ROOMS)
    ]
    store.rooms.replace_all(rooms, {SEATS[i]: 1 + i // 5 for i in range(0, 100, 5)})
    p = store.p
    pipe = r.pipeline(transaction=False)
    people = [f"telegram:{100_000 + i}" for i in range(SUPPORTERS)]
    for i in range(0, SUPPORTERS, 10_000):
        pipe.sadd(keys.PEOPLE(p), *people[i : i + 10_000])
    pipe.hset(keys.SUPPORTERS(p), mapping={"telegram": SUPPORTERS})
    pipe.hset(keys.PLEDGED(p), mapping={f"r{i}|{s}": rng.randint(0, 40)
                                        for i in range(ROOMS) for s in SHIFTS})  # fmt: skip
    pipe.hset(keys.REFERRALS(p), mapping={a: rng.randint(1, 30) for a in people[:SHARERS]})
    hour = int(time.time() // 3600)
    pipe.hset(
        keys.TIMELINE(p),
        mapping={
            f"{kind}|{hour - h}": rng.randint(100, 5000)
            for kind in ("joined", "pledged")
            for h in range(48)
        },
    )
    pipe.execute()


def run() -> dict:
    """Sign in once, then time each page REQUESTS times."""
    rng = random.Random(14)
    with tempfile.TemporaryDirectory() as tmp, RedisServer(Path(tmp)) as server:
        r = redis.Redis.from_url(server.url)
        campaign = load_campaign(ROOT / "config.yaml")
        settings = Settings(campaign=campaign, redis_url=server.url, admin_token=TOKEN,
                            var_dir=ROOT / "var")  # fmt: skip
        populate(Store(r), r, rng)
        client = create_app(settings).test_client()
        form = client.get("/admin/sign-in").text
        csrf = re.search(r'name="csrf" value="([^"]+)"', form).group(1)
        assert client.post("/admin/sign-in", data={"token": TOKEN, "csrf": csrf}).status_code == 302
        figures = {**machine(r), "setup": f"{ROOMS:,} rooms in 100 seats, {SUPPORTERS:,} "
                   f"supporters, {SHARERS:,} sharers; Flask's test client in one process, "
                   f"a real Redis; {REQUESTS} requests a page"}  # fmt: skip
        for page in PAGES + ["/admin/ (its 15-second refresh)"]:
            path, headers = (page.split(" ")[0], {"X-Partial": "1"}) if " " in page else (page, {})
            times = []
            for _ in range(REQUESTS):
                t = time.perf_counter()
                resp = client.get(path, headers=headers)
                times.append((time.perf_counter() - t) * 1000)
                assert resp.status_code == 200, resp.status_code
            figures[f"{page}: ms p50/p99 ({len(resp.data) // 1024} KB)"] = p50_p99(times, 0)
    figures["target"] = "every page under 300 ms"
    record("14. Organiser pages", figures)
    return figures


if __name__ == "__main__":
    run()
