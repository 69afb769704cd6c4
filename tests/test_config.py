"""config.yaml and the environment: valid settings load; invalid ones name file and field."""

from __future__ import annotations

import subprocess
import sys
from datetime import date, time
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.campaign import DEFAULT_REMINDERS, ReminderSpec
from bot.config import ConfigError, load_campaign, load_settings, parse_campaign
from tests.test_campaign import EVENING_BEFORE, HOUR_BEFORE, MIXED, RANGE_DAYS, RANGE_MINUTES

ROOT = Path(__file__).resolve().parent.parent
SHIFTS = """shifts:
  - {id: morning, label: Morning, start: "07:00", end: "12:00"}
  - {id: late, label: Late, start: 17:00, end: 22:00}
"""
GOOD = f"""
polling_day: 2029-05-03
{SHIFTS}rooms: rooms.csv
targets: targets.csv
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


def test_sample_config_loads():
    c = load_campaign(ROOT / "config.yaml")
    assert c.polling_day == date(2029, 5, 3) and c.polling_day.weekday() == 3
    assert c.shift_ids == ("morning", "afternoon", "evening")
    assert c.rooms_csv == ROOT / "data" / "rooms.csv" and c.rooms_csv.exists()
    assert c.whatsapp_number == "447700900000" and c.telegram_username == "pollday_bot"


def test_defaults_and_unquoted_times(tmp_path):
    c = load_campaign(write(tmp_path, GOOD))
    assert str(c.timezone) == "Europe/London" and c.max_distance_km == 30.0
    assert c.shift("late").start == time(17, 0)  # YAML 1.1 reads 17:00 as 1020
    assert c.rooms_csv == tmp_path / "rooms.csv"


@pytest.mark.parametrize(
    "change, message",
    [
        (("polling_day: 2029-05-03", "polling_day: soon"), "polling_day: expected an ISO date"),
        (('start: "07:00"', 'start: "7am"'), "shifts[0].start: expected HH:MM, got '7am'"),
        (('end: "12:00"', 'end: "06:00"'), "shifts[0].end: must be after start"),
        (("id: late", "id: morning"), "shifts[1].id: duplicate shift id 'morning'"),
        (("id: late", "id: Late Shift"), "shifts[1].id: use lower-case letters"),
        (("label: Late, ", ""), "shifts[1].label: missing"),
        (("rooms: rooms.csv\n", ""), "rooms: missing"),
        (("rooms: rooms.csv", "rooms: rooms.csv\nmax_distance_km: -3"), "max_distance_km:"),
        (("rooms: rooms.csv", "rooms: rooms.csv\ntimezone: Mars/Base"), "timezone: unknown"),
        ((SHIFTS, "shifts: []\n"), "shifts: expected a list"),
    ],
)
def test_invalid_config_names_file_and_field(tmp_path, change, message):
    path = write(tmp_path, GOOD.replace(*change))
    with pytest.raises(ConfigError) as err:
        load_campaign(path)
    assert str(err.value).startswith(f"{path}: ")
    assert message in str(err.value)


@pytest.mark.parametrize("text", ["{{{", "- a list", ""])
def test_unusable_yaml(tmp_path, text):
    with pytest.raises(ConfigError, match="config.yaml: "):
        load_campaign(write(tmp_path, text))


def test_missing_file_says_how_to_point_at_one(tmp_path):
    with pytest.raises(ConfigError, match="file not found .set BOT_CONFIG."):
        load_campaign(tmp_path / "nope.yaml")


def test_environment(tmp_path):
    env = {
        "BOT_CONFIG": str(write(tmp_path, GOOD)),
        "PUBLIC_URL": "https://bot.example.org/",
        "TELEGRAM_BOT_TOKEN": "1:x",
        "TELEGRAM_WEBHOOK_SECRET": "abc_DEF-1",
        "TWILIO_ACCOUNT_SID": "AC1",
        "TWILIO_AUTH_TOKEN": "t",
        "TWILIO_SMS_FROM": "+447700900000",
        "ID_SECRET": "0123456789abcdef",
    }
    s = load_settings(env)
    assert s.id_secret == "0123456789abcdef"
    # Real numbers need a real secret for their one-way ids: refused without one.
    for short in ("", "too-short"):
        with pytest.raises(ConfigError, match=r"^ID_SECRET: required when a channel is on"):
            load_settings({**env, "ID_SECRET": short})
    assert s.public_url == "https://bot.example.org"
    assert s.telegram_on and s.twilio_on and not s.twilio_whatsapp_from
    assert s.telegram_api_url == "https://api.telegram.org" and s.geocoder == "offline"
    off = load_settings({"BOT_CONFIG": env["BOT_CONFIG"]})
    assert not off.telegram_on and not off.twilio_on  # no credentials: channels off
    # A rehearsal's fast clock, only with every platform off (never real people), or in a
    # test that says its platforms are fakes on this machine. A local Bot API server is not
    # a fake: loopback alone is refused.
    assert load_settings({"BOT_CONFIG": env["BOT_CONFIG"], "POLLDAY_CLOCK": "1,2,300"})
    fakes = {"TELEGRAM_API_URL": "http://127.0.0.1:8081", "TWILIO_API_URL": "http://localhost:1"}
    said = {"POLLDAY_FAKE_PLATFORMS": "1"}
    assert load_settings({**env, **fakes, **said, "POLLDAY_CLOCK": "1,2,300"}).telegram_on
    far = {"TWILIO_API_URL": "https://x.org"}
    for refused in ({}, fakes, {**said, **far}, {**fakes, **said, **far}):
        with pytest.raises(ConfigError, match=r"^POLLDAY_CLOCK: only for pollday rehearse"):
            load_settings({**env, **refused, "POLLDAY_CLOCK": "1,2,300"})
    with pytest.raises(ConfigError, match=r"^POLLDAY_CLOCK: expected <real start>"):
        load_settings({"BOT_CONFIG": env["BOT_CONFIG"], "POLLDAY_CLOCK": "fast"})


@pytest.mark.parametrize(
    "unset, reason",
    [
        ("TELEGRAM_WEBHOOK_SECRET", "TELEGRAM_WEBHOOK_SECRET: required with TELEGRAM_BOT_TOKEN"),
        ("TELEGRAM_BOT_TOKEN", "TELEGRAM_BOT_TOKEN: required with TELEGRAM_WEBHOOK_SECRET"),
        ("PUBLIC_URL", "PUBLIC_URL: required with Twilio, the https URL Twilio calls"),
        ("TWILIO_AUTH_TOKEN", "TWILIO_AUTH_TOKEN: required for Twilio"),
        ("TWILIO_SMS_FROM", "TWILIO_WHATSAPP_FROM or TWILIO_SMS_FROM: required for Twilio"),
    ],
)
def test_configuration_that_cannot_work_is_refused(tmp_path, unset, reason):
    env = {
        "BOT_CONFIG": str(write(tmp_path, GOOD)),
        "PUBLIC_URL": "https://bot.example.org",
        "TELEGRAM_BOT_TOKEN": "1:x",
        "TELEGRAM_WEBHOOK_SECRET": "abc_DEF-1",
        "TWILIO_ACCOUNT_SID": "AC1",
        "TWILIO_AUTH_TOKEN": "t",
        "TWILIO_SMS_FROM": "+447700900000",
        "ID_SECRET": "0123456789abcdef",
    }
    del env[unset]
    with pytest.raises(ConfigError) as err:
        load_settings(env)
    assert str(err.value).startswith(reason)


def test_an_organiser_on_a_channel_that_is_off_is_refused(tmp_path):
    config = write(tmp_path, GOOD + "organisers: [sms:+447700900123]\n")
    env = {"BOT_CONFIG": str(config), "TELEGRAM_BOT_TOKEN": "1:x",
           "TELEGRAM_WEBHOOK_SECRET": "abc", "ID_SECRET": "0123456789abcdef"}  # fmt: skip
    with pytest.raises(ConfigError, match=r"^organisers: sms:\+447700900123 is on sms, which"):
        load_settings(env)


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("TELEGRAM_WEBHOOK_SECRET", "has spaces", "TELEGRAM_WEBHOOK_SECRET"),
        ("GEOCODER", "google", "GEOCODER: expected 'offline' or 'postcodes.io'"),
        ("TWILIO_WHATSAPP_FROM", "+447700900000", "TWILIO_WHATSAPP_FROM: expected whatsapp:+"),
    ],
)
def test_bad_environment(tmp_path, name, value, message):
    with pytest.raises(ConfigError, match=message):
        load_settings({"BOT_CONFIG": str(write(tmp_path, GOOD)), name: value})


def test_organiser_settings(tmp_path):
    extra = (
        "imprint: Promoted by X\nrate_limits: {telegram: 20}\nbroadcast_template: HX1\n"
        "organisers: ['telegram:123', 'sms:+447700900123']\n"
        "reminders: [{minutes_before: 30}]\npostcode_seats: data/pcon_2024.json\n"
    )
    c = load_campaign(write(tmp_path, GOOD + extra))
    assert c.postcode_seats_file == tmp_path / "data" / "pcon_2024.json"  # beside config.yaml
    assert not c.telegram_paid_broadcast
    paid = load_campaign(write(tmp_path, GOOD + "telegram_paid_broadcast: true\n"))
    assert paid.telegram_paid_broadcast and paid.rate_limits["telegram"] == 1000.0  # paid rate
    paid = load_campaign(
        write(tmp_path, GOOD + "telegram_paid_broadcast: true\nrate_limits: {telegram: 200}\n")
    )
    assert paid.rate_limits == {"telegram": 200.0, "whatsapp": 80.0, "sms": 10.0}  # as set
    assert load_campaign(write(tmp_path, GOOD)).postcode_seats_file is None
    assert c.imprint == "Promoted by X" and c.broadcast_template == "HX1"
    assert c.rate_limits == {"telegram": 20.0, "whatsapp": 80.0, "sms": 10.0}
    assert c.organisers == {"telegram:123", "sms:+447700900123"}
    assert [r.name for r in c.reminders] == ["m30"]
    assert [r.name for r in load_campaign(write(tmp_path, GOOD)).reminders] == ["d1-1800", "m60"]


@pytest.mark.parametrize(
    "extra, message",
    [
        ("rate_limits: {fax: 3}", "rate_limits.fax: expected telegram, whatsapp or sms"),
        ("rate_limits: {sms: 0}", "rate_limits.sms: expected messages/second > 0"),
        ("rate_limits: 30", "rate_limits: expected a mapping"),
        ("organisers: ['bob']", "organisers[0]: expected telegram:<id> or sms:+44...: 'bob'"),
        ("organisers: telegram:1", "organisers: expected a list"),
        ("reminders: [{minutes_before: -5}]", "reminders[0].minutes_before"),
        ("reminders: [{days_before: 1, at: '25:00'}]", "reminders[0].at: expected HH:MM"),
        ("telegram_paid_broadcast: maybe", "telegram_paid_broadcast: expected true or false"),
    ],
)
def test_bad_organiser_settings_name_the_field(tmp_path, extra, message):
    path = write(tmp_path, GOOD + extra + "\n")
    with pytest.raises(ConfigError) as err:
        load_campaign(path)
    assert str(err.value).startswith(f"{path}: {message}")


def parse_reminders(raw: Any) -> tuple[ReminderSpec, ...]:
    """config.yaml's ``reminders:`` value, read as part of a whole file."""
    return parse_campaign({**yaml.safe_load(GOOD), "reminders": raw}, Path("config.yaml")).reminders


