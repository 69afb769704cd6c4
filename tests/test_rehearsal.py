"""``pollday rehearse`` (bot/rehearsal.py): who the simulated supporters are, the rules it
judges the bot by (each shown to catch a bot that breaks it, on a real Redis), and a whole
polling day played fast against the real web and worker processes."""

from __future__ import annotations

import random
import time
from collections import Counter

import pytest
import yaml

from bot import daytime, rehearsal
from bot.geo import distance_km
from bot.model.message import Outbound
from bot.model.person import Consent, Conversation, State
from bot.rehearsal import CUES, KINDS, Day, NoShow, Supporter, cast
from bot.rooms import Offer
from bot.store import Store, keys
from tests.conftest import ROOT
from tests.harness import PlatformPhones
from tests.world import CAMPAIGN, default_directory

YES = Consent(True, 1, "console", "v1")


def test_every_cue_the_supporters_read_is_in_the_messages():
    texts = [" ".join(str(v).split()) for v in yaml.safe_load(
        (ROOT / "messages" / "en.yaml").read_text()).values()]  # fmt: skip
    for name, cue in CUES.items():
        assert any(cue in t for t in texts), name


def test_the_cast_is_the_same_for_a_seed_and_lives_near_the_target_rooms():
    directory = default_directory()
    people = cast(directory, CAMPAIGN, 400, random.Random(5))
    again = cast(directory, CAMPAIGN, 400, random.Random(5))
    assert [(p.at, p.kind, p.shifts) for p in people] == [(p.at, p.kind, p.shifts) for p in again]
    targets = [r for r in directory.rooms.values() if directory.priority(r) is not None]
    for p in people:
        assert min(distance_km(p.at, r.location) for r in targets) <= rehearsal.SPREAD_KM + 0.01
        assert p.shifts and list(p.shifts) == [s for s in CAMPAIGN.shift_ids if s in p.shifts]
    kinds = {k: sum(p.kind == k for p in people) for k in KINDS}
    assert all(n > 0 for n in kinds.values()) and kinds["reliable"] > 150
    assert len({p.address for p in people}) == 400


def day_of(r, *people: Supporter) -> Day:
    store = Store(r)
    return Day(store, CAMPAIGN, default_directory(), list(people), random.Random(1))


def sent(r, who: str, *texts: str) -> None:
    for text in texts:
        r.rpush(keys.CONSOLE("pd", address=who), Outbound(who, text).to_json())


ASK = "Room B needs 2 more people from 17:00, 1.0 km from you: reply YES to go."


def asked_person(r, who: str = "console:x", kind: str = "reliable") -> Supporter:
    p = Supporter(who, default_directory().rooms["B"].location, ("morning",), kind, False)
    conv = Conversation(who, State.DONE, consent=YES, asked=Offer("B", ("evening",), 1.0))
    Store(r).people.save(conv, new_person=True, consent=YES)
    return p


def test_an_ask_twice_for_the_same_gap_is_a_broken_rule(r):
    p = asked_person(r)
    day = day_of(r, p)
    sent(r, p.address, ASK)
    day.step()
    assert day.report.broken == [] and day.report.asked == 1
    sent(r, p.address, ASK)
    day.step()
    assert day.report.broken == ["console:x was asked twice to fill B's evening gap"]


def test_an_ask_after_stop_or_to_someone_who_said_no_to_updates_is_a_broken_rule(r):
    stop = "Done: you won't get any more messages from us. Reply START if you change your mind."
    p, q = asked_person(r), asked_person(r, "console:y", "no_updates")
    day = day_of(r, p, q)
    sent(r, p.address, ASK, stop)  # the ask went before the STOP was answered: fine
    sent(r, q.address, ASK)
    day.step()
    assert day.report.broken == ["console:y said no to updates and was asked to fill a gap"]
    assert day.report.stopped == 1
    sent(r, p.address, ASK)
    day.step()
    assert "console:x was asked to fill a gap after their STOP" in day.report.broken


def test_a_room_over_capacity_is_a_broken_rule(r):
    day = day_of(r)
    r.hset("pd:pledged", mapping={"A|morning": 5, "B|evening": 4})
    day.step()
    assert day.report.broken == []
    r.hset("pd:pledged", "A|morning", 6)
    day.step()
    assert day.report.broken == ["Room A had 6 people for morning, over its 5"]


def test_a_no_show_not_refilled_while_someone_free_was_never_asked_is_a_broken_rule(r):
    """Judged at the end of the day: a place refilled, or everyone free then asked something,
    holds the rule; someone free and asked nothing breaks it."""
    at = 1872488400.0  # polling day, 08:40 BST: the morning ends at 12:00
    p, q = asked_person(r), asked_person(r, "console:y")
    day = day_of(r, p, q)
    day.no_shows = [NoShow("A", "morning", at, 3, ["console:x", "console:y"]),
                    NoShow("B", "morning", at, 3, ["console:x"], refilled=True)]  # fmt: skip
    q.asked_at.append(at + 600)  # asked (for some gap) ten minutes after
    assert day.finish().broken == [
        "Room A's morning place from a no-show at 08:40 was not refilled, though 1 willing "
        "people nearby were free and never asked (console:x)"
    ]
    p.asked_at.append(at + 60)
    day.report.broken.clear()
    assert day.finish().broken == []


def test_a_no_show_too_near_the_shift_end_is_not_judged(r):
    day = day_of(r, asked_person(r))
    late = 1872500400.0 - 20 * 60  # 20 minutes before the morning ends: two waves at most
    day.no_shows = [NoShow("A", "morning", late, 3, ["console:x"])]
    assert day.finish().broken == []


