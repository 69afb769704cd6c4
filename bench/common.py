"""What every benchmark shares: the machine description, a system under test started as the
Procfile says, a fast fake platform server, and recording results in bench/RESULTS.md."""

from __future__ import annotations

import asyncio
import json
import os
import platform
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import redis
from aiohttp import web

from bot import procfile
from bot.local import wait_healthy
from bot.redis_server import RedisServer, free_port
from tests.fakes.limits import Limits, Window, retry_after

ID_SECRET = "bench-one-way-id-secret"  # the processes' ID_SECRET, for Store(r, secret=...)
ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "RESULTS.md"
RAW = ROOT / "bench" / "results.json"


def machine(r: redis.Redis | None = None) -> dict[str, str]:
    """Cores, CPU, Python and Redis versions, and the date: printed with every figure."""
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    info = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cores": str(os.cpu_count()),
        "cpu": cpu,
        "python": platform.python_version(),
    }
    if r is not None:
        info["redis"] = r.info("server")["redis_version"]
    return info


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile (0-100) by nearest rank."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def decode_postcode(key: int) -> str:
    """A postcode back from the offline index's base-36 key ("N76AA" -> "N7 6AA")."""
    digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    out = ""
    while key:
        key, d = divmod(key, 36)
        out = digits[d] + out
    return f"{out[:-3]} {out[-3:]}"


def p50_p99(values: list[float], digits: int = 1) -> str:
    """``p50/p99`` of the values, rounded."""
    return f"{percentile(values, 50):.{digits}f}/{percentile(values, 99):.{digits}f}"


def campaign_config(tmp: Path, *settings: str) -> Path:
    """config.yaml with rooms.csv and targets.csv from ``tmp`` and settings (YAML lines)
    replacing the sample's."""
    lines = []
    keys = {line.split(":", 1)[0] for line in settings}
    for line in (ROOT / "config.yaml").read_text().splitlines():
        if line.split(":", 1)[0] not in keys:
            lines.append(line.replace("data/rooms.csv", "rooms.csv").replace("data/", ""))
    (tmp / "config.yaml").write_text("\n".join([*lines, *settings]) + "\n")
    return tmp / "config.yaml"


def record(name: str, figures: dict, notes: str = "") -> None:
    """Print a benchmark's figures and keep them in bench/results.json (RESULTS.md is
    rewritten from it by ``python -m bench``)."""
    print(f"\n== {name}")
    for key, value in figures.items():
        print(f"  {key}: {value}")
    data = json.loads(RAW.read_text()) if RAW.exists() else {}
    # Keep the written-up notes of a section when it is measured again.
    data[name] = {"figures": figures, "notes": notes or data.get(name, {}).get("notes", "")}
    RAW.write_text(json.dumps(data, indent=2) + "\n")


def tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by a process and its live descendants."""
    tick = os.sysconf("SC_CLK_TCK")
    stats: dict[int, tuple[int, float]] = {}  # pid -> (parent, seconds)
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # gone meanwhile
            stats[int(entry)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / tick)
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        total += stats.get(p, (0, 0.0))[1]
        todo.extend(child for child, (parent, _) in stats.items() if parent == p)
    return total


class System:
    """Redis, the web process and workers from the Procfile, with the given environment."""

    def __init__(self, tmp: Path, env: dict[str, str], workers: int = 2) -> None:
        self.tmp, self.workers = tmp, workers
        self.redis = RedisServer(tmp / "redis").start()
        self.r = redis.Redis.from_url(self.redis.url)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "TELEGRAM_"))},
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "PORT": str(self.port),
            "REDIS_URL": self.redis.url,
            "VAR_DIR": str(ROOT / "var"),
            "PUBLIC_URL": self.url,
            "ID_SECRET": ID_SECRET,
            **env,
        }
        self.procs: list[subprocess.Popen] = []

    def start(self, web_app: str | None = None, workers: int | None = None) -> None:
        """Start the web process (optionally serving another app) and the workers."""
        commands = procfile.read(ROOT / "Procfile")
        web = commands["web"]
        if web_app:
            web = re.sub(r"'[^']+:create_app\(\)'", f"'{web_app}'", web)
        logs = self.tmp / "logs"
        logs.mkdir(exist_ok=True)
        self.procs.append(procfile.start(web, self.env, (logs / "web.log").open("wb"), str(ROOT)))
        for i in range(self.workers if workers is None else workers):
            log = (logs / f"worker{i}.log").open("wb")
            self.procs.append(procfile.start(commands["worker"], self.env, log, str(ROOT)))
        wait_healthy(self.url + "/healthz", self.procs, logs=str(logs))

    def cpu(self) -> dict[str, float]:
        """CPU seconds used so far by the web process, the workers, Redis and this process
        (the load generator and the fakes), to say where a benchmark's time went."""
        web, *workers = self.procs
        return {
            "web": tree_cpu(web.pid),
            "workers": sum(tree_cpu(w.pid) for w in workers),
            "redis": tree_cpu(self.redis.pid or 0),
            "load generator and fakes": time.process_time(),  # this process, all threads
        }

    def stop(self) -> None:
        """Stop every process and Redis."""
        procfile.stop(self.procs)
        self.procs = []
        self.redis.stop()


