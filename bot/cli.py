"""``pollday``: the organisers' command line.

  pollday check                           what the bot works from; what would break the day
  pollday set-webhook                     register the Telegram webhook with its secret
  pollday rooms import FILE [--force]     replace the rooms (pledges kept by room id)
  pollday targets import FILE [--force]   replace the target seats
  pollday targets from-results FILE --party Labour --max-majority-pct 10 [-o OUT] [--import]
                                          choose targets from the HoC results file
  pollday polling-day DATE                move the data to the polling day config.yaml names
  pollday login NAME [--role admin|viewer] a token for an organiser to sign in to the pages
  pollday purge [--dry-run]               remove personal data now (normally scheduled)
  pollday rehearse [--supporters 300] [--minutes 15] [--seed 1]
                                          play polling day fast with simulated supporters,
                                          on a Redis of its own; the board at a printed URL

Commands that touch data use ``REDIS_URL`` (``make run`` prints it). Every command takes
``--json`` for scripts: the same facts as JSON, and errors as ``{"error": ...}``.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import io
import json
import math
import os
import secrets
import sys
from dataclasses import asdict, dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import redis

from bot import local, organising
from bot.channels import enabled
from bot.config import ROLES, ConfigError, Settings, load_settings
from bot.geo import make_geocoder
from bot.rooms import CsvError, Directory, Upload, load_rooms, load_targets
from bot.store import Store
from bot.targets import targets_from_results, write_targets_csv


@dataclass(frozen=True)
class Output:
    """A command's result: text for people, and the same facts as JSON for scripts."""

    text: str
    data: dict[str, Any]


def check(settings: Settings) -> Output:
    """Check what the bot will work from: the rooms and targets live in Redis when it can be
    reached and holds them, else the files in config.yaml (as the first worker would load
    them). A summary; ConfigError when something would break the day; CsvError."""
    c = settings.campaign
    directory, source = _live_directory(settings)
    if directory is None:
        geo = make_geocoder(settings.geocoder, settings.var_dir / "geo", settings.postcodes_io_url)
        rooms = load_rooms(c.rooms_csv, c.shift_ids, geo)
        directory = Directory(rooms, load_targets(c.targets_csv))
    others = directory.unmatched()
    on = [name for name, channel in enabled(settings).items() if channel.receiving]
    found = organising.check_directory(directory, c)
    lines = [
        f"{'ok' if not found.problems else 'problem'}: {len(directory.rooms)} rooms, "
        f"{len(directory.rooms) - len(others)} of them in target seats ({source}); "
        f"{len(c.shifts)} shifts on {c.polling_day}; "
        f"channels on: {', '.join(on) or 'none (set credentials, see README)'}",
        *found.lines,
    ]
    if found.problems:
        raise ConfigError("\n".join([*found.problems, *lines]))
    data = {
        "ok": True,
        "source": source,
        "rooms": len(directory.rooms),
        "rooms_in_target_seats": len(directory.rooms) - len(others),
        "shifts": list(c.shift_ids),
        "polling_day": c.polling_day.isoformat(),
        "channels_on": on,
        **asdict(found),
    }
    return Output("\n".join(lines), data)


def _live_directory(settings: Settings) -> tuple[Directory | None, str]:
    """The rooms and targets in Redis, or None (and why) when the files are what counts."""
    files = "the files named in config.yaml"
    if not settings.redis_url:
        return None, f"{files}; REDIS_URL is not set"
    try:
        store = _store(settings)
        if not store.rooms.version():
            return None, f"{files}: nothing imported into Redis yet"
        return store.rooms.load(), "live in Redis"
    except redis.RedisError as exc:
        return None, f"{files}; Redis not reachable: {type(exc).__name__}"


def set_webhook(settings: Settings) -> Output:
    """Register ``PUBLIC_URL/webhooks/telegram`` with the secret token."""
    from telegram import Bot

    if not (settings.telegram_on and settings.public_url.startswith("https://")):
        raise ConfigError(
            "set TELEGRAM_BOT_TOKEN, TELEGRAM_WEBHOOK_SECRET and an https:// PUBLIC_URL first"
        )

    async def go() -> bool:
        async with Bot(settings.telegram_token, base_url=f"{settings.telegram_api_url}/bot") as bot:
            return await bot.set_webhook(
                url=f"{settings.public_url}/webhooks/telegram",
                secret_token=settings.telegram_secret,
                allowed_updates=["message", "callback_query"],
                max_connections=40,
            )

    asyncio.run(go())
    url = f"{settings.public_url}/webhooks/telegram"
    return Output(f"webhook set: {url}", {"webhook": url})


def _store(settings: Settings) -> Store:
    if not settings.redis_url:
        raise ConfigError("REDIS_URL: not set (make run prints the one it started)")
    return Store(redis.Redis.from_url(settings.redis_url), settings.key_prefix, settings.id_secret)


