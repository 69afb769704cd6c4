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
    monkeypatch.setenv("TELEGRAM_WEBHOOK_SECRET", "s")
    monkeypatch.setenv("PUBLIC_URL", public_url)
    assert cli.main(["set-webhook"]) == 2
    assert "https:// PUBLIC_URL" in capsys.readouterr().err
