"""Benchmark 2: whole journeys, webhook -> workers -> the platform, under load.

Virtual supporters on Telegram each walk the journey (hi, a real postcode, a shift, YES,
YES), sending their next message THINK seconds after the bot answers the last one. Turns/s is
how many messages the bot handled a second; latency is from the webhook POST to the fake
Bot API receiving the first reply to it. Target: >= 1,000 turns/s with p99 <= 1 s.
A second run starts journeys at a steady rate below capacity (OFFERED turns/s), so its
latency is the bot's own rather than queueing behind 200 people; both runs report the CPU
every process spent per turn.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import tempfile
import threading
import time
from pathlib import Path

import aiohttp

from bench.common import (
    ROOT,
    FastFake,
    System,
    campaign_config,
    client_connector,
    decode_postcode,
    deliver,
    machine,
    p50_p99,
    record,
)
from bot.geo import OfflineGeocoder
from bot.seats import seats

SUPPORTERS, DURATION, WORKERS = 600, 30.0, 2
# Seconds a supporter takes to read an answer before writing again: Telegram lets a bot send
# one chat about one message a second, so faster than that they would wait on the platform.
THINK = 1.0
OFFERED = 200  # turns/s for the steady-load run: below what this machine tops out at
UPDATE_IDS, CHATS = itertools.count(1), itertools.count(10_000_000)  # unique across runs
STEPS = ["hi", None, "1", "yes", "yes"]  # None: the supporter's postcode


def write_campaign(
    tmp: Path,
    rng: random.Random,
    postcodes: list[str],
    *settings: str,
) -> Path:
    """A config with 2,000 roomy committee rooms in 500 target seats across Great Britain,
    and ``settings`` (YAML lines; default: limits far above what the bot can reach)."""
    geo = OfflineGeocoder.open(ROOT / "var" / "geo")
    names = sorted(s.code for s in seats().by_code.values())[:500]  # real seats, by code
    rows = ["id,name,address,postcode,constituency,latitude,longitude,capacity"]
    for i, pc in enumerate(rng.sample(postcodes, 2000)):
        loc = geo.locate(pc)
        rows.append(f"r{i},Room {i},{i} High Street,{pc},{names[i % 500]},"
                    f"{loc.latitude:.5f},{loc.longitude:.5f},100000")  # fmt: skip
    (tmp / "rooms.csv").write_text("\n".join(rows) + "\n")
    targets = "\n".join(f"{names[i]},{1 + i % 10}" for i in range(500))
    (tmp / "targets.csv").write_text("constituency,priority\n" + targets + "\n")
    settings = settings or ("rate_limits: {telegram: 100000}", "message_quota: 1000")
    return campaign_config(tmp, *settings)


async def drive(
    system: System, waiters: dict, postcodes: list[str], rng: random.Random, offered: float = 0
) -> dict:
    """Run journeys for DURATION seconds: SUPPORTERS people each starting a new journey as
    soon as the last ends (``offered`` 0: as fast as the bot goes), or new journeys started
    at a steady rate that offers ``offered`` turns/s, however fast the bot answers.
    Turns, latencies, CPU used."""
    url = system.url + "/webhooks/telegram"
    latencies: list[float] = []
    turns = 0
    deadline = time.monotonic() + DURATION
    headers = {"X-Telegram-Bot-Api-Secret-Token": "bench-secret"}
    loop = asyncio.get_running_loop()

    async def journey(session: aiohttp.ClientSession) -> bool:
        nonlocal turns
        chat = next(CHATS)
        for step in STEPS:
            text = step or rng.choice(postcodes)
            update_id = next(UPDATE_IDS)
            body = {"update_id": update_id, "message": {
                "message_id": update_id, "date": int(time.time()),
                "from": {"id": chat, "is_bot": False, "first_name": "Bench"},
                "chat": {"id": chat, "type": "private"}, "text": text}}  # fmt: skip
            reply = loop.create_future()
            waiters[str(chat)] = (loop, reply)
            start = time.perf_counter()
            await deliver(session, url, json=body, headers=headers)
            try:
                await asyncio.wait_for(reply, 30)
            except TimeoutError:
                return False
            latencies.append(time.perf_counter() - start)
            turns += 1
            await asyncio.sleep(THINK)  # reading it (and the rest of this turn's replies)
            if time.monotonic() >= deadline:
                return False
        return True

    async def supporter(session: aiohttp.ClientSession) -> None:
        while time.monotonic() < deadline and await journey(session):
            pass

    async def arrivals(session: aiohttp.ClientSession) -> None:
        every, started = len(STEPS) / offered, time.monotonic()
        running = []
        for n in range(int(DURATION / every)):
            await asyncio.sleep(max(0.0, started + n * every - time.monotonic()))
            running.append(asyncio.ensure_future(journey(session)))
        await asyncio.gather(*running)

    connector = client_connector()
    async with aiohttp.ClientSession(connector=connector) as session:
        started, cpu = time.monotonic(), system.cpu()
        if offered:
            await arrivals(session)
        else:
            await asyncio.gather(*(supporter(session) for _ in range(SUPPORTERS)))
        elapsed = time.monotonic() - started
        used = {k: v - cpu[k] for k, v in system.cpu().items()}
    return {"turns": turns, "elapsed": elapsed, "latencies": latencies, "cpu": used}


def run() -> dict:
    """Start the system on a big campaign and drive it."""
    rng = random.Random(7)
    geo = OfflineGeocoder.open(ROOT / "var" / "geo")
    keys = geo._keys[:: len(geo) // 20_000]
    postcodes = [decode_postcode(int(k)) for k in keys]
    waiters: dict[str, tuple] = {}
    lock = threading.Lock()

    def on_send(channel: str, recipient: str, text: str) -> None:
        with lock:
            waiter = waiters.pop(recipient, None)
        if waiter:
            loop, fut = waiter
            loop.call_soon_threadsafe(lambda: fut.done() or fut.set_result(text))

    fake = FastFake(on_send).start()
    with tempfile.TemporaryDirectory() as tmp:
        config = write_campaign(Path(tmp), rng, postcodes)
        env = {
            "BOT_CONFIG": str(config),
            "TELEGRAM_BOT_TOKEN": "1:bench",
            "TELEGRAM_WEBHOOK_SECRET": "bench-secret",
            "TELEGRAM_API_URL": fake.url,
        }
        system = System(Path(tmp), env, workers=WORKERS)
        try:
            system.start()
            time.sleep(2)  # workers load the rooms and targets (the directory)
            result = asyncio.run(drive(system, waiters, postcodes, rng))
            time.sleep(3)  # let the backlog clear
            steady = asyncio.run(drive(system, waiters, postcodes, rng, offered=OFFERED))
        finally:
            system.stop()
            fake.stop()
    lat = [x * 1000 for x in result["latencies"]]
    busy = sum(result["cpu"].values()) / (result["elapsed"] * (os.cpu_count() or 1))
    figures = {
        **machine(),
        "setup": f"gunicorn as in the Procfile + {WORKERS} workers, {SUPPORTERS} virtual "
        f"supporters, {DURATION:.0f} s, 2,000 rooms",
        "turns": result["turns"],
        "turns/s": round(result["turns"] / result["elapsed"]),
        "latency p50/p99 ms (webhook -> first reply at the fake)": p50_p99(lat, 0),
        "replies sent": fake.count,
        **{
            f"CPU ms per turn: {name}": round(seconds * 1000 / max(result["turns"], 1), 2)
            for name, seconds in result["cpu"].items()
        },
        "CPU busy (all processes, of cores x elapsed)": f"{busy:.0%}",
        f"steady load: journeys started at a rate offering {OFFERED} turns/s; turns/s": round(
            steady["turns"] / steady["elapsed"]
        ),
        "steady load: latency p50/p99 ms": p50_p99([x * 1000 for x in steady["latencies"]], 0),
        "target": ">= 1,000 turns/s, p99 <= 1 s",
    }
    record("2. End to end", figures)
    return figures


if __name__ == "__main__":
    run()
