"""Benchmark 14: the organiser pages with 1,000 rooms and 100,000 supporters.

Target: every page under 300 ms of server time (p99 of repeated requests, through Flask's
test client in this process, against a real Redis).
"""

from __future__ import annotations

import random
import re
import tempfile
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlencode

import redis

from bench.common import ROOT, machine, p50_p99, record
from bench.matching import SEATS, SHIFTS
from bot.app import create_app
from bot.broadcasts import Audience
from bot.config import Settings, load_campaign
from bot.model.message import Location
from bot.redis_server import RedisServer
from bot.rooms import Room
from bot.store import Store, keys
from bot.store.broadcasts import Broadcasts

ROOMS, SUPPORTERS, SHARERS, REQUESTS = 1_000, 100_000, 5_000, 30
PAST = 20  # broadcasts, as the list shows them
TOKEN = "bench-admin-token"
PARTIAL = {"X-Partial": "1"}
BY_SEAT = "/admin/?" + urlencode({"seat": SEATS[0]})
PAGES = ["/admin/", "/admin/?shift=morning&sort=priority", BY_SEAT, "/admin/broadcasts",
         f"/admin/broadcasts/{PAST}"]  # fmt: skip
# The composer's dry run, as its fields change: everyone (100,000 people to select, order
# and count by channel, 20,000 WhatsApp reply windows to look up), then one seat's pledged.
DRY_RUNS = {"everyone": {}, "one seat, pledged": {"constituency": SEATS[0], "pledged": "yes"}}


def populate(store: Store, r: redis.Redis, rng: random.Random) -> None:
    """Rooms in 100 seats (20 of them targets), and the keys the pages read filled as a day
    of 100,000 supporters leaves them: people by channel, consent, pledges, reply windows,
    pledges per room and shift, referral counts, the hourly timeline, 20 past broadcasts."""
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
    # 70% on Telegram, 20% on WhatsApp (half of them quiet for over a day), 10% on SMS; 90%
    # agreed to updates; 40% pledged, to a room and shift.
    channels = ["telegram"] * 7 + ["whatsapp"] * 2 + ["sms"]
    people = [f"{channels[i % 10]}:{100_000 + i}" for i in range(SUPPORTERS)]
    now = time.time()
    for i in range(0, SUPPORTERS, 10_000):
        chunk = people[i : i + 10_000]
        pipe.sadd(keys.PEOPLE(p), *chunk)
        pipe.sadd(keys.CONSENTED(p), *[a for n, a in enumerate(chunk) if n % 10])
        pipe.hset(keys.PLEDGE(p), mapping={a: f"r{rng.randrange(ROOMS)}|{SHIFTS[n % 3]}"
                                           for n, a in enumerate(chunk) if n % 5 < 2})  # fmt: skip
        pipe.hset(keys.LASTIN(p), mapping={a: now - rng.choice((600, 2 * 86400))
                                           for a in chunk if a.startswith("whatsapp")})  # fmt: skip
    pipe.hset(keys.SUPPORTERS(p), mapping=Counter(a.split(":")[0] for a in people))
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
    bc = Broadcasts(store)
    for n in range(PAST):  # the list shows the last 20, each with its outcome
        recipients = people[n * 500 : (n + 1) * 500]
        bid = bc.create(f"Broadcast {n}", Audience(), recipients, 7)
        r.hset(keys.BC_COUNTS(p, bid=bid), mapping={"sent": 480, "failed": 5, "ambiguous": 1})


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
            path, headers = (page.split(" ")[0], PARTIAL) if " " in page else (page, {})
            times = []
            for _ in range(REQUESTS):
                t = time.perf_counter()
                resp = client.get(path, headers=headers)
                times.append((time.perf_counter() - t) * 1000)
                assert resp.status_code == 200, resp.status_code
            figures[f"{page}: ms p50/p99 ({len(resp.data) // 1024} KB)"] = p50_p99(times, 0)
        csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/admin/").text).group(1)
        for name, fields in DRY_RUNS.items():
            data = {"csrf": csrf, "text": "Polls close at 10pm!", **fields}
            times = []
            for _ in range(REQUESTS):
                t = time.perf_counter()
                resp = client.post("/admin/broadcasts/preview", data=data, headers=PARTIAL)
                times.append((time.perf_counter() - t) * 1000)
                assert resp.status_code == 200, resp.text
            reach = re.search(r'data-count="(\d+)"', resp.text).group(1)
            figures[f"dry run, {name} ({int(reach):,} people): ms p50/p99"] = p50_p99(times, 0)
    figures["target"] = "every page under 300 ms"
    record("14. Organiser pages", figures)
    return figures


if __name__ == "__main__":
    run()
