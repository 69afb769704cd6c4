"""Settings from the environment and config.yaml, validated once at start-up.

A channel whose credentials are missing is simply off. A bad config.yaml raises
``ConfigError`` naming the file and the field, so start-up stops with a clear message.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from bot.geo import GEOCODER_KINDS
from bot.reminders import DEFAULT_REMINDERS, ReminderSpec, parse_reminders

SHIFT_ID = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
TELEGRAM_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


class ConfigError(Exception):
    """The configuration cannot be used; the message names the file and field."""


@dataclass(frozen=True)
class Shift:
    """One polling-day shift."""

    id: str
    label: str
    start: time
    end: time

    @property
    def times(self) -> str:
        """``07:00–12:00``."""
        return f"{self.start:%H:%M}–{self.end:%H:%M}"


@dataclass(frozen=True)
class Campaign:
    """The organiser's settings from config.yaml."""

    polling_day: date
    timezone: ZoneInfo
    shifts: tuple[Shift, ...]
    rooms_csv: Path
    targets_csv: Path
    telegram_username: str = ""
    whatsapp_number: str = ""  # digits only, as wa.me wants them
    max_distance_km: float = 30.0
    tie_km: float = 1.0
    organiser_contact: str = ""
    name: str = "our campaign"
    retention_days: int = 30
    imprint: str = ""  # appended to every broadcast (who promoted it, on whose behalf)
    rate_limits: dict[str, float] = field(
        default_factory=lambda: {"telegram": 30.0, "whatsapp": 80.0, "sms": 10.0}
    )
    broadcast_template: str = ""  # approved template (ContentSid) for outside a reply window
    organisers: frozenset[str] = frozenset()  # addresses allowed to /broadcast from chat
    reminders: tuple[ReminderSpec, ...] = DEFAULT_REMINDERS
    message_quota: int = 30  # messages one person may send a minute; the rest are dropped

    def shift(self, shift_id: str) -> Shift:
        """The shift with this id."""
        return next(s for s in self.shifts if s.id == shift_id)

    @property
    def shift_ids(self) -> tuple[str, ...]:
        """Shift ids in configured order."""
        return tuple(s.id for s in self.shifts)


@dataclass(frozen=True)
class Settings:
    """Everything a process needs to start; built by :func:`load_settings`."""

    campaign: Campaign
    redis_url: str = ""
    public_url: str = ""
    telegram_token: str = ""
    telegram_secret: str = ""
    telegram_api_url: str = "https://api.telegram.org"
    twilio_account_sid: str = ""
    twilio_auth_token: str = ""
    twilio_whatsapp_from: str = ""
    twilio_sms_from: str = ""
    twilio_api_url: str = "https://api.twilio.com"
    geocoder: str = "offline"
    postcodes_io_url: str = "https://api.postcodes.io"
    admin_token: str = ""
    var_dir: Path = Path("var")
    key_prefix: str = "pd"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def telegram_on(self) -> bool:
        """Telegram needs a token and a webhook secret."""
        return bool(self.telegram_token and self.telegram_secret)

    @property
    def twilio_on(self) -> bool:
        """Twilio (WhatsApp and/or SMS) needs an account and a sender."""
        return bool(
            self.twilio_account_sid
            and self.twilio_auth_token
            and (self.twilio_whatsapp_from or self.twilio_sms_from)
        )


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read the environment and the YAML it points to (``BOT_CONFIG``, default config.yaml)."""
    env = os.environ if env is None else env
    get = lambda name, default="": (env.get(name) or default).strip()  # noqa: E731
    secret = get("TELEGRAM_WEBHOOK_SECRET")
    if secret and not TELEGRAM_SECRET.match(secret):
        raise ConfigError("TELEGRAM_WEBHOOK_SECRET: use 1-256 characters of A-Z a-z 0-9 _ -")
    geocoder = get("GEOCODER", "offline")
    if geocoder not in GEOCODER_KINDS:
        raise ConfigError(f"GEOCODER: expected 'offline' or 'postcodes.io', got {geocoder!r}")
    whatsapp_from = get("TWILIO_WHATSAPP_FROM")
    if whatsapp_from and not whatsapp_from.startswith("whatsapp:+"):
        raise ConfigError("TWILIO_WHATSAPP_FROM: expected whatsapp:+<number>")
    return Settings(
        campaign=load_campaign(Path(get("BOT_CONFIG", "config.yaml"))),
        redis_url=get("REDIS_URL"),
        public_url=get("PUBLIC_URL").rstrip("/"),
        telegram_token=get("TELEGRAM_BOT_TOKEN"),
        telegram_secret=secret,
        telegram_api_url=get("TELEGRAM_API_URL", "https://api.telegram.org").rstrip("/"),
        twilio_account_sid=get("TWILIO_ACCOUNT_SID"),
        twilio_auth_token=get("TWILIO_AUTH_TOKEN"),
        twilio_whatsapp_from=whatsapp_from,
        twilio_sms_from=get("TWILIO_SMS_FROM"),
        twilio_api_url=get("TWILIO_API_URL", "https://api.twilio.com").rstrip("/"),
        geocoder=geocoder,
        postcodes_io_url=get("POSTCODES_IO_URL", "https://api.postcodes.io").rstrip("/"),
        admin_token=get("ADMIN_TOKEN"),
        var_dir=Path(get("VAR_DIR", "var")),
        key_prefix=get("KEY_PREFIX", "pd"),
    )


def load_campaign(path: Path) -> Campaign:
    """Parse and validate config.yaml; CSV paths are resolved relative to it."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found (set BOT_CONFIG)") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of settings at the top level")
    fields = _Fields(path, raw)
    tz_name = fields.text("timezone", "Europe/London")
    try:
        tz = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise fields.error("timezone", f"unknown time zone {tz_name!r}") from None
    whatsapp = re.sub(r"\D", "", fields.text("whatsapp_number", ""))
    return Campaign(
        polling_day=fields.day("polling_day"),
        timezone=tz,
        shifts=fields.shifts("shifts"),
        rooms_csv=path.parent / fields.text("rooms"),
        targets_csv=path.parent / fields.text("targets"),
        telegram_username=fields.text("telegram_username", "").lstrip("@"),
        whatsapp_number=whatsapp,
        max_distance_km=fields.number("max_distance_km", 30.0),
        tie_km=fields.number("tie_km", 1.0),
        organiser_contact=fields.text("organiser_contact", ""),
        name=fields.text("name", "our campaign"),
        retention_days=int(fields.number("retention_days", 30)),
        imprint=fields.text("imprint", ""),
        rate_limits=fields.rates("rate_limits"),
        broadcast_template=fields.text("broadcast_template", ""),
        organisers=fields.addresses("organisers"),
        reminders=fields.reminders("reminders"),
        message_quota=int(fields.number("message_quota", 30)),
    )


