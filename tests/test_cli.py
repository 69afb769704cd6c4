"""The ``pollday`` organiser commands."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot import cli
from tests.fakes import FakeTelegram

ROOT = Path(__file__).resolve().parent.parent


def test_check_summarises_the_sample_config(monkeypatch, capsys, geo_cache):
    monkeypatch.setenv("BOT_CONFIG", str(ROOT / "config.yaml"))
    monkeypatch.setenv("VAR_DIR", str(geo_cache.parent))
    assert cli.main(["check"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == (
        "ok: 36 rooms, 30 of them in target seats; 3 shifts on 2029-05-03; "
        "channels on: none (set credentials, see README)"
    )
    assert "  not a target seat, never offered: holloway (Islington North)" in out


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
    assert '"rooms": 36' in out and '"removed": []' in out
    loaded = Store(data_env).rooms.load()
    rooms, targets = list(loaded.rooms.values()), loaded.targets
    assert len(rooms) == 36 and targets["E14001279"] == 1 and targets["W07000098"] == 13
    # Rooms outside the targets are named in the import's result: they are never offered.
    assert "room archway (Islington North) is not in a target seat: it will never be offered" in out
    bad = tmp_path / "bad.csv"
    bad.write_text("id,name,address,postcode,constituency\nx,,1 St,N7 6AA,Hendon\n")
    assert cli.main(["rooms", "import", str(bad)]) == 2
    assert capsys.readouterr().err == f"error: {bad}: row 2, column name: empty\n"
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
    assert "these rooms have pledges and would be removed: colindale (1)" in capsys.readouterr().err
    assert cli.main(["rooms", "import", str(fewer), "--force"]) == 0
    assert '"moved": 1' in capsys.readouterr().out


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
    assert Store(data_env).rooms.load().targets  # the targets are in
    assert cli.main([*args[:-1], "0"]) == 2
    assert (
        capsys.readouterr().err
        == "error: max majority % must be above 0 and at most 100, got 0.0\n"
    )
