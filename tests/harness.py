"""The whole system as a test fixture: gunicorn and workers started from the Procfile, an
embedded Redis, fake Telegram, Twilio and postcodes.io servers, and helpers that talk to it
the way the platforms do."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

import redis
import requests
import yaml

from bot import procfile
from bot.campaign import DEFAULT_RATE_LIMITS
from bot.config import FAKES_ENV
from bot.model.message import Inbound
from bot.redis_server import RedisServer, free_port
from bot.rehearsal import LocalChat
from bot.store import Store
from tests.fakes import (
    TEST_ACCOUNT_SID,
    TEST_AUTH_TOKEN,
    FakePostcodesIo,
    FakeTelegram,
    FakeTwilio,
    sign,
)

ROOT = Path(__file__).resolve().parent.parent
SECRET = "e2e-secret"
ID_SECRET = "e2e-one-way-id-secret"  # keys one-way ids: Store(bot.r, secret=ID_SECRET)
ADMIN_TOKEN = "e2e-admin-token"
BOT_NUMBER = "+447700900000"

CONFIG = """
name: Test Party
polling_day: 2029-05-03
shifts:
  - {id: morning, label: Morning, start: "07:00", end: "12:00"}
  - {id: afternoon, label: Afternoon, start: "12:00", end: "17:00"}
  - {id: evening, label: Evening, start: "17:00", end: "22:00"}
