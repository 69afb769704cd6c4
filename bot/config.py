"""Settings from the environment and config.yaml, validated once at start-up with pydantic.

A channel whose credentials are missing is simply off. Anything unusable raises
``ConfigError`` naming the file and the field (``config.yaml: shifts[0].start: expected
HH:MM, got '7am'``) or the environment variable (``GEOCODER: ...``), so start-up stops with
a clear message. An unknown key in config.yaml is an error too: a typo must not quietly
leave a setting at its default.

The pydantic models only read and check; they hand back bot.campaign's plain dataclasses
and :class:`Settings`, which keep the defaults.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, time
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, get_args
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import phonenumbers
import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    StrictBool,
    StringConstraints,
    ValidationError,
    WrapValidator,
    model_validator,
)

from bot import daytime
from bot.campaign import (
    DEFAULT_RATE_LIMITS,
    PAID_TELEGRAM_RATE,
    Campaign,
    FieldError,
    Login,
    ReminderSpec,
    Shift,
    parse_clock,
)

# bot/geo.py's make_geocoder builds each of these; declared here so that reading the
# configuration does not import the geocoder (and numpy).
GeocoderKind = Literal["offline", "postcodes.io"]


class ConfigError(Exception):
    """The configuration cannot be used; the message names the file and field."""


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
    geocoder: GeocoderKind = "offline"
    postcodes_io_url: str = "https://api.postcodes.io"
    democracy_club_api_key: str = ""  # polling stations in the morning message (optional)
    democracy_club_api_url: str = "https://developers.democracyclub.org.uk/api/v1"
    admin_token: str = ""
    var_dir: Path = Path("var")
    key_prefix: str = "pd"
    id_secret: str = ""  # keys one-way ids and referral codes (ID_SECRET)
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


MIN_SECRET = 16
# Tests only: the platforms that are on are fakes at these addresses (a rehearsal's fast
# clock is then allowed). Loopback alone is not enough: a self-hosted Bot API is local too.
FAKES_ENV = "POLLDAY_FAKE_PLATFORMS"
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read the environment and the YAML it points to (``BOT_CONFIG``, default config.yaml)."""
    env = os.environ if env is None else env
    given = {name: value.strip() for name, value in env.items() if value and value.strip()}
    try:
        read = _Environment.model_validate(given)
    except ValidationError as exc:
        raise ConfigError(_why(exc)) from None
    settings = Settings(
        campaign=load_campaign(Path(given.get("BOT_CONFIG", "config.yaml"))),
        **read.model_dump(exclude_none=True),
    )
    if problem := _cannot_work(settings):
        raise ConfigError(problem)
    if clock := given.get(daytime.ENV):
        try:
            daytime.Clock.parse(clock)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        on = [url for up, url in ((settings.telegram_on, settings.telegram_api_url),
                                  (settings.twilio_on, settings.twilio_api_url)) if up]  # fmt: skip
        faked = given.get(FAKES_ENV) == "1" and all(urlsplit(u).hostname in LOOPBACK for u in on)
        if on and not faked:
            # A rehearsal's day played fast would message real people at the wrong times.
            raise ConfigError(f"{daytime.ENV}: only for pollday rehearse, which turns every "
                              "platform off; unset it")  # fmt: skip
    if settings.twilio_on and settings.twilio_sms_from and not settings.campaign.sms_number:
        # The share message's way in by text: the number the bot answers SMS on.
        number = _dialled(settings.twilio_sms_from)
        settings = dataclasses.replace(
            settings, campaign=dataclasses.replace(settings.campaign, sms_number=number)
        )
    if (settings.telegram_on or settings.twilio_on) and len(settings.id_secret) < MIN_SECRET:
        # Real people's numbers: one-way ids must not be a bare hash anyone can reverse.
        raise ConfigError(
            f"ID_SECRET: required when a channel is on, at least {MIN_SECRET} characters "
            "(e.g. `openssl rand -hex 32`); keep it: a new one forgets every STOP"
        )
    return settings