@pytest.mark.parametrize(
    "raw, names",
    [
        (None, ["d1-1800", "m60"]),
        ([], []),
        ([{"days_before": 1, "at": "18:00"}, {"minutes_before": 60}], ["d1-1800", "m60"]),
        ([{"minutes_before": 0}, {"minutes_before": 1440}], ["m0", "m1440"]),
        ([{"days_before": 0, "at": "7:05"}, {"days_before": 14, "at": "23:59"}],
         ["d0-0705", "d14-2359"]),
        ([{"at": " 06:30 ", "days_before": 2}], ["d2-0630"]),
        ([{"days_before": 1, "at": 1080}], ["d1-1800"]),  # what YAML makes of 18:00
        ([{"days_before": 1, "at": time(18, 0)}], ["d1-1800"]),
    ],
)  # fmt: skip
def test_parse_reminders(raw, names):
    assert [s.name for s in parse_reminders(raw)] == names


def test_parse_reminders_from_yaml_with_unquoted_times():
    raw = yaml.safe_load(
        """
        reminders:
          - {days_before: 1, at: 18:00}
          - {days_before: 0, at: 07:00}
          - {days_before: 2, at: 9:30}
          - {minutes_before: 60}
        """
    )["reminders"]
    assert raw[0]["at"] == 1080  # YAML 1.1 sexagesimal
    assert parse_reminders(raw) == (
        EVENING_BEFORE,
        ReminderSpec(days_before=0, at=time(7, 0)),
        ReminderSpec(days_before=2, at=time(9, 30)),
        HOUR_BEFORE,
    )
    assert parse_reminders(yaml.safe_load("reminders:\n")["reminders"]) == DEFAULT_REMINDERS