rooms: rooms.csv
targets: targets.csv
telegram_username: test_pollday_bot
whatsapp_number: "+44 7700 900000"
max_distance_km: 30
organiser_contact: ring 020 7946 0000
imprint: "Promoted by T. Agent for Test Party, 1 Test Street, London N1 1AA."
"""
ROOMS = """\
id,name,address,postcode,constituency,latitude,longitude,capacity,capacity_evening,contact
holloway,Holloway Labour Hall,1 Holloway Road,N7 6BU,Islington North,51.56007,-0.11567,1,,
archway,Archway Centre,2 Archway Close,N19 4LU,E14001265,51.56290,-0.12178,5,0,
safe,Safe Seat Rooms,3 Safe Street,N7 6AA,Islington South and Finsbury,51.55420,-0.10980,10,,
whitehall,Whitehall Rooms,4 Whitehall,SW1A 1AA,Cities of London & Westminster,,,3,,
"""
# Seats as people write them: a code, another case, "&" for "and".
TARGETS = (
    "constituency,priority\nE14001305,1\nHampstead and Highgate,2\n"
    "cities of london and westminster,3\n"
)
POSTCODES = {
    "N7 6AA": (51.5541, -0.1097),
    "SW1A 1AA": (51.50101, -0.14156),
    "N19 4LU": (51.5629, -0.12178),
    "N1 9GU": (51.5308, -0.1238),  # no room here: a supporter's own postcode
    "N5 1XL": (51.5530, -0.0990, "Islington North"),  # postcodes.io names its seat
}


class Bot:
    """The running system and helpers to talk to it like the platforms do."""

    def __init__(
        self,
        tmp: Path,
        config_extra: str = "",
        env: dict[str, str] | None = None,
        fsync: str = "everysec",
    ) -> None:
        self.tmp = tmp
        self.config_extra, self.extra_env = config_extra, env or {}
        # The fakes allow what the campaign's rate_limits say its accounts allow (Telegram's
        # 30/s, or paid broadcasts), and refuse beyond it as the platforms do.
        rates = {
            **DEFAULT_RATE_LIMITS,
            **(yaml.safe_load(CONFIG + config_extra).get("rate_limits") or {}),
        }
        self.telegram = FakeTelegram(per_second=rates["telegram"]).start()
        self.twilio = FakeTwilio(
            whatsapp_per_second=rates["whatsapp"], sms_per_second=rates["sms"]
        ).start()
        self.postcodes = FakePostcodesIo(POSTCODES).start()
        self.redis_server = RedisServer(tmp / "redis", fsync=fsync).start()
        self.r = redis.Redis.from_url(self.redis_server.url)
        self.redis_url = self.redis_server.url  # what the processes are given
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.http = requests.Session()  # keep-alive, like the platforms
        self.ids = itertools.count(500_000)
        self.procs: list = []

    def start(self, workers: int = 2) -> None:
        (self.tmp / "config.yaml").write_text(CONFIG + self.config_extra)
        (self.tmp / "rooms.csv").write_text(ROOMS)
        (self.tmp / "targets.csv").write_text(TARGETS)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "TELEGRAM_"))}
        env.update(
            PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
            PORT=str(self.port),
            REDIS_URL=self.redis_url,
            BOT_CONFIG=str(self.tmp / "config.yaml"),
            VAR_DIR=str(self.tmp / "var"),
            PUBLIC_URL=self.url,
            ID_SECRET=ID_SECRET,
            TELEGRAM_BOT_TOKEN="123456:TEST",
            TELEGRAM_WEBHOOK_SECRET=SECRET,
            TELEGRAM_API_URL=self.telegram.url,
            TWILIO_ACCOUNT_SID=TEST_ACCOUNT_SID,
            TWILIO_AUTH_TOKEN=TEST_AUTH_TOKEN,
            TWILIO_WHATSAPP_FROM=f"whatsapp:{BOT_NUMBER}",
            TWILIO_SMS_FROM=BOT_NUMBER,
            TWILIO_API_URL=self.twilio.url,
            GEOCODER="postcodes.io",
            POSTCODES_IO_URL=self.postcodes.url,
            ADMIN_TOKEN=ADMIN_TOKEN,
            **self.extra_env,
        )
        self.env = env
        self.logs: list[Path] = []
        for name in ["web"] + ["worker"] * workers:
            self.start_process(name)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if self.http.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise AssertionError("web never became healthy:\n" + self.log_tail())

    def start_process(self, name: str) -> subprocess.Popen:
        """Start one Procfile process (``web`` or ``worker``) with the system's environment."""
        log = (self.tmp / f"{name}-{len(self.procs)}.log").open("wb")
        self.logs.append(Path(log.name))
        proc = procfile.start(procfile.read(ROOT / "Procfile")[name], self.env, log, cwd=str(ROOT))
        self.procs.append(proc)
        return proc

    def admin(self, method: str, path: str, **kw) -> requests.Response:
        """Call the organiser API with the token."""
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        return self.http.request(method, self.url + "/admin/api" + path, headers=headers, **kw)

    def log_tail(self) -> str:
        return "\n".join(f"== {p.name}\n{p.read_text()[-3000:]}" for p in self.logs)

    def stop(self) -> None:
        procfile.stop(self.procs)
        self.redis_server.stop()
        for fake in (self.telegram, self.twilio, self.postcodes):
            fake.stop()

    # --- Telegram -----------------------------------------------------------------
    def tg_update(self, chat_id: int, secret: str | None = SECRET, **content) -> dict:
        return telegram_update(next(self.ids), chat_id, **content)

    def tg(self, chat_id: int, secret: str | None = SECRET, **content) -> dict:
        update = self.tg_update(chat_id, **content)
        self.post_tg(update, secret)
        return update

    def post_tg(self, update: dict, secret: str | None = SECRET) -> requests.Response:
        resp = post_telegram(self.http, self.url, update, secret)
        assert resp.status_code == (200 if secret == SECRET else 403), resp.text
        return resp

    def tg_sent(self, chat_id: int, n: int, timeout: float = 15) -> list[dict]:
        """Wait until chat_id has received n messages; return them all."""
        self.telegram.wait_for(lambda _: len(self.telegram.sent(chat_id)) >= n, timeout)
        time.sleep(0.05)
        sent = self.telegram.sent(chat_id)
        assert len(sent) == n, [m["text"] for m in sent]
        return sent

    # --- Twilio -------------------------------------------------------------------
    def tw(self, sender: str, body: str = "", signature: str | None = None, **extra) -> dict:
        form = twilio_form(next(self.ids), sender, body, **extra)
        self.post_tw(form, signature)
        return form

    def post_tw(self, form: dict, signature: str | None = None) -> requests.Response:
        resp = post_twilio(self.http, self.url, form, signature)
        assert resp.status_code == (200 if signature is None else 403), resp.text
        return resp

    def tw_sent(self, to: str, n: int, timeout: float = 15) -> list[str]:
        self.twilio.wait_for(lambda _: len(self.twilio.messages(to)) >= n, timeout)
        time.sleep(0.05)
        bodies = [m["Body"] for m in self.twilio.messages(to)]
        assert len(bodies) == n, bodies
        return bodies


def telegram_update(update_id: int, chat_id: int, **content) -> dict:
    """A Telegram update from ``chat_id``: a message (text=, location=) or a button (data=)."""
    user = {"id": chat_id, "is_bot": False, "first_name": "Ann_*[x]<b>&"}
    if "data" in content:
        body = {
            "callback_query": {
                "id": f"cb{update_id}",
                "from": user,
                "chat_instance": "1",
                "data": content["data"],
                "message": {
                    "message_id": 1,
                    "date": 1,
                    "chat": {"id": chat_id, "type": "private"},
                },
            }
        }
    else:
        message = {
            "message_id": update_id,
            "date": int(time.time()),
            "from": user,
            "chat": {"id": chat_id, "type": "private", "first_name": "Ann"},
            **content,
        }
        body = {"message": message}
    return {"update_id": update_id, **body}