def _dialled(e164: str) -> str:
    """A number as people in the UK dial it: "+447700900000" -> "07700 900000"."""
    try:
        number = phonenumbers.parse(e164, "GB")
    except phonenumbers.NumberParseException:
        return e164
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)


def _cannot_work(s: Settings) -> str | None:
    """A configuration that would start but could never work, named by what to set."""
    twilio = {"TWILIO_ACCOUNT_SID": s.twilio_account_sid, "TWILIO_AUTH_TOKEN": s.twilio_auth_token}
    senders = s.twilio_whatsapp_from or s.twilio_sms_from
    if bool(s.telegram_token) != bool(s.telegram_secret):
        have, need = (
            ("TELEGRAM_BOT_TOKEN", "TELEGRAM_WEBHOOK_SECRET")
            if s.telegram_token
            else ("TELEGRAM_WEBHOOK_SECRET", "TELEGRAM_BOT_TOKEN")
        )
        return f"{need}: required with {have} (Telegram needs both; see README)"
    if any(twilio.values()) or senders:
        for name, value in twilio.items():
            if not value:
                return f"{name}: required for Twilio (WhatsApp or SMS); see README"
        if not senders:
            return "TWILIO_WHATSAPP_FROM or TWILIO_SMS_FROM: required for Twilio"
        if not s.public_url:
            # Twilio signs each webhook over the URL it called: without it, every one is 403.
            return (
                "PUBLIC_URL: required with Twilio, the https URL Twilio calls "
                "(e.g. https://bot.example.org): its signatures are checked against it"
            )
    on = {
        "telegram": s.telegram_on,
        "whatsapp": s.twilio_on and bool(s.twilio_whatsapp_from),
        "sms": s.twilio_on and bool(s.twilio_sms_from),
    }
    for address in sorted(s.campaign.organisers):
        channel = address.split(":", 1)[0]
        if not on.get(channel):
            return (
                f"organisers: {address} is on {channel}, which is not configured "
                "(set its credentials, or remove the organiser)"
            )
    return None


def load_campaign(path: Path) -> Campaign:
    """Parse and validate config.yaml; CSV paths are resolved relative to it."""
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_DatesAsText)
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found (set BOT_CONFIG)") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    return parse_campaign(raw, path)


class _DatesAsText(yaml.SafeLoader):
    """YAML without its own date parsing: a date such as 2029-05-33 reaches the field's
    check as text, so the error names the field and the value, not only the YAML."""


_DatesAsText.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def parse_campaign(raw: Any, path: Path) -> Campaign:
    """config.yaml's content as read by YAML; ``path`` names the file in errors and CSV
    paths are relative to its folder."""
    try:
        campaign = _ConfigFile.model_validate(raw).campaign(path.parent)
        return dataclasses.replace(campaign, source=path)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {_why(exc)}") from None


def _why(exc: ValidationError) -> str:
    """pydantic's first complaint as ``field path: reason``.

    The location ``('shifts', 0, 'start')`` becomes ``shifts[0].start``; a ``FieldError``
    from a check of a whole mapping or list adds the field it is about.
    """
    error = exc.errors()[0]
    path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error["loc"])
    cause = error.get("ctx", {}).get("error")
    if isinstance(cause, FieldError):
        reason = cause.reason
        path += cause.field if cause.field.startswith("[") or not cause.field else f".{cause.field}"
    elif isinstance(cause, ValueError):
        reason = str(cause)
    else:
        reason = "missing" if error["type"] == "missing" else error["msg"]
    path = path.removeprefix(".")
    return f"{path}: {reason}" if path else reason


# One reason per field, whichever of pydantic's checks failed.


def _reason(say: Callable[[Any], str]) -> WrapValidator:
    """Report a failure of the checks before this one as ``say(value)``."""

    def check(value: Any, handler: Callable[[Any], Any]) -> Any:
        try:
            return handler(value)
        except ValidationError:
            raise ValueError(say(value)) from None

    return WrapValidator(check)


