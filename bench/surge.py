"""Benchmark 11: the surge. Thousands arrive at once; the platform's limit is the ceiling.

New supporters arrive at random over ARRIVE_OVER seconds and each walks the journey (hi, a
real postcode, a shift, YES, YES), reading each answer for THINK seconds before the next
message. The fake platform refuses sends beyond its limit as the real one does (Telegram
30/s for the bot and bursts of three a chat; Twilio per sender), so the bot's pacing is what
is measured. Figures: messages per journey; completed journeys per minute against the
ceiling (limit x 60 / messages per journey); platform refusals per 1,000 sends; time from a
person's message to the bot's answer, p50/p99 and as the queue grows; how long anyone waited
beyond their turn in the order people wrote; and the supporters an hour one bot can take.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import aiohttp

from bench.common import (
    ROOT,
    FastFake,
    System,
    client_connector,
    decode_postcode,
    deliver,
    machine,
    p50_p99,
    record,
)
from bench.e2e import write_campaign
from bot.campaign import DEFAULT_RATE_LIMITS, PAID_TELEGRAM_RATE
from bot.geo import OfflineGeocoder
from tests.fakes import sign

WORKERS = 2
THINK = 1.0  # seconds a person takes to read an answer and write the next message
STEPS = ["hi", None, "1", "yes", "yes"]  # None: the supporter's postcode
TWILIO_TOKEN = "bench-twilio-token"
SMS_FROM, WA_FROM = "+447700900000", "whatsapp:+447700900000"
IDS = itertools.count(1)
BUCKET = 30.0  # seconds per row of the latency-against-queue figure


@dataclass
class Person:
    """One supporter: their channel and address, and each message's send and answer times."""

    channel: str
    recipient: str  # as the fake sees it: a chat id or a number
    sent: list[float] = field(default_factory=list)
    answered: list[float] = field(default_factory=list)
    finished: float | None = None


class Surge:
    """Arrivals, journeys and what the fake platform saw."""

    def __init__(self, system: System, postcodes: list[str], rng: random.Random) -> None:
        self.system, self.postcodes, self.rng = system, postcodes, rng
        self.waiting: dict[str, tuple[asyncio.AbstractEventLoop, asyncio.Future]] = {}
        self.received: Counter[str] = Counter()
        self.sends: defaultdict[str, list[float]] = defaultdict(list)  # when, by channel
        self.lock = threading.Lock()
        self.people: list[Person] = []

    def on_send(self, channel: str, recipient: str, text: str) -> None:
        """The fake delivered a message: count it, and wake whoever waits for an answer."""
        with self.lock:
            self.received[recipient] += 1
            self.sends[channel].append(time.monotonic())
            waiter = self.waiting.pop(recipient, None)
        if waiter:
            loop, fut = waiter
            loop.call_soon_threadsafe(lambda: fut.done() or fut.set_result(time.monotonic()))

    async def post(self, session: aiohttp.ClientSession, person: Person, text: str) -> None:
        """What the platform would deliver to the webhook when the person writes ``text``."""
        n = next(IDS)
        if person.channel == "telegram":
            chat = int(person.recipient)
            body = {"update_id": n, "message": {
                "message_id": n, "date": int(time.time()),
                "from": {"id": chat, "is_bot": False, "first_name": "Surge"},
                "chat": {"id": chat, "type": "private"}, "text": text}}  # fmt: skip
            headers = {"X-Telegram-Bot-Api-Secret-Token": "bench-secret"}
            await deliver(session, self.system.url + "/webhooks/telegram", json=body,
                          headers=headers)  # fmt: skip
            return
        sender = person.recipient if person.channel == "sms" else f"whatsapp:{person.recipient}"
        to = SMS_FROM if person.channel == "sms" else WA_FROM
        form = {"MessageSid": f"SM{n:032x}", "AccountSid": "AC" + "0" * 32, "From": sender,
                "To": to, "Body": text, "NumMedia": "0"}  # fmt: skip
        url = self.system.url + "/webhooks/twilio"
        headers = {"X-Twilio-Signature": sign(url, form, TWILIO_TOKEN),
                   "Content-Type": "application/x-www-form-urlencoded"}  # fmt: skip
        await deliver(session, url, data=urlencode(form), headers=headers)

    async def journey(self, session: aiohttp.ClientSession, person: Person) -> None:
        loop = asyncio.get_running_loop()
        for step in STEPS:
            answer = loop.create_future()
            with self.lock:
                self.waiting[person.recipient] = (loop, answer)
            person.sent.append(time.monotonic())
            await self.post(session, person, step or self.rng.choice(self.postcodes))
            try:
                person.answered.append(await asyncio.wait_for(answer, 900))
            except TimeoutError:
                return
            await asyncio.sleep(THINK)
        person.finished = person.answered[-1]

    async def run(self, arrivals: dict[str, int], over: float) -> float:
        """Everyone arrives at a random moment within ``over`` seconds; returns when the
        first arrived (monotonic)."""
        numbers = itertools.count(447_700_100_000)
        chats = itertools.count(50_000_000)
        for channel, count in arrivals.items():
            for _ in range(count):
                recipient = str(next(chats)) if channel == "telegram" else f"+{next(numbers)}"
                self.people.append(Person(channel, recipient))
        at = sorted(self.rng.uniform(0, over) for _ in self.people)
        self.rng.shuffle(self.people)
        started = time.monotonic()

        async def arrive(person: Person, delay: float) -> None:
            await asyncio.sleep(delay)
            await self.journey(session, person)

        connector = client_connector()
        async with aiohttp.ClientSession(connector=connector) as session:
            await asyncio.gather(*(arrive(p, d) for p, d in zip(self.people, at, strict=True)))
        return started