def post_telegram(
    http: requests.Session, web: str, update: dict, secret: str | None = SECRET
) -> requests.Response:
    """Deliver a Telegram update to the web process at ``web``, with the webhook's secret
    header (none when ``secret`` is None)."""
    headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret else {}
    return http.post(web + "/webhooks/telegram", json=update, headers=headers)


def twilio_form(n: int, sender: str, body: str = "", **extra) -> dict:
    """Twilio's webhook form for the ``n``th message from ``sender`` (WhatsApp or SMS)."""
    whatsapp = sender.startswith("whatsapp:")
    return {
        "MessageSid": f"SM{n:032x}",
        "AccountSid": TEST_ACCOUNT_SID,
        "From": sender,
        "To": f"whatsapp:{BOT_NUMBER}" if whatsapp else BOT_NUMBER,
        "Body": body,
        "NumMedia": "0",
        **extra,
    }


def post_twilio(
    http: requests.Session, web: str, form: dict, signature: str | None = None
) -> requests.Response:
    """Deliver a Twilio webhook to the web process at ``web``, signed as Twilio signs it
    (unless a ``signature`` is given)."""
    url = web + "/webhooks/twilio"
    sig = sign(url, form, TEST_AUTH_TOKEN) if signature is None else signature
    return http.post(url, data=form, headers={"X-Twilio-Signature": sig})


class PlatformPhones:
    """The rehearsal's supporters (bot/rehearsal.Phones) on the fake Telegram, the fake
    Twilio's WhatsApp and the local chat, in turn: they write through the platforms'
    webhooks and read what the fakes were sent, so nobody real is messaged."""

    CHANNELS = ("telegram", "whatsapp", "console")

    def __init__(self) -> None:
        rates = DEFAULT_RATE_LIMITS
        self.telegram = FakeTelegram(per_second=rates["telegram"]).start()
        self.twilio = FakeTwilio(
            whatsapp_per_second=rates["whatsapp"], sms_per_second=rates["sms"]
        ).start()
        self.http = requests.Session()
        self.ids = itertools.count(1)
        self.web = ""
        self.read = {"telegram": 0, "twilio": 0}  # how many of each fake's sends were read

    def stop(self) -> None:
        self.telegram.stop()
        self.twilio.stop()

    def env(self, web: str) -> dict[str, str]:
        self.web = web
        return {
            "PUBLIC_URL": web,
            "TELEGRAM_BOT_TOKEN": "123456:TEST",
            "TELEGRAM_WEBHOOK_SECRET": SECRET,
            "TELEGRAM_API_URL": self.telegram.url,
            "TWILIO_ACCOUNT_SID": TEST_ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": TEST_AUTH_TOKEN,
            "TWILIO_WHATSAPP_FROM": f"whatsapp:{BOT_NUMBER}",
            "TWILIO_API_URL": self.twilio.url,
            FAKES_ENV: "1",  # the fast clock with platforms on: these fakes
        }

    @classmethod
    def address(cls, i: int) -> str:
        channel = cls.CHANNELS[i % len(cls.CHANNELS)]
        if channel == "telegram":
            return f"telegram:{800_000 + i}"
        if channel == "whatsapp":
            assert i < 1000  # Ofcom's numbers for drama: 07700 900000 to 900999
            return f"whatsapp:+447700900{i:03d}"
        return LocalChat.address(i)

    def deliver(self, store: Store, messages: list[Inbound]) -> None:
        if local := [m for m in messages if m.channel == "console"]:
            LocalChat().deliver(store, local)
        for m in messages:
            lat, lon = (m.location.latitude, m.location.longitude) if m.location else (0, 0)
            if m.channel == "telegram":
                pin = {"location": {"latitude": lat, "longitude": lon}}
                content = pin if m.location else {"text": m.text}
                update = telegram_update(next(self.ids), int(m.address.split(":")[1]), **content)
                resp = post_telegram(self.http, self.web, update)
            elif m.channel == "whatsapp":
                pin = {"Latitude": str(lat), "Longitude": str(lon)}
                form = twilio_form(next(self.ids), m.address, m.text, **(pin if m.location else {}))
                resp = post_twilio(self.http, self.web, form)
            else:
                continue
            assert resp.status_code == 200, resp.text

    def collect(self, store: Store, addresses: Iterable[str]) -> dict[str, list[str]]:
        got = LocalChat().collect(store, [a for a in addresses if a.startswith("console:")])
        telegram = self.telegram.sent()[self.read["telegram"] :]
        twilio = self.twilio.messages()[self.read["twilio"] :]
        self.read["telegram"] += len(telegram)
        self.read["twilio"] += len(twilio)
        for m in telegram:
            got.setdefault(f"telegram:{m['chat_id']}", []).append(m["text"])
        for m in twilio:
            got.setdefault(m["To"], []).append(m["Body"] or "")
        return got