def _expect(what: str) -> WrapValidator:
    return _reason(lambda value: f"expected {what}, got {value!r}")


def _a_list(what: str, *, empty: bool = True) -> BeforeValidator:
    """Refuse anything but a list (and an empty one unless ``empty``) as ``expected <what>``."""

    def check(value: Any) -> Any:
        if not isinstance(value, list):
            raise ValueError(f"expected {what}, got {type(value).__name__}")
        if not value and not empty:
            raise ValueError(f"expected {what}, got an empty list")
        return value

    return BeforeValidator(check)


def _given(text: str) -> str:
    if not text:
        raise ValueError("missing")
    return text


def _one_of(names: Any) -> str:
    names = list(names)
    return f"{', '.join(names[:-1])} or {names[-1]}" if len(names) > 1 else names[0]


# Numbers are coerced to text (an unquoted 447700900000), but nothing else is.
Text = Annotated[
    str,
    StringConstraints(strip_whitespace=True),
    _reason(lambda value: f"expected text, got {type(value).__name__}"),
]
Positive = Annotated[float, Field(strict=True, gt=0), _expect("a positive number")]
PositiveWhole = Annotated[int, Field(strict=True, gt=0), _expect("a positive whole number")]
Clock = Annotated[time, PlainValidator(parse_clock)]
ShiftId = Annotated[
    str,
    StringConstraints(strip_whitespace=True, pattern=r"^[a-z][a-z0-9_]{0,31}$"),
    _reason(lambda value: f"use lower-case letters, digits, _: {value!r}"),
]
Address = Annotated[
    str,
    StringConstraints(pattern=r"^(telegram:-?\d+|(whatsapp|sms):\+\d{6,15})$"),
    _reason(lambda value: f"expected telegram:<id> or sms:+44...: {value!r}"),
]
Rate = Annotated[float, Field(strict=True, gt=0), _expect("messages/second > 0")]
TimeZone = Annotated[ZoneInfo, _reason(lambda value: f"unknown time zone {value!r}")]