def run(args: argparse.Namespace, settings: Settings) -> Output:
    """Carry out one parsed command; its output."""
    if args.command == "check":
        return check(settings)
    if args.command == "set-webhook":
        return set_webhook(settings)
    if args.command == "rooms":
        geocoder = make_geocoder(
            settings.geocoder, settings.var_dir / "geo", settings.postcodes_io_url
        )
        result = organising.import_rooms(
            _store(settings), settings.campaign, Path(args.file), geocoder, force=args.force
        )
        return Output(_rooms_text(result), vars(result))
    if args.command == "targets" and args.action == "import":
        result = organising.import_targets(_store(settings), Path(args.file), force=args.force)
        text = "\n".join([f"ok: {result.targets} target seats", *result.warnings])
        return Output(text, vars(result))
    if args.command == "targets":
        return targets_from_file(args, settings)
    if args.command == "polling-day":
        return move_polling_day(settings, args.date)
    if args.command == "login":
        return new_login(args.name, args.role)
    from workers import purge
    from workers.runtime import build

    rt = build(settings)
    found = purge.purge(rt, dry_run=args.dry_run)
    verb = "would remove" if args.dry_run else "removed"
    lines = [f"{verb} {n:>7}  {kind}" for kind, n in found.items()]
    data: dict[str, Any] = {"dry_run": args.dry_run, "removed": found}
    if args.dry_run:
        due = purge.due_at(rt)
        lines.insert(0, f"the purge runs by itself at {_when(due, settings)}")
        data["runs_at"] = due.isoformat()
    return Output("\n".join(lines), data)


def targets_from_file(args: argparse.Namespace, settings: Settings) -> Output:
    """``targets from-results``: the seats chosen, written out and/or imported."""
    chosen = targets_from_results(Path(args.file), args.party, args.max_majority_pct)
    text = io.StringIO()
    write_targets_csv(chosen, text)
    data: dict[str, Any] = {"targets": [vars(t) for t in chosen]}
    if args.output:
        Path(args.output).write_text(text.getvalue())
        data["written"] = args.output
    elif not args.do_import:
        return Output(text.getvalue().rstrip("\n"), data)
    if args.do_import:
        upload = Upload(
            f"{args.file} ({args.party} <= {args.max_majority_pct}%)", text.getvalue().encode()
        )
        result = organising.import_targets(_store(settings), upload, force=args.force)
        data.update(imported=result.targets, warnings=result.warnings)
        return Output("\n".join([f"{len(chosen)} target seats imported", *result.warnings]), data)
    return Output(f"{len(chosen)} target seats written", data)


def _rooms_text(result: organising.ImportResult) -> str:
    """A rooms import as an organiser reads it."""
    lines = [
        f"ok: {result.rooms} rooms ({len(result.added)} added, {len(result.updated)} updated, "
        f"{len(result.removed)} removed)"
    ]
    if result.moved:
        lines.append(f"{result.moved} people were pledged to removed rooms: each is told and "
                     "offered another")  # fmt: skip
    if result.over_capacity:
        lines.append(
            "more pledges than places now (room|shift): " + ", ".join(result.over_capacity)
        )
    return "\n".join(lines + [f"warning: {w}" for w in result.warnings])


def move_polling_day(settings: Settings, day: date) -> Output:
    """Move the data in Redis to a new polling day, as config.yaml now says: every
    pledge's reminders are scheduled again from it, and the purge moves with it."""
    from workers import purge, reminders
    from workers.runtime import build

    c = settings.campaign
    if c.polling_day != day:
        raise ConfigError(
            f"{c.source}: polling_day: {c.polling_day}; set polling_day: {day} there first "
            "(this command moves the data in Redis to match it)"
        )
    store = _store(settings)
    before = store.calendar.polling_day()
    if before == day:
        text = f"the data in Redis is already for polling day {day}: nothing to move"
        return Output(text, {"polling_day": day.isoformat(), "moved": False})
    store.calendar.set_polling_day(day)
    rt = build(settings)
    people = reminders.reschedule_all(rt)
    purge.schedule(rt)
    due = purge.due_at(rt)
    text = (
        f"polling day moved from {before} to {day}: reminders scheduled again for {people} "
        f"people; the purge runs by itself at {_when(due, settings)}"
    )
    data = {"polling_day": day.isoformat(), "moved": True, "from": before and before.isoformat(),
            "reminded": people, "purge_at": due.isoformat()}  # fmt: skip
    return Output(text, data)


def new_login(name: str, role: str) -> Output:
    """A token for a named organiser, and the lines config.yaml needs for it (only the
    token's SHA-256 goes in the file; the token goes to the organiser, once)."""
    token = secrets.token_urlsafe(24)
    digest = hashlib.sha256(token.encode()).hexdigest()
    entry = f"  - {{name: {json.dumps(name)}, role: {role}, token_sha256: {digest}}}"
    text = (
        f"token for {name} ({role}): {token}\n"
        "Give it to them privately; it is not shown again. Add this to config.yaml under\n"
        f"organiser_logins: (and restart the web process):\n{entry}"
    )
    return Output(text, {"name": name, "role": role, "token": token, "token_sha256": digest})


def _when(at: datetime, settings: Settings) -> str:
    """A time as an organiser reads it: campaign time, with UTC beside it."""
    local = at.astimezone(settings.campaign.timezone)
    return f"{local:%Y-%m-%d %H:%M} {settings.campaign.timezone.key} ({at:%Y-%m-%d %H:%M} UTC)"