@pytest.mark.parametrize(
    "raw, message",
    [
        ("m60", "reminders: expected a list, got str"),
        ({"minutes_before": 60}, "reminders: expected a list, got dict"),
        (["m60"], "reminders[0]: expected a mapping like {days_before: 1, at: \"18:00\"} "
                  "or {minutes_before: 60}, got 'm60'"),
        ([{"minutes_before": 60}, {"minutes": 30}],
         "reminders[1].minutes: unknown key; expected days_before, at or minutes_before"),
        ([{}], "reminders[0]: expected days_before with at, or minutes_before"),
        ([{"days_before": 1, "at": "18:00", "minutes_before": 60}], f"reminders[0]: {MIXED}"),
        ([{"days_before": 1, "minutes_before": 60}], f"reminders[0]: {MIXED}"),
        ([{"at": "25:00", "minutes_before": 60}], f"reminders[0]: {MIXED}"),
        ([{"at": "18:00"}], "reminders[0].days_before: missing (needed with at)"),
        ([{"days_before": 1}], "reminders[0].at: missing (needed with days_before)"),
        ([{"days_before": 1, "at": None}], "reminders[0].at: missing (needed with days_before)"),
        ([{"minutes_before": 60}, {"days_before": 1, "at": "25:00"}],
         "reminders[1].at: expected HH:MM, got '25:00'"),
        ([{"days_before": 1, "at": 1500}],
         "reminders[0].at: expected HH:MM, got 1500 (YAML's reading of an unquoted 25:00)"),
        ([{"days_before": 1, "at": 18}], "reminders[0].at: expected HH:MM, got 18"),
        ([{"days_before": 1, "at": "6pm"}], "reminders[0].at: expected HH:MM, got '6pm'"),
        ([{"days_before": 1, "at": "18:60"}], "reminders[0].at: expected HH:MM, got '18:60'"),
        ([{"days_before": 1, "at": True}], "reminders[0].at: expected HH:MM, got True"),
        ([{"days_before": 1, "at": time(18, 0, 30)}],
         "reminders[0].at: expected a whole minute with no time zone, "
         "got datetime.time(18, 0, 30)"),
        ([{"days_before": -1, "at": "18:00"}], f"reminders[0].{RANGE_DAYS} -1"),
        ([{"days_before": 15, "at": "18:00"}], f"reminders[0].{RANGE_DAYS} 15"),
        ([{"days_before": "1", "at": "18:00"}], f"reminders[0].{RANGE_DAYS} '1'"),
        ([{"days_before": 1.5, "at": "18:00"}], f"reminders[0].{RANGE_DAYS} 1.5"),
        ([{"days_before": True, "at": "18:00"}], f"reminders[0].{RANGE_DAYS} True"),
        ([{"minutes_before": -5}], f"reminders[0].{RANGE_MINUTES} -5"),
        ([{"minutes_before": 24 * 60 + 1}], f"reminders[0].{RANGE_MINUTES} 1441"),
        ([{"minutes_before": 60.0}], f"reminders[0].{RANGE_MINUTES} 60.0"),
        ([{"minutes_before": 60}, {"days_before": 1, "at": "18:00"}, {"minutes_before": 60}],
         "reminders[2]: duplicate of reminders[0] (m60)"),
        ([{"days_before": 1, "at": 1080}, {"days_before": 1, "at": "18:00"}],
         "reminders[1]: duplicate of reminders[0] (d1-1800)"),
    ],
)  # fmt: skip
def test_parse_reminders_errors_name_item_and_field(raw: Any, message: str):
    with pytest.raises(ConfigError) as exc:
        parse_reminders(raw)
    assert str(exc.value) == f"config.yaml: {message}"