class _Section(BaseModel):
    """A mapping in config.yaml: anything else, or a key it does not know, is refused."""

    model_config = ConfigDict(frozen=True, extra="forbid", coerce_numbers_to_str=True)
    looks_like: ClassVar[str]  # what a good one looks like, for the error

    @model_validator(mode="before")
    @classmethod
    def _mapping(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            got = repr(data)
            raise ValueError(f"expected {cls.looks_like}, got {got[:60]}")
        for key in data:
            if key not in cls.model_fields:
                raise FieldError(str(key), cls._unknown(str(key)))
        # YAML reads an empty value (`imprint:`) as None: the same as leaving the key out.
        return cls._read({key: value for key, value in data.items() if value is not None})

    @classmethod
    def _unknown(cls, key: str) -> str:
        return f"unknown key; expected {_one_of(cls.model_fields)}"

    @classmethod
    def _read(cls, data: dict[str, Any]) -> dict[str, Any]:
        """A hook for checks of the fields together, before each is checked alone."""
        return data


class _Shift(_Section):
    looks_like: ClassVar[str] = "a mapping with id, label, start, end"
    id: ShiftId
    label: Annotated[Text, AfterValidator(_given)]
    start: Clock
    end: Clock

    @model_validator(mode="after")
    def _ends_after_start(self) -> _Shift:
        if self.end <= self.start:
            raise FieldError("end", "must be after start")
        return self


class _Reminder(_Section):
    """One item of ``reminders:``; what makes one valid is ReminderSpec's rule."""

    looks_like: ClassVar[str] = (
        'a mapping like {days_before: 1, at: "18:00"} or {minutes_before: 60}'
    )
    days_before: int | None = None
    at: time | None = None
    minutes_before: int | None = None

    @classmethod
    def _read(cls, data: dict[str, Any]) -> dict[str, Any]:
        # Mixing the two kinds is reported as such (by ReminderSpec), not as a complaint
        # about `at`.
        if "at" in data and "minutes_before" not in data:
            try:
                data["at"] = parse_clock(data["at"])
            except ValueError as exc:
                raise FieldError("at", str(exc)) from None
        return dataclasses.asdict(ReminderSpec(**data))

    @property
    def spec(self) -> ReminderSpec:
        """The reminder."""
        return ReminderSpec(self.days_before, self.at, self.minutes_before)


class _Rates(_Section):
    looks_like: ClassVar[str] = "a mapping like {telegram: 30, whatsapp: 80, sms: 10}"
    telegram: Rate | None = None
    whatsapp: Rate | None = None
    sms: Rate | None = None

    @classmethod
    def _unknown(cls, key: str) -> str:
        return f"expected {_one_of(cls.model_fields)}"


def _distinct_shifts(shifts: list[_Shift]) -> list[_Shift]:
    ids = [s.id for s in shifts]
    for i, sid in enumerate(ids):
        if sid in ids[:i]:
            raise FieldError(f"[{i}].id", f"duplicate shift id {sid!r}")
    return shifts


def _distinct_reminders(reminders: list[_Reminder]) -> list[_Reminder]:
    # A reminder's name is part of its job id, so two with one name would be one job.
    names = [r.spec.name for r in reminders]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise FieldError(f"[{i}]", f"duplicate of reminders[{names.index(name)}] ({name})")
    return reminders


ROLES = ("admin", "viewer")


class _Login(_Section):
    looks_like: ClassVar[str] = "a mapping with name, role, token_sha256"
    name: Annotated[Text, AfterValidator(_given)]
    role: Annotated[Literal["admin", "viewer"], _expect(" or ".join(ROLES))]
    token_sha256: Annotated[
        str,
        StringConstraints(strip_whitespace=True, to_lower=True, pattern=r"^[0-9a-fA-F]{64}$"),
        _reason(lambda _: "expected 64 hex digits, as `pollday login` prints them"),
    ]

    @property
    def login(self) -> Login:
        return Login(self.name, self.role, self.token_sha256)


def _distinct_logins(logins: list[_Login]) -> list[_Login]:
    for field_name in ("name", "token_sha256"):
        seen = [getattr(x, field_name) for x in logins]
        if twice := sorted({v for v in seen if seen.count(v) > 1}):
            raise ValueError(f"two logins share a {field_name}: {twice[0]!r}")
    return logins


class _ConfigFile(_Section):
    """config.yaml. A setting left out (None) takes Campaign's default."""

    looks_like: ClassVar[str] = "a mapping of settings at the top level"
    name: Text | None = None
    polling_day: Annotated[date, _expect("an ISO date like 2029-05-03")]
    timezone: TimeZone = ZoneInfo("Europe/London")
    shifts: Annotated[
        list[_Shift],
        _a_list("a list of shifts with id, label, start, end", empty=False),
        AfterValidator(_distinct_shifts),
    ]
    rooms: Text
    targets: Text
    telegram_username: Text | None = None
    whatsapp_number: Text | None = None
    sms_number: Text | None = None
    max_distance_km: Positive | None = None
    tie_km: Positive | None = None
    standby_rooms: PositiveWhole | None = None
    standby_hold_minutes: Positive | None = None
    no_show_wait_minutes: Positive | None = None
    backfill_wave_minutes: Positive | None = None
    organiser_contact: Text | None = None
    retention_days: PositiveWhole | None = None
    imprint: Text | None = None
    rate_limits: _Rates | None = None
    broadcast_template: Text | None = None
    organisers: (
        Annotated[list[Address], _a_list("a list like [telegram:123, sms:+447700900123]")] | None
    ) = None
    reminders: (
        Annotated[list[_Reminder], _a_list("a list"), AfterValidator(_distinct_reminders)] | None
    ) = None
    message_quota: PositiveWhole | None = None
    max_wait_seconds: PositiveWhole | None = None
    postcode_seats: Text | None = None
    telegram_paid_broadcast: Annotated[StrictBool, _expect("true or false")] | None = None
    organiser_logins: (
        Annotated[
            list[_Login],
            _a_list("a list of logins with name, role, token_sha256"),
            AfterValidator(_distinct_logins),
        ]
        | None
    ) = None

    @classmethod
    def _unknown(cls, key: str) -> str:
        near = difflib.get_close_matches(key, cls.model_fields, n=1)
        return f"unknown key (did you mean {near[0]}?)" if near else "unknown key"

    def campaign(self, folder: Path) -> Campaign:
        """The Campaign, with CSV paths relative to ``folder``."""
        given = self.model_dump(exclude_none=True, exclude={"rate_limits", "organiser_logins"})
        given.update(
            shifts=tuple(Shift(s.id, s.label, s.start, s.end) for s in self.shifts),
            rooms_csv=folder / given.pop("rooms"),
            targets_csv=folder / given.pop("targets"),
        )
        if self.postcode_seats is not None:
            given["postcode_seats_file"] = folder / given.pop("postcode_seats")
        if self.telegram_username is not None:
            given["telegram_username"] = self.telegram_username.lstrip("@")
        if self.whatsapp_number is not None:  # digits only, as wa.me wants them
            given["whatsapp_number"] = re.sub(r"\D", "", self.whatsapp_number)
        rates = {} if self.rate_limits is None else self.rate_limits.model_dump(exclude_none=True)
        if self.telegram_paid_broadcast:  # Telegram's paid rate, unless a lower one is set
            rates = {"telegram": PAID_TELEGRAM_RATE, **rates}
        if rates:
            given["rate_limits"] = {**DEFAULT_RATE_LIMITS, **rates}
        if self.organisers is not None:
            given["organisers"] = frozenset(self.organisers)
        if self.reminders is not None:
            given["reminders"] = tuple(r.spec for r in self.reminders)
        if self.organiser_logins is not None:
            given["logins"] = tuple(x.login for x in self.organiser_logins)
        return Campaign(**given)


Url = Annotated[str, AfterValidator(lambda url: url.rstrip("/"))]
WebhookSecret = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,256}$"),
    _reason(lambda _: "use 1-256 characters of A-Z a-z 0-9 _ -"),
]
WhatsAppSender = Annotated[
    str,
    StringConstraints(pattern=r"^whatsapp:\+"),
    _reason(lambda _: "expected whatsapp:+<number>"),
]
Geocoder = Annotated[GeocoderKind, _expect(" or ".join(map(repr, get_args(GeocoderKind))))]


def environment_names() -> frozenset[str]:
    """Every environment variable the settings are read from (BOT_CONFIG aside)."""
    return frozenset(f.alias for f in _Environment.model_fields.values() if f.alias)


class _Environment(BaseModel):
    """The environment variables behind Settings, by their names in the environment; one
    left unset (or blank) takes Settings' default."""

    model_config = ConfigDict(frozen=True, alias_generator=str.upper)

    redis_url: str | None = None
    public_url: Url | None = None
    telegram_token: str | None = Field(None, alias="TELEGRAM_BOT_TOKEN")
    telegram_secret: WebhookSecret | None = Field(None, alias="TELEGRAM_WEBHOOK_SECRET")
    telegram_api_url: Url | None = None
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    twilio_whatsapp_from: WhatsAppSender | None = None
    twilio_sms_from: str | None = None
    twilio_api_url: Url | None = None
    geocoder: Geocoder | None = None
    postcodes_io_url: Url | None = None
    democracy_club_api_key: str | None = None
    democracy_club_api_url: Url | None = None
    admin_token: str | None = None
    var_dir: Path | None = None
    key_prefix: str | None = None
    id_secret: str | None = None