def client_connector() -> aiohttp.TCPConnector:
    """The load generator's connection pool. It closes a connection idle for a second, before
    gunicorn does (its keep-alive is 2 s): reusing one the server was closing at that moment
    failed the request, and a slow run, with people idle longer between messages, failed
    whole benchmarks."""
    return aiohttp.TCPConnector(limit=1000, keepalive_timeout=1.0)


async def deliver(session: aiohttp.ClientSession, url: str, **request: object) -> None:
    """POST one webhook delivery and expect 200. A delivery whose connection dropped is made
    again, as a platform retries a webhook (the update id or MessageSid makes it safe)."""
    for attempt in range(3):
        try:
            async with session.post(url, **request) as resp:  # type: ignore[arg-type]
                assert resp.status == 200, await resp.text()
                return
        except aiohttp.ClientConnectionError:
            if attempt == 2:
                raise


class FastFake:
    """A fake Telegram Bot API and Twilio Messages API on aiohttp (keep-alive), fast enough
    not to be the bottleneck; calls ``on_send(channel, recipient, text)`` for every message."""

    def __init__(
        self,
        on_send: Callable[[str, str, str], None] | None = None,
        limits: dict[str, float] | None = None,
    ) -> None:
        """``limits``: messages a second per channel the platform allows (Telegram also
        bursts of three a chat, as tests/fakes); beyond them it answers 429 with a retry
        hint and delivers nothing. None: no limits, so our own CPU is what is measured."""
        self.on_send = on_send or (lambda *a: None)
        limits = limits or {}
        self.limits = {
            "telegram": Limits(Window.per_second(limits.get("telegram")), Window(3, 3.0)),
            "whatsapp": Limits(Window.per_second(limits.get("whatsapp"))),
            "sms": Limits(Window.per_second(limits.get("sms"))),
        } if limits else {}  # fmt: skip
        self.refused = 0
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.count = 0
        self.times: list[float] = []
        self.keep_times = False
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None

    async def _telegram(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        data = await request.post()
        if method == "sendMessage":
            chat_id = str(data.get("chat_id"))
            if wait := self._refuse("telegram", "", chat_id):
                seconds = retry_after(wait)
                body = {"ok": False, "error_code": 429, "parameters": {"retry_after": seconds},
                        "description": f"Too Many Requests: retry after {seconds}"}  # fmt: skip
                return web.json_response(body, status=429)
            self._sent("telegram", chat_id, str(data.get("text", "")))
            chat = {"id": int(data.get("chat_id", 0)), "type": "private"}
            result = {"message_id": self.count, "date": int(time.time()), "chat": chat}
            return web.json_response({"ok": True, "result": result})
        if method == "getMe":
            user = {"id": 1, "is_bot": True, "first_name": "Bench", "username": "bench_bot"}
            return web.json_response({"ok": True, "result": user})
        return web.json_response({"ok": True, "result": True})

    async def _twilio(self, request: web.Request) -> web.Response:
        data = await request.post()
        to = str(data.get("To", ""))
        channel = "whatsapp" if to.startswith("whatsapp:") else "sms"
        if wait := self._refuse(channel, str(data.get("From", ""))):
            body = {"code": 20429, "message": "Too Many Requests", "status": 429}
            return web.json_response(
                body, status=429, headers={"Retry-After": str(retry_after(wait))}
            )
        self._sent(channel, to.removeprefix("whatsapp:"), str(data.get("Body", "")))
        body = {"sid": f"SM{self.count:032x}", "status": "queued", "to": to}
        return web.json_response(body, status=201)

    def _refuse(self, channel: str, *keys: str) -> float:
        """Seconds to wait when the platform's limit refuses this send, else 0.0 (counted)."""
        limits = self.limits.get(channel)
        if limits is None:
            return 0.0
        wait = limits.take(*keys)
        self.refused += wait > 0
        return wait

    def _sent(self, channel: str, recipient: str, text: str) -> None:
        self.count += 1
        if self.keep_times:
            self.times.append(time.time())
        self.on_send(channel, recipient, text)

    def start(self) -> FastFake:
        """Serve in a background thread."""
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._telegram)
        app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", self._twilio)

        async def up() -> None:
            self._runner = web.AppRunner(app, access_log=None)
            await self._runner.setup()
            await web.TCPSite(self._runner, "127.0.0.1", self.port, backlog=1024).start()

        self._loop.run_until_complete(up())
        threading.Thread(target=self._loop.run_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        if self._runner:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