# Whole-file errors, exactly: an unknown key anywhere is named, and shifts and reminders
# read HH:MM by one rule (bot.campaign.parse_clock).
@pytest.mark.parametrize(
    "text, message",
    [
        (GOOD.replace("polling_day", "polling_dya"),
         "polling_dya: unknown key (did you mean polling_day?)"),
        (GOOD + "colour: red\n", "colour: unknown key"),
        (GOOD.replace("label: Late", "lable: Late"),
         "shifts[1].lable: unknown key; expected id, label, start or end"),
        (GOOD + "rate_limits: {sms: 1, email: 2}\n",
         "rate_limits.email: expected telegram, whatsapp or sms"),
        (GOOD.replace('start: "07:00"', "start: 7am"),
         "shifts[0].start: expected HH:MM, got '7am'"),
        (GOOD + "reminders: [{days_before: 1, at: 7am}]\n",
         "reminders[0].at: expected HH:MM, got '7am'"),
        (GOOD.replace('start: "07:00"', "start: 7"), "shifts[0].start: expected HH:MM, got 7"),
        (GOOD + "reminders: [{days_before: 1, at: 18}]\n",
         "reminders[0].at: expected HH:MM, got 18"),
        (GOOD.replace("end: 22:00", "end: 24:00"),
         "shifts[1].end: expected HH:MM, got 1440 (YAML's reading of an unquoted 24:00)"),
        (GOOD + "reminders: [{days_before: 1, at: 24:00}]\n",
         "reminders[0].at: expected HH:MM, got 1440 (YAML's reading of an unquoted 24:00)"),
        (GOOD.replace('end: "12:00"', 'end: "12:60"'),
         "shifts[0].end: expected HH:MM, got '12:60'"),
        (GOOD + "reminders: [{days_before: 1, at: '12:60'}]\n",
         "reminders[0].at: expected HH:MM, got '12:60'"),
        (GOOD.replace('start: "07:00", ', ""), "shifts[0].start: missing"),
        (GOOD.replace("start: 17:00", "start: 22:00"), "shifts[1].end: must be after start"),
        (GOOD.replace("shifts:\n", "shifts:\n  - morning\n"),
         "shifts[0]: expected a mapping with id, label, start, end, got 'morning'"),
        (GOOD.replace(SHIFTS, "shifts: {}\n"),
         "shifts: expected a list of shifts with id, label, start, end, got dict"),
        (GOOD + "retention_days: 2.5\n",
         "retention_days: expected a positive whole number, got 2.5"),
        (GOOD + "organisers: [telegram:1, bob]\n",
         "organisers[1]: expected telegram:<id> or sms:+44...: 'bob'"),
        (GOOD + "name: [a, b]\n", "name: expected text, got list"),
        ("- a list\n", "expected a mapping of settings at the top level, got ['a list']"),
        ("", "expected a mapping of settings at the top level, got None"),
        # A date that does not exist names the field and the value, not only the YAML.
        (GOOD.replace("2029-05-03", "2029-02-30"),
         "polling_day: expected an ISO date like 2029-05-03, got '2029-02-30'"),
        (GOOD.replace("2029-05-03", "2029-05-33"),
         "polling_day: expected an ISO date like 2029-05-03, got '2029-05-33'"),
    ],
)  # fmt: skip
def test_bad_config_exact_errors(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_campaign(path)
    assert str(err.value) == f"{path}: {message}"


@pytest.mark.parametrize(
    "text",
    [
        GOOD + "name:\nimprint:\nrate_limits:\norganisers:\n",  # empty: as if left out
        GOOD.replace('start: "07:00"', "start: 7:00"),  # YAML 1.1 reads 7:00 as 420
    ],
)
def test_empty_values_take_the_defaults(tmp_path, text):
    c = load_campaign(write(tmp_path, text))
    assert c.name == "our campaign" and c.imprint == "" and c.organisers == frozenset()
    assert c.rate_limits == {"telegram": 30.0, "whatsapp": 80.0, "sms": 10.0}
    assert c.shift("morning").start == time(7, 0)


def test_every_config_in_the_repo_loads(tmp_path):
    from bench.common import campaign_config
    from tests.harness import CONFIG

    assert load_campaign(write(tmp_path, CONFIG)).whatsapp_number == "447700900000"
    bench = campaign_config(tmp_path, "rate_limits: {telegram: 100000}", "message_quota: 1000")
    assert load_campaign(bench).rate_limits["telegram"] == 100000.0


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("TELEGRAM_WEBHOOK_SECRET", "has spaces",
         "TELEGRAM_WEBHOOK_SECRET: use 1-256 characters of A-Z a-z 0-9 _ -"),
        ("TELEGRAM_WEBHOOK_SECRET", "x" * 257,
         "TELEGRAM_WEBHOOK_SECRET: use 1-256 characters of A-Z a-z 0-9 _ -"),
        ("GEOCODER", "google", "GEOCODER: expected 'offline' or 'postcodes.io', got 'google'"),
        ("TWILIO_WHATSAPP_FROM", "+447700900000",
         "TWILIO_WHATSAPP_FROM: expected whatsapp:+<number>"),
    ],
)  # fmt: skip
def test_bad_environment_exact_errors(tmp_path, name, value, message):
    with pytest.raises(ConfigError) as err:
        load_settings({"BOT_CONFIG": str(write(tmp_path, GOOD)), name: value})
    assert str(err.value) == message


def test_blank_environment_variables_take_the_defaults(tmp_path):
    s = load_settings({"BOT_CONFIG": str(write(tmp_path, GOOD)), "GEOCODER": " ", "VAR_DIR": ""})
    assert s.geocoder == "offline" and s.var_dir == Path("var")


def test_reading_config_loads_neither_geo_nor_io_libraries():
    # bot/campaign.py is pure; bot/config.py must not pull in the geocoder (and numpy).
    code = (
        "import sys, bot.campaign; loaded = set(sys.modules)\n"
        "assert not {'redis', 'numpy', 'yaml', 'pydantic', 'requests'} & loaded, loaded\n"
        "import bot.config; assert not {'bot.geo', 'numpy', 'redis'} & set(sys.modules)\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
