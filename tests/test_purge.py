"""Purging personal data after polling day: a dry run lists, the purge keeps only
suppression records (with consent evidence) and totals."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from rq.registry import ScheduledJobRegistry

from bot import cli
from bot.broadcasts import Audience
from bot.config import Settings, load_campaign
from bot.geo import OfflineGeocoder
from bot.model.person import Pledge
from bot.store.broadcasts import Broadcasts
from tests.people import add_supporters
from workers import purge, reminders
from workers.queues import BROADCAST
from workers.runtime import build

ROOT = Path(__file__).resolve().parent.parent
PEOPLE = ["sms:+447700900001", "telegram:4242421", "whatsapp:+447700900003"]


def populated(redis_server, geo_cache):
    OfflineGeocoder.open(geo_cache)
    settings = Settings(
        campaign=load_campaign(ROOT / "config.yaml"),
        redis_url=redis_server.url,
        var_dir=geo_cache.parent,
    )
    rt = build(settings)
    pledge = Pledge("hendon-brent-st", ("morning",))
    add_supporters(rt.store, PEOPLE, pledge=pledge, last_inbound=1.0)
    rt.store.referrals.code_for(PEOPLE[0])
    rt.store.referrals.first_contact(PEOPLE[1], PEOPLE[0])
    rt.store.suppression.set_stopped(PEOPLE[2], True)
    reminders.schedule(rt, PEOPLE[0], pledge, now=datetime(2029, 1, 1, tzinfo=UTC))
    bc = Broadcasts(rt.store)
    bc.create("Hi", Audience(), PEOPLE, 0)
    rt.redis.rpush("pd:inbox:sms:+447700900001", "{}")
    return rt


def test_dry_run_lists_what_would_go_and_changes_nothing(r, redis_server, geo_cache):
    rt = populated(redis_server, geo_cache)
    before = sorted(r.keys("*"))
    found = purge.purge(rt, dry_run=True)
    assert found["conv:{address}"] == 3 and found["people"] == 3 and found["consented"] == 3
    assert found["codes:{part}"] == 1 and "codes" not in found and found["bc:{bid}:to"] == 1
    assert found["inbox:{address}"] == 1
    assert found["pledge"] == 3 and found["timed:{address}"] == 1 and found["due"] == 1
    assert sorted(r.keys("*")) == before


def test_purge_keeps_only_suppression_records_consent_evidence_and_totals(
    r, redis_server, geo_cache
):
    rt = populated(redis_server, geo_cache)
    purge.purge(rt)
    dump = b" ".join(r.dump(k) or b"" for k in r.keys("*"))
    for address in PEOPLE:
        ident = address.split(":", 1)[1].encode()
        assert ident not in dump
        assert not any(ident in k for k in r.keys("*"))
    assert r.scard("pd:seen") == 3 and r.scard("pd:stopped") == 1
    evidence = [v.decode().split("|") for v in r.hvals("pd:consent")]
    assert len(evidence) == 3 and all(e[0] == "1" and e[3] == "v1" for e in evidence)
    assert rt.store.suppression.was_stopped(PEOPLE[2])  # a STOP outlives the purge
    assert len(ScheduledJobRegistry(BROADCAST, connection=r)) == 0
    assert Broadcasts(rt.store).status(1)["total"] == 3  # counts that name no one stay
    assert rt.store.people.by_channel() == {"sms": 1, "telegram": 1, "whatsapp": 1}
    assert purge.plan(rt).get("conv:{address}", 0) == 0  # the plan lists only what it finds
    assert rt.store.purge_plan()["conv:{address}"] == 0  # the pattern is still counted


def test_purge_is_scheduled_after_polling_day(r, redis_server, geo_cache):
    rt = populated(redis_server, geo_cache)
    purge.schedule(rt)
    purge.schedule(rt)  # idempotent: one job
    registry = ScheduledJobRegistry(purge.QUEUES[-1], connection=r)
    assert registry.get_job_ids().count(purge.JOB_ID) == 1
    # 30 days after Thursday 3 May 2029, at midnight in London (BST): 23:00 UTC the day before.
    assert registry.get_scheduled_time(purge.JOB_ID) == datetime(2029, 6, 1, 23, 0, tzinfo=UTC)


def test_purge_command(r, redis_server, geo_cache, monkeypatch, capsys):
    populated(redis_server, geo_cache)
    monkeypatch.setenv("BOT_CONFIG", str(ROOT / "config.yaml"))
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    monkeypatch.setenv("VAR_DIR", str(geo_cache.parent))
    assert cli.main(["purge", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "would remove       3  conv:{address}" in out
    assert cli.main(["purge"]) == 0
    assert "removed       3  conv:{address}" in capsys.readouterr().out
    assert r.keys("pd:conv:*") == []