def overrun(messages: list[tuple[float, float]]) -> list[float]:
    """For each (sent, answered): how long after someone who wrote later was answered this
    one was (0 when no later writer was answered first): waiting beyond one's turn."""
    ordered = sorted(messages)
    out, earliest_later = [], float("inf")
    for _sent, answered in reversed(ordered):
        out.append(max(0.0, answered - earliest_later))
        earliest_later = min(earliest_later, answered)
    return out


def figures_for(surge: Surge, channel: str, limit: float, started: float) -> dict:
    """One channel's figures from one run."""
    people = [p for p in surge.people if p.channel == channel]
    done = [p for p in people if p.finished is not None]
    per_journey = sum(surge.received[p.recipient] for p in done) / max(len(done), 1)
    ceiling = limit * 60 / per_journey  # journeys a minute the platform allows
    finished = sorted(p.finished for p in done if p.finished)
    overall = len(finished) / (finished[-1] - started) * 60 if finished else 0.0
    pairs = [(s, a) for p in people for s, a in zip(p.sent, p.answered, strict=False)]
    waits = [a - s for s, a in pairs]
    late = overrun(pairs)
    per_ten = Counter(int((t - started) // 10) for t in surge.sends[channel])
    return {
        f"{channel}: people, journeys completed": f"{len(people)}, {len(done)}",
        f"{channel}: messages per journey": round(per_journey, 2),
        f"{channel}: journeys/min, first arrival to last journey done, against the ceiling "
        f"{limit:g}/s x 60 / {per_journey:.0f} = {ceiling:.0f}": (
            f"{overall:.0f} ({overall / ceiling:.2f})"
        ),
        f"{channel}: message -> answer p50/p99 s": p50_p99(waits, 1),
        f"{channel}: longest wait beyond one's turn s (max; p99)": (
            f"{max(late):.2f}; {sorted(late)[int(len(late) * 0.99)]:.2f}"
        ),
        f"{channel}: sends a second, each 10 s from the first arrival": " ".join(
            str(round(n / 10)) for _, n in sorted(per_ten.items())
        ),
        f"{channel}: supporters an hour at {limit:g}/s": round(
            limit * 3600 / per_journey * min(1.0, overall / ceiling)
        ),
    }


def queue_growth(surge: Surge, started: float) -> str:
    """Per BUCKET seconds: people waiting for an answer at its start, and the p50 time to
    an answer for messages sent in it."""
    pairs = [(s, a) for p in surge.people for s, a in zip(p.sent, p.answered, strict=False)]
    rows, buckets = [], defaultdict(list)
    for s, a in pairs:
        buckets[int((s - started) // BUCKET)].append(a - s)
    for b in sorted(buckets):
        t = started + b * BUCKET
        waiting = sum(1 for s, a in pairs if s <= t < a)
        waits = sorted(buckets[b])
        rows.append(f"{b * BUCKET:.0f}s: {waiting} waiting, p50 {waits[len(waits) // 2]:.1f} s")
    return "; ".join(rows)


def surge_run(arrivals: dict[str, int], over: float, limits: dict[str, float]) -> dict:
    """Start the system with ``limits`` at the bot and the fake alike, and let them come."""
    rng = random.Random(11)
    geo = OfflineGeocoder.open(ROOT / "var" / "geo")
    postcodes = [decode_postcode(int(k)) for k in geo._keys[:: len(geo) // 20_000]]
    surge_holder: list[Surge] = []
    fake = FastFake(lambda *a: surge_holder[0].on_send(*a), limits=limits).start()
    with tempfile.TemporaryDirectory() as tmp:
        rates = ", ".join(f"{k}: {v:g}" for k, v in limits.items())
        paid = limits.get("telegram", 0) > DEFAULT_RATE_LIMITS["telegram"]
        config = write_campaign(Path(tmp), rng, postcodes, f"rate_limits: {{{rates}}}",
                                f"telegram_paid_broadcast: {str(paid).lower()}")  # fmt: skip
        env = {
            "BOT_CONFIG": str(config),
            "TELEGRAM_BOT_TOKEN": "1:bench",
            "TELEGRAM_WEBHOOK_SECRET": "bench-secret",
            "TELEGRAM_API_URL": fake.url,
            "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
            "TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
            "TWILIO_SMS_FROM": SMS_FROM,
            "TWILIO_WHATSAPP_FROM": WA_FROM,
            "TWILIO_API_URL": fake.url,
        }
        system = System(Path(tmp), env, workers=WORKERS)
        try:
            system.start()
            time.sleep(2)  # workers load the rooms and targets
            surge = Surge(system, postcodes, rng)
            surge_holder.append(surge)
            cpu = system.cpu()
            started = asyncio.run(surge.run(arrivals, over))
            used = {k: v - cpu[k] for k, v in system.cpu().items()}
        finally:
            system.stop()
            fake.stop()
    turns = sum(len(p.answered) for p in surge.people)
    out: dict = {}
    for channel in arrivals:
        out.update(figures_for(surge, channel, limits[channel], started))
        refused, sent = fake.limits[channel].refused, len(surge.sends[channel])
        out[f"{channel}: platform refusals (429) per 1,000 sends"] = round(refused * 1000 / sent, 1)
    out["platform refusals (429) per 1,000 sends"] = round(fake.refused * 1000 / fake.count, 1)
    out["people waiting, and p50 time to an answer, as the queue grows"] = queue_growth(
        surge, started
    )
    out.update(
        {f"CPU ms per turn: {name}": round(s * 1000 / max(turns, 1), 2) for name, s in used.items()}
    )
    return out


def run() -> dict:
    """The Telegram surge at the default limit, then all three channels at once."""
    telegram = surge_run({"telegram": 2000}, 60.0, dict(DEFAULT_RATE_LIMITS))
    mixed = surge_run(
        {"telegram": 600, "whatsapp": 1200, "sms": 200}, 60.0, dict(DEFAULT_RATE_LIMITS)
    )
    # Paid broadcasts: Telegram takes 1,000/s, more than two cores can answer, so this many
    # people arriving this fast measures our own ceiling.
    paid = surge_run(
        {"telegram": 3000}, 20.0, {**DEFAULT_RATE_LIMITS, "telegram": PAID_TELEGRAM_RATE}
    )
    figures = {
        **machine(),
        "setup": f"gunicorn as in the Procfile + {WORKERS} workers; people arrive at random "
        f"over 60 s and take {THINK:g} s to answer each message; the fake platform refuses "
        "beyond its limit (Telegram 30/s and 3 per chat per 3 s, WhatsApp 80/s, SMS 10/s)",
        **{f"Telegram surge, {k}": v for k, v in telegram.items()},
        **{f"mixed surge, {k}": v for k, v in mixed.items()},
        **{f"Telegram with paid broadcasts (3,000 over 20 s), {k}": v for k, v in paid.items()},
        "target": "journeys/min >= 0.9 of the ceiling; <= 5 refusals per 1,000 sends",
    }
    record("11. Surge", figures)
    return figures


if __name__ == "__main__":
    run()