def parser() -> argparse.ArgumentParser:
    """The command-line grammar."""
    p = argparse.ArgumentParser(
        prog="pollday", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = p.add_subparsers(dest="command", required=True)
    # Every command takes --json: the same facts for scripts (errors too, as {"error": ...}).
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="the result as JSON, for scripts")
    sub.add_parser("check", parents=[common], help="validate config.yaml, rooms and targets")
    sub.add_parser(
        "set-webhook", parents=[common], help="register the Telegram webhook with its secret"
    )
    rooms = sub.add_parser("rooms", help="committee rooms").add_subparsers(
        dest="action", required=True
    )
    imp = rooms.add_parser("import", parents=[common], help="replace the rooms from a CSV file")
    imp.add_argument("file")
    imp.add_argument("--force", action="store_true", help="remove rooms even with pledges")
    targets = sub.add_parser("targets", help="target seats").add_subparsers(
        dest="action", required=True
    )
    timp = targets.add_parser(
        "import", parents=[common], help="replace the targets from a CSV file"
    )
    timp.add_argument("file")
    timp.add_argument("--force", action="store_true", help="import even a file with no seats")
    res = targets.add_parser(
        "from-results", parents=[common], help="choose targets from the HoC results CSV"
    )
    res.add_argument("file")
    res.add_argument("--party", required=True, help="the party, as you write it: Labour, Lab")
    res.add_argument("--max-majority-pct", type=float, required=True)
    res.add_argument("-o", "--output", help="write the targets CSV here (default: stdout)")
    res.add_argument("--import", dest="do_import", action="store_true", help="also import them")
    res.add_argument("--force", action="store_true", help="import even if no seat qualifies")
    move = sub.add_parser(
        "polling-day",
        parents=[common],
        help="move the data in Redis to the polling day config.yaml now names",
    )
    move.add_argument("date", type=date.fromisoformat, help="the new polling day: 2029-05-10")
    login = sub.add_parser(
        "login", parents=[common], help="make a token for an organiser to sign in with"
    )
    login.add_argument("name", help="who it is for, as the pages will show them")
    login.add_argument("--role", choices=ROLES, default="viewer", help="default: viewer")
    purge = sub.add_parser("purge", parents=[common], help="remove personal data now")
    purge.add_argument("--dry-run", action="store_true", help="only list what would go")
    rehearse = sub.add_parser(
        "rehearse", parents=[common],
        help="play polling day fast with simulated supporters (a Redis of its own; nobody "
        "real is messaged); exit status 1 if the bot broke a rule",
    )  # fmt: skip
    rehearse.add_argument("--supporters", type=_positive, default=300, help="default: 300")
    rehearse.add_argument("--minutes", type=_minutes, default=15.0,
                          help="real minutes for the day, at least 2 (default: 15)")  # fmt: skip
    rehearse.add_argument("--seed", type=int, default=1, help="the same seed, the same people")
    return p


def _minutes(text: str) -> float:
    """Real minutes for a rehearsed day: at least 2, so that the bot's looks (a second
    apart at the least) still come several times in each of the day's waves."""
    try:
        n = float(text)
    except ValueError:
        n = 0.0
    if not (n >= 2 and math.isfinite(n)):
        raise argparse.ArgumentTypeError(f"expected a number of minutes, at least 2, got {text}")
    return n


def _positive(text: str) -> int:
    """A whole number above 0 (for argparse)."""
    n = int(text)
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number above 0, got {text}")
    return n


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``pollday`` console script."""
    args = parser().parse_args(argv)
    if args.command == "rehearse":
        return rehearse(args)
    try:
        settings = load_settings(local.cli_env(os.environ))
        output = run(args, settings)
    except (ConfigError, CsvError, ValueError, organising.NoTargets) as exc:
        return _fail(args, str(exc))
    except organising.RoomsInUse as exc:
        return _fail(args, f"{exc}; nothing changed (add --force to move them)")
    except redis.RedisError as exc:
        return _fail(
            args,
            f"cannot reach Redis at {settings.redis_url} ({type(exc).__name__}): is the "
            "bot running? (make run keeps its REDIS_URL in var/run.json)",
        )
    print(json.dumps(output.data, indent=2, default=str) if args.json else output.text)
    return 0


def rehearse(args: argparse.Namespace) -> int:
    """``pollday rehearse``: its own Redis and settings (every platform off), so it needs
    neither ``make run`` nor the live bot's environment. Exit status 1 if a rule broke."""
    from bot import rehearsal

    try:
        report = rehearsal.rehearse(args.supporters, args.minutes, args.seed)
    except (ConfigError, CsvError, ValueError, RuntimeError) as exc:
        return _fail(args, str(exc))
    print(json.dumps(asdict(report), indent=2) if args.json else report.text())
    return 1 if report.broken else 0


def _fail(args: argparse.Namespace, message: str) -> int:
    """An error on stderr, as a line or as {"error": ...}; exit status 2."""
    text = json.dumps({"error": message}) if args.json else f"error: {message}"
    print(text, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
