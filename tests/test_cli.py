"""The ``pollday`` organiser commands."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest

from bot import cli
from bot.admin.auth import Organiser, identify
from bot.config import Settings, load_campaign
from tests.fakes import FakeTelegram

ROOT = Path(__file__).resolve().parent.parent


def test_check_summarises_the_sample_config(monkeypatch, capsys, geo_cache):
    monkeypatch.setenv("BOT_CONFIG", str(ROOT / "config.yaml"))
    monkeypatch.setenv("VAR_DIR", str(geo_cache.parent))
    assert cli.main(["check"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == (
        "ok: 36 rooms, 30 of them in target seats (the files named in config.yaml; REDIS_URL "
        "is not set); 3 shifts on 2029-05-03; channels on: none (set credentials, see README)"
    )
    assert "warning: room holloway (Islington North) is not in a target seat: it will never be "\
        "offered" in out  # fmt: skip
    assert "rooms per target seat (13 of 13 have rooms):" in out and "  Hendon: 3" in out
    assert out[out.index("  Hendon: 3") + 1].startswith("  ")  # one line per seat
    places = next(line for line in out if line.startswith("places per shift"))
    assert places.startswith("places per shift in target seats: morning ")
    assert cli.main(["check", "--json"]) == 0  # the same facts for scripts
    found = json.loads(capsys.readouterr().out)
    assert (found["ok"], found["rooms"], found["rooms_in_target_seats"]) == (True, 36, 30)
    assert found["rooms_per_target_seat"]["Hendon"] == 3 and found["polling_day"] == "2029-05-03"
    assert f"places per shift in target seats: morning {found['places_per_shift']['morning']}," in (
        places
    )
    assert (
        "room holloway (Islington North) is not in a target seat: it will never be offered"
        in (found["warnings"])
    )


def test_check_reports_a_bad_row(monkeypatch, capsys, tmp_path):
    (tmp_path / "config.yaml").write_text(
        (ROOT / "config.yaml").read_text().replace("data/rooms.csv", "rooms.csv")
        .replace("data/targets.csv", str(ROOT / "data" / "targets.csv"))
    )  # fmt: skip
    (tmp_path / "rooms.csv").write_text(
        "id,name,address,postcode,constituency,latitude,longitude\n"
        "a,Hall,1 St,N7 6AA,Hendon,51.5,-0.1\nb,Hall,1 St,N7 6AA,Hendon,51.5,east\n"
    )
    monkeypatch.setenv("BOT_CONFIG", str(tmp_path / "config.yaml"))
    assert cli.main(["check"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {tmp_path / 'rooms.csv'}: row 3, column longitude:")


def test_set_webhook_sends_url_secret_and_allowed_updates(monkeypatch, capsys):
    with FakeTelegram() as fake:
        monkeypatch.setenv("BOT_CONFIG", str(ROOT / "config.yaml"))
        monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "42:XYZ")
        monkeypatch.setenv("ID_SECRET", "a-test-one-way-id-secret")
        monkeypatch.setenv("TELEGRAM_WEBHOOK_SECRET", "s3cret-token")
        monkeypatch.setenv("TELEGRAM_API_URL", fake.url)
        monkeypatch.setenv("PUBLIC_URL", "https://bot.example.org")
        assert cli.main(["set-webhook"]) == 0
        (call,) = fake.calls("setWebhook")
    assert call.path == "/bot42:XYZ/setWebhook"
    assert call.form == {
        "url": "https://bot.example.org/webhooks/telegram",
        "secret_token": "s3cret-token",
        "allowed_updates": '["message", "callback_query"]',
        "max_connections": "40",
    }
    assert capsys.readouterr().out.strip() == (
        "webhook set: https://bot.example.org/webhooks/telegram"
    )


@pytest.mark.parametrize("public_url", ["", "http://insecure.example.org"])
def test_set_webhook_needs_https_and_credentials(monkeypatch, capsys, public_url):
    monkeypatch.setenv("BOT_CONFIG", str(ROOT / "config.yaml"))
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "42:XYZ")
    monkeypatch.setenv("ID_SECRET", "a-test-one-way-id-secret")
    monkeypatch.setenv("TELEGRAM_WEBHOOK_SECRET", "s")
    monkeypatch.setenv("PUBLIC_URL", public_url)
    assert cli.main(["set-webhook"]) == 2
    assert "https:// PUBLIC_URL" in capsys.readouterr().err


RESULTS = Path(__file__).parent / "data" / "results-small.csv"


@pytest.fixture
def data_env(monkeypatch, r, redis_server, geo_cache):
    monkeypatch.setenv("BOT_CONFIG", str(ROOT / "config.yaml"))
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    monkeypatch.setenv("VAR_DIR", str(geo_cache.parent))
    return r


def test_rooms_and_targets_import_from_the_command_line(data_env, capsys, tmp_path):
    from bot.store import Store

    assert cli.main(["targets", "import", str(ROOT / "data" / "targets.csv")]) == 0
    assert capsys.readouterr().out.strip() == "ok: 13 target seats"
    assert cli.main(["rooms", "import", str(ROOT / "data" / "rooms.csv")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("ok: 36 rooms (36 added, 0 updated, 0 removed)\n")  # readable text
    assert cli.main(["rooms", "import", str(ROOT / "data" / "rooms.csv"), "--json"]) == 0
    as_json = json.loads(capsys.readouterr().out)  # and JSON for scripts
    assert as_json["rooms"] == 36 and as_json["removed"] == [] and as_json["updated"] == []
    loaded = Store(data_env).rooms.load()
    rooms, targets = list(loaded.rooms.values()), loaded.targets
    assert len(rooms) == 36 and targets["E14001279"] == 1 and targets["W07000098"] == 13
    # Rooms outside the targets are named in the import's result: they are never offered.
    assert "room archway (Islington North) is not in a target seat: it will never be offered" in out
    bad = tmp_path / "bad.csv"
    bad.write_text("id,name,address,postcode,constituency\nx,,1 St,N7 6AA,Hendon\n")
    assert cli.main(["rooms", "import", str(bad)]) == 2
    assert capsys.readouterr().err == f"error: {bad}: row 2, column name: empty\n"
    assert cli.main(["rooms", "import", str(bad), "--json"]) == 2  # errors as JSON too
    assert json.loads(capsys.readouterr().err) == {"error": f"{bad}: row 2, column name: empty"}
    assert cli.main(["targets", "import", str(ROOT / "data" / "targets.csv"), "--json"]) == 0
    as_json = json.loads(capsys.readouterr().out)
    assert as_json["targets"] == 13 and any("archway" in w for w in as_json["warnings"])
    assert len(Store(data_env).rooms.load().rooms) == 36  # nothing half-loaded


def test_removing_rooms_with_pledges_needs_force(data_env, capsys, tmp_path):
    from bot.model.person import Pledge
    from bot.store import Store
    from tests.people import add_supporters

    cli.main(["rooms", "import", str(ROOT / "data" / "rooms.csv")])
    add_supporters(Store(data_env), ["sms:+447700900001"], pledge=Pledge("colindale", ("morning",)))
    fewer = tmp_path / "fewer.csv"
    lines = (ROOT / "data" / "rooms.csv").read_text().splitlines()
    fewer.write_text("\n".join(x for x in lines if not x.startswith("colindale,")) + "\n")
    capsys.readouterr()
    assert cli.main(["rooms", "import", str(fewer)]) == 2
    err = capsys.readouterr().err
    assert "these rooms have pledges and would be removed: colindale (1)" in err
    assert err.rstrip().endswith("nothing changed (add --force to move them)")  # and how
    assert cli.main(["rooms", "import", str(fewer), "--force"]) == 0
    assert "1 people were pledged to removed rooms" in capsys.readouterr().out


def test_targets_from_results_writes_or_imports(data_env, capsys, tmp_path):
    from bot.store import Store

    args = ["targets", "from-results", str(RESULTS), "--party", "Lab", "--max-majority-pct", "5"]
    assert cli.main(args) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("constituency,priority,gss_code\n")
    out = tmp_path / "targets.csv"
    assert cli.main([*args, "-o", str(out)]) == 0
    assert out.read_text() == printed
    assert cli.main([*args, "--import"]) == 0
    assert capsys.readouterr().out.strip().endswith("target seats imported")
    assert cli.main([*args, "--json"]) == 0
    chosen = json.loads(capsys.readouterr().out)["targets"]
    rows = list(csv.DictReader(printed.splitlines()))
    assert [(t["constituency"], t["priority"]) for t in chosen] == [
        (row["constituency"], int(row["priority"])) for row in rows
    ]
    assert all(t["majority_pct"] <= 5 and "Lab" in (t["first"], t["second"]) for t in chosen)
    assert Store(data_env).rooms.load().targets  # the targets are in
    assert cli.main([*args[:-1], "0"]) == 2
    assert (
        capsys.readouterr().err
        == "error: max majority % must be above 0 and at most 100, got 0.0\n"
    )


def test_check_looks_at_what_is_live_in_redis(data_env, capsys, tmp_path):
    cli.main(["check"])
    assert "nothing imported into Redis yet" in capsys.readouterr().out.splitlines()[0]
    assert cli.main(["targets", "import", str(ROOT / "data" / "targets.csv")]) == 0
    assert cli.main(["rooms", "import", str(ROOT / "data" / "rooms.csv")]) == 0
    capsys.readouterr()
    assert cli.main(["check"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("ok: 36 rooms, 30 of them in target seats (live in Redis)")
    # Only Hendon a target now, its rooms with no evening places: the check says so...
    one = tmp_path / "one.csv"
    one.write_text("constituency,priority\nHendon,1\n")
    assert cli.main(["targets", "import", str(one)]) == 0
    with (ROOT / "data" / "rooms.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    with (tmp_path / "rooms.csv").open("w", newline="") as f:
        out_csv = csv.DictWriter(f, fieldnames=list(rows[0]))
        out_csv.writeheader()
        out_csv.writerows({**row, "capacity_evening": "0"} for row in rows)
    assert cli.main(["rooms", "import", str(tmp_path / "rooms.csv")]) == 0
    capsys.readouterr()
    assert cli.main(["check"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "rooms per target seat (1 of 1 have rooms):" in out and "  Hendon: 3" in out
    assert (
        "warning: shift evening has no places in any target room: nobody can be offered it" in out
    )
    # ...and with no targets at all (forced), it fails, saying why.
    empty = tmp_path / "none.csv"
    empty.write_text("constituency,priority\n")
    assert cli.main(["targets", "import", str(empty)]) == 2
    assert "no target seats in it" in capsys.readouterr().err
    assert cli.main(["targets", "import", str(empty), "--force"]) == 0
    capsys.readouterr()
    assert cli.main(["check"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no target seats: every supporter would be told that every")


def test_check_falls_back_to_the_files_when_redis_is_unreachable(monkeypatch, capsys, geo_cache):
    monkeypatch.setenv("BOT_CONFIG", str(ROOT / "config.yaml"))
    monkeypatch.setenv("VAR_DIR", str(geo_cache.parent))
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    assert cli.main(["check"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert "(the files named in config.yaml; Redis not reachable: ConnectionError)" in first


def test_pollday_finds_the_redis_make_run_started_and_says_when_it_cannot_reach_it(
    monkeypatch, capsys, tmp_path, redis_server, r
):
    from bot import local

    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setenv("BOT_CONFIG", str(ROOT / "config.yaml"))
    (tmp_path / "var").mkdir()
    local.remember(tmp_path / "var", {"PORT": "8000", "REDIS_URL": redis_server.url})
    (tmp_path / "var" / "admin_token").write_text("tok")
    env = local.cli_env({}, tmp_path)
    assert env["REDIS_URL"] == redis_server.url and env["ADMIN_TOKEN"] == "tok"
    assert local.cli_env({"REDIS_URL": "redis://elsewhere:1/0"}, tmp_path)["REDIS_URL"] == (
        "redis://elsewhere:1/0"  # what is set wins
    )
    monkeypatch.chdir(tmp_path)
    assert cli.main(["targets", "import", str(ROOT / "data" / "targets.csv")]) == 0
    local.remember(tmp_path / "var", {"REDIS_URL": "redis://127.0.0.1:1/0"})  # gone
    capsys.readouterr()
    assert cli.main(["targets", "import", str(ROOT / "data" / "targets.csv")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot reach Redis at redis://127.0.0.1:1/0 (ConnectionError)")
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_the_pollday_script_runs_the_command_without_activating_the_virtualenv():
    import subprocess

    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    env["PATH"] = "/usr/bin:/bin"  # no .venv on the PATH
    env["BOT_CONFIG"] = str(ROOT / "config.yaml")
    done = subprocess.run(
        [str(ROOT / "pollday"), "--help"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and "organisers' command line" in done.stdout


def test_login_makes_a_token_whose_config_line_lets_them_in(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("BOT_CONFIG", str(ROOT / "config.yaml"))
    assert cli.main(["login", "Priya (Islington North)"]) == 0
    out = capsys.readouterr().out.splitlines()
    token = out[0].removeprefix("token for Priya (Islington North) (viewer): ")
    entry = out[-1]
    assert entry.startswith('  - {name: "Priya (Islington North)", role: viewer, token_sha256: ')
    assert token not in entry  # only its hash goes in the file
    text = (ROOT / "config.yaml").read_text().replace("data/", str(ROOT / "data") + "/")
    (tmp_path / "config.yaml").write_text(f"{text}\norganiser_logins:\n{entry}\n")
    settings = Settings(campaign=load_campaign(tmp_path / "config.yaml"), admin_token="")
    assert identify(settings, token) == Organiser("Priya (Islington North)", "viewer")
    assert identify(settings, token + "x") is None and identify(settings, "") is None
    assert cli.main(["login", "Sam", "--role", "admin", "--json"]) == 0
    made = json.loads(capsys.readouterr().out)
    assert (made["name"], made["role"], len(made["token_sha256"])) == ("Sam", "admin", 64)
