"""``pollday``: organiser commands. ``pollday check`` validates config.yaml and the CSVs;
``pollday set-webhook`` points Telegram at this deployment with the webhook secret."""

from __future__ import annotations

import argparse
import asyncio
import sys

from bot.config import ConfigError, Settings, load_settings
from bot.geo import make_geocoder
from bot.rooms import CsvError, Directory, load_rooms, load_targets


def check(settings: Settings) -> str:
    """Load everything a worker loads; a summary, or CsvError/ConfigError."""
    c = settings.campaign
    geocoder = make_geocoder(settings.geocoder, settings.var_dir / "geo", settings.postcodes_io_url)
    directory = Directory(
        load_rooms(c.rooms_csv, c.shift_ids, geocoder), load_targets(c.targets_csv)
    )
    others = directory.unmatched()
    on = [n for n, ok in (("telegram", settings.telegram_on), ("twilio", settings.twilio_on)) if ok]
    lines = [
        f"ok: {len(directory.rooms)} rooms, {len(directory.rooms) - len(others)} of them in "
        f"target seats; {len(c.shifts)} shifts on {c.polling_day}; "
        f"channels on: {', '.join(on) or 'none (set credentials, see README)'}",
        *(f"  not a target seat, never offered: {r.id} ({r.constituency})" for r in others),
    ]
    return "\n".join(lines)


def set_webhook(settings: Settings) -> str:
    """Register ``PUBLIC_URL/webhooks/telegram`` with the secret token; what Telegram said."""
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
    return f"webhook set: {settings.public_url}/webhooks/telegram"


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``pollday`` console script."""
    parser = argparse.ArgumentParser(prog="pollday", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("check", help="validate config.yaml, rooms and targets")
    sub.add_parser("set-webhook", help="register the Telegram webhook with its secret")
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        print(check(settings) if args.command == "check" else set_webhook(settings))
    except (ConfigError, CsvError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