def test_a_polling_day_rehearsed_keeps_every_rule(tmp_path, geo_cache, monkeypatch):
    """The real web and worker processes, on a day played at about 400 times: supporters
    on the fake Telegram, the fake WhatsApp and the local chat sign up, come, are late,
    never come, cancel, say STOP, and fill gaps nearby."""
    monkeypatch.setenv("VAR_DIR", str(geo_cache.parent))
    monkeypatch.delenv("REDIS_URL", raising=False)
    lines: list[str] = []
    started = time.monotonic()
    phones = PlatformPhones()
    try:
        report = rehearsal.rehearse(180, 2.5, seed=4, root=ROOT, say=lines.append, phones=phones)
    finally:
        phones.stop()
    assert time.monotonic() - started < 300
    confirmed = Counter(
        address.split(":")[0]
        for address in {f"telegram:{m['chat_id']}" for m in phones.telegram.sent()
                        if CUES["confirmed"] in m["text"]}
        | {m["To"] for m in phones.twilio.messages() if CUES["confirmed"] in (m["Body"] or "")}
    )  # fmt: skip
    print(report.text(), dict(confirmed))
    assert confirmed["telegram"] > 40 and confirmed["whatsapp"] > 40  # of 60 each
    assert abs(daytime.now() - time.time()) < 1  # this process is back on the real clock
    assert report.broken == [], report.text()
    assert report.pledged > 150 and report.checked_in > 100
    assert report.no_shows > 0 and report.chased > report.no_shows
    assert report.cancelled > 0 and report.stopped > 0
    assert report.asked > 0 and report.took > 0
    assert any(line.startswith("Organiser page: http://127.0.0.1:") for line in lines)
    assert any(line.startswith("18:00") for line in lines)


def test_the_rehearsal_is_given_no_platform_no_redis_and_no_live_secret(tmp_path):
    """Whatever the live bot's environment holds, the rehearsal's processes get only where
    files go and how places are found: every platform off, no Redis of the live bot's."""
    from bot.config import load_settings

    live = {
        "BOT_CONFIG": str(ROOT / "config.yaml"), "REDIS_URL": "redis://live:6379/0",
        "PUBLIC_URL": "https://bot.example.org", "TELEGRAM_BOT_TOKEN": "1:x",
        "TELEGRAM_WEBHOOK_SECRET": "s", "TELEGRAM_API_URL": "http://127.0.0.1:1",
        "TWILIO_ACCOUNT_SID": "AC1", "TWILIO_AUTH_TOKEN": "t",
        "TWILIO_WHATSAPP_FROM": "whatsapp:+447700900000", "TWILIO_SMS_FROM": "+447700900000",
        "TWILIO_API_URL": "http://127.0.0.1:2", "DEMOCRACY_CLUB_API_KEY": "k",
        "ADMIN_TOKEN": "live-token", "ID_SECRET": "0123456789abcdef0123", "GEOCODER": "offline",
        "VAR_DIR": str(tmp_path), "POLLDAY_CLOCK": "1,2,3", "HOME": "/root",
    }  # fmt: skip
    passed = rehearsal.passed_on(live)
    assert set(passed) == {"BOT_CONFIG", "GEOCODER", "VAR_DIR", "HOME"}
    settings = load_settings(passed)
    assert not settings.telegram_on and not settings.twilio_on
    assert settings.redis_url == "" and settings.democracy_club_api_key == ""


def test_the_rehearsal_runs_on_the_organisers_config_with_nobody_broadcasting_from_chat(
    tmp_path,
):
    """Organisers allowed to broadcast from Telegram would need Telegram on; the rehearsal
    has every platform off, so its copy of config.yaml has none (and finds its files)."""
    from bot.config import ConfigError, load_settings

    source = tmp_path / "campaign" / "config.yaml"
    source.parent.mkdir()
    text = (ROOT / "config.yaml").read_text()
    text = text.replace("organisers: []", 'organisers: ["telegram:1"]')
    text = text.replace("data/", str(ROOT / "data") + "/")
    source.write_text(text)
    with pytest.raises(ConfigError, match="organisers"):
        load_settings({"BOT_CONFIG": str(source)})
    home = tmp_path / "rehearsal"
    home.mkdir()
    copy = rehearsal._config(source, home)
    settings = load_settings({"BOT_CONFIG": str(copy)})
    assert settings.campaign.organisers == frozenset()
    assert settings.campaign.rooms_csv == ROOT / "data" / "rooms.csv"
    assert settings.campaign.shifts == load_settings({"BOT_CONFIG": str(ROOT / "config.yaml")}
                                                     ).campaign.shifts  # fmt: skip


def test_someone_the_bot_asked_in_a_wave_is_not_counted_free_and_never_asked(r):
    """A wave records whom it asks; an ask that finds the gap covered by the time it goes
    sends nothing. That person is not held against a later no-show's refill."""
    room = default_directory().rooms["A"]
    p = Supporter("console:w", room.location, ("morning",), "reliable", True)
    day = day_of(r, p)
    conv = Conversation(p.address, State.ASK_SHIFTS, location=room.location, consent=YES)
    day.store.people.save(conv, new_person=True, consent=YES)
    assert day.free_near("A", "evening", time.time()) == ["console:w"]
    day.store.backfill.ask("A", "evening", 1, ["console:w"], time.time(), 600)
    assert day.free_near("A", "evening", time.time()) == []