class _Fields:
    """Typed access to the YAML mapping, raising ConfigError that names file and field."""

    def __init__(self, path: Path, raw: dict[str, Any]) -> None:
        self.path, self.raw = path, raw

    def error(self, name: str, reason: str) -> ConfigError:
        return ConfigError(f"{self.path}: {name}: {reason}")

    def text(self, name: str, default: str | None = None) -> str:
        value = self.raw.get(name, default)
        if value is None:
            raise self.error(name, "missing")
        if not isinstance(value, str | int):
            raise self.error(name, f"expected text, got {type(value).__name__}")
        return str(value).strip()

    def number(self, name: str, default: float) -> float:
        value = self.raw.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise self.error(name, f"expected a positive number, got {value!r}")
        return float(value)

    def rates(self, name: str) -> dict[str, float]:
        value = self.raw.get(name) or {}
        if not isinstance(value, dict):
            raise self.error(name, "expected a mapping like {telegram: 30, whatsapp: 80, sms: 10}")
        rates = {"telegram": 30.0, "whatsapp": 80.0, "sms": 10.0}
        for channel, rate in value.items():
            if channel not in rates:
                raise self.error(f"{name}.{channel}", "expected telegram, whatsapp or sms")
            if isinstance(rate, bool) or not isinstance(rate, int | float) or rate <= 0:
                raise self.error(f"{name}.{channel}", f"expected messages/second > 0, got {rate!r}")
            rates[channel] = float(rate)
        return rates

    def reminders(self, name: str) -> tuple[ReminderSpec, ...]:
        try:
            return parse_reminders(self.raw.get(name))
        except ValueError as exc:
            raise ConfigError(f"{self.path}: {exc}") from None

    def addresses(self, name: str) -> frozenset[str]:
        value = self.raw.get(name) or []
        if not isinstance(value, list):
            raise self.error(name, "expected a list like [telegram:123, sms:+447700900123]")
        for i, item in enumerate(value):
            if not re.fullmatch(r"(telegram:-?\d+|(whatsapp|sms):\+\d{6,15})", str(item)):
                raise self.error(f"{name}[{i}]", f"expected telegram:<id> or sms:+44...: {item!r}")
        return frozenset(str(v) for v in value)

    def day(self, name: str) -> date:
        value = self.raw.get(name)
        if isinstance(value, date):
            return value
        try:
            return date.fromisoformat(str(value))
        except ValueError:
            raise self.error(name, f"expected an ISO date like 2029-05-03, got {value!r}") from None

    def shifts(self, name: str) -> tuple[Shift, ...]:
        value = self.raw.get(name)
        if not isinstance(value, list) or not value:
            raise self.error(name, "expected a list of shifts with id, label, start, end")
        shifts: list[Shift] = []
        for i, item in enumerate(value):
            where = f"{name}[{i}]"
            if not isinstance(item, dict):
                raise self.error(where, "expected a mapping with id, label, start, end")
            sid = str(item.get("id", "")).strip()
            if not SHIFT_ID.match(sid):
                raise self.error(f"{where}.id", f"use lower-case letters, digits, _: {sid!r}")
            if any(s.id == sid for s in shifts):
                raise self.error(f"{where}.id", f"duplicate shift id {sid!r}")
            label = str(item.get("label", "")).strip()
            if not label:
                raise self.error(f"{where}.label", "missing")
            start, end = (_clock(self, f"{where}.{k}", item.get(k)) for k in ("start", "end"))
            if end <= start:
                raise self.error(f"{where}.end", "must be after start")
            shifts.append(Shift(sid, label, start, end))
        return tuple(shifts)


def _clock(fields: _Fields, name: str, value: Any) -> time:
    # YAML reads an unquoted 07:00 as the integer 420 (sexagesimal): accept that too.
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 24 * 60:
        return time(value // 60, value % 60)
    match = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", str(value).strip())
    if not match:
        raise fields.error(name, f"expected HH:MM, got {value!r}")
    return time(int(match[1]), int(match[2]))
