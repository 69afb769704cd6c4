"""The calendar cannot destroy data: the polling day is recorded with the data, and a start
that config.yaml's date would turn into a purge, or into recruiting for a day gone, is
refused; moving a campaign is an explicit command."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from bot import calendar, cli
from bot.config import ConfigError, load_campaign
from bot.model.person import Pledge
from bot.store import Store
from tests.people import add_supporters

ROOT = Path(__file__).resolve().parent.parent
DAY, TODAY = date(2029, 5, 3), date(2029, 4, 1)
SECRET = "a-test-one-way-id-secret"


@pytest.fixture
def campaign():
    return load_campaign(ROOT / "config.yaml")  # polling_day: 2029-05-03


def test_the_first_start_records_the_day_and_the_same_day_starts_again(r, campaign):
    store = Store(r)
    calendar.guard(store, campaign, TODAY)
    assert store.calendar.polling_day() == DAY
    add_supporters(store, ["telegram:1"])
    calendar.guard(store, campaign, TODAY)  # nothing to refuse


def test_another_day_in_config_is_refused_while_redis_holds_supporters(r, campaign):
    store = Store(r)
    calendar.guard(store, campaign, TODAY)
    add_supporters(store, ["telegram:1", "sms:+447700900001"])
    moved = replace(campaign, polling_day=date(2029, 5, 10))
    with pytest.raises(ConfigError) as err:
        calendar.guard(store, moved, TODAY)
    assert str(err.value) == (
        f"{ROOT / 'config.yaml'}: polling_day: 2029-05-10, but the 2 supporters in Redis "
        "signed up for polling day 2029-05-03. To move them to 2029-05-10 (their reminders "
        "and the purge move too), run: pollday polling-day 2029-05-10. To go back, set "
        "polling_day: 2029-05-03."
    )
    assert store.calendar.polling_day() == DAY and store.people.everyone()  # unchanged


def test_another_day_with_nobody_signed_up_is_simply_the_new_day(r, campaign):
    store = Store(r)
    calendar.guard(store, campaign, TODAY)
    calendar.guard(store, replace(campaign, polling_day=date(2029, 5, 10)), TODAY)
    assert store.calendar.polling_day() == date(2029, 5, 10)


@pytest.mark.parametrize("people", [0, 1])
def test_a_past_day_is_refused_unless_the_data_was_collected_for_it(r, campaign, people):
    store = Store(r)
    add_supporters(store, [f"telegram:{i}" for i in range(people)])
    after = date(2029, 5, 4)
    if people:  # collected for 3 May, started again on the 4th: the purge is the end
        store.calendar.set_polling_day(DAY)
        calendar.guard(store, campaign, after)
        return
    with pytest.raises(ConfigError) as err:
        calendar.guard(store, campaign, after)
    assert str(err.value) == (
        f"{ROOT / 'config.yaml'}: polling_day: 2029-05-03 is in the past (today is 2029-05-04): "
        "set the coming polling day. Nothing was changed."
    )
    assert store.calendar.polling_day() is None


def test_data_from_before_the_day_was_recorded_is_taken_as_this_days(r, campaign):
    store = Store(r)
    add_supporters(store, ["telegram:1"])
    calendar.guard(store, campaign, TODAY)
    assert store.calendar.polling_day() == DAY


@pytest.fixture
def env(monkeypatch, r, redis_server, geo_cache, tmp_path):
    config = tmp_path / "config.yaml"
    text = (ROOT / "config.yaml").read_text().replace("data/", f"{ROOT}/data/")
    config.write_text(text)
    for name, value in {"BOT_CONFIG": str(config), "REDIS_URL": redis_server.url,
                        "VAR_DIR": str(geo_cache.parent), "ID_SECRET": SECRET}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    return config


def test_moving_the_polling_day_is_a_command_that_moves_reminders_and_the_purge(r, env, capsys):
    store = Store(r, secret=SECRET)
    store.calendar.set_polling_day(DAY)
    add_supporters(store, ["telegram:1"], pledge=Pledge("hendon-brent-st", ("morning",)))
    from workers import reminders
    from workers.runtime import build

    rt = build(cli.load_settings())
    reminders.schedule(rt, "telegram:1", Pledge("hendon-brent-st", ("morning",)))
    before = sorted(at for _, at in store.timed.pending("telegram:1"))
    # The command refuses until config.yaml says the new day...
    assert cli.main(["polling-day", "2029-05-10"]) == 2
    assert "set polling_day: 2029-05-10 there first" in capsys.readouterr().err
    env.write_text(env.read_text().replace("polling_day: 2029-05-03", "polling_day: 2029-05-10"))
    assert cli.main(["polling-day", "2029-05-10"]) == 0
    out = capsys.readouterr().out.strip()
    assert out == (
        "polling day moved from 2029-05-03 to 2029-05-10: reminders scheduled again for 1 "
        "people; the purge runs by itself at 2029-06-09 00:00 Europe/London "
        "(2029-06-08 23:00 UTC)"
    )
    assert store.calendar.polling_day() == date(2029, 5, 10)
    after = sorted(at for _, at in store.timed.pending("telegram:1"))
    # Two reminders, the two checks after the shift starts (on your way? no-show?) and the
    # vote message.
    assert [a - b for a, b in zip(after, before, strict=True)] == [7 * 86400] * 5  # a week on
    assert cli.main(["polling-day", "2029-05-10"]) == 0
    assert "already for polling day 2029-05-10" in capsys.readouterr().out
    assert cli.main(["polling-day", "2029-05-10", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"polling_day": "2029-05-10", "moved": False}


def test_a_purge_dry_run_says_when_the_purge_will_run(r, env, capsys):
    assert cli.main(["purge", "--dry-run"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first == (
        "the purge runs by itself at 2029-06-02 00:00 Europe/London (2029-06-01 23:00 UTC)"
    )
    assert cli.main(["purge", "--dry-run", "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["dry_run"] is True and found["runs_at"] == "2029-06-01T23:00:00+00:00"
    assert all(isinstance(n, int) for n in found["removed"].values())


def start_worker() -> subprocess.CompletedProcess[str]:
    """A worker process as the Procfile starts it, with this test's environment."""
    command = [sys.executable, "-m", "workers", "--with-scheduler"]
    return subprocess.run(
        command, cwd=ROOT, env=dict(os.environ), capture_output=True, text=True, timeout=60
    )


def test_a_worker_with_a_past_or_moved_day_refuses_to_start_and_purges_nothing(r, env):
    store = Store(r, secret=SECRET)
    store.calendar.set_polling_day(date(2029, 5, 10))
    add_supporters(store, ["telegram:1", "telegram:2"])
    # Someone edits config.yaml to a date already gone (it was 2029-05-03 above).
    env.write_text(re.sub(r"polling_day: .*", "polling_day: 2024-07-04", env.read_text()))
    worker = start_worker()
    assert worker.returncode == 2
    assert f"cannot start: {env}: polling_day: 2024-07-04 is in the past" in worker.stderr
    # Back to a future day, but not the one they signed up for: refused too.
    env.write_text(re.sub(r"polling_day: .*", "polling_day: 2029-05-03", env.read_text()))
    worker = start_worker()
    assert worker.returncode == 2
    assert f"cannot start: {env}: polling_day: 2029-05-03, but the 2 supporters" in worker.stderr
    assert len(store.people.everyone()) == 2  # nobody purged
    assert store.calendar.polling_day() == date(2029, 5, 10)
    assert not r.zcard("rq:scheduled:broadcast")  # no purge was even scheduled
