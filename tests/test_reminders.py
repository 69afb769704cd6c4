"""Reminders on a real Redis: timed events scheduled in UTC across the clock change, sent
once through the person's inbox, cancelled by STOP (even one not yet handled), CHANGE and
DELETE."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from bot.config import Settings, load_campaign
from bot.geo import OfflineGeocoder
from bot.model.message import Inbound, Outbound
from bot.model.person import Pledge, State
from tests.people import add_supporters
from workers import clock, reminders, turns
from workers.runtime import build

ROOT = Path(__file__).resolve().parent.parent
WHO = "console:rem"
PLEDGE = Pledge("hendon-brent-st", ("morning", "evening"))


def runtime_for(day: date, r, redis_server, geo_cache, monkeypatch):
    OfflineGeocoder.open(geo_cache)
    campaign = replace(load_campaign(ROOT / "config.yaml"), polling_day=day)
    settings = Settings(campaign=campaign, redis_url=redis_server.url, var_dir=geo_cache.parent)
    rt = build(settings)
    monkeypatch.setattr(turns, "runtime", lambda: rt)
    return rt


def scheduled(rt) -> list[tuple[datetime, str, list[str]]]:
    out = []
    for event, at in rt.store.timed.pending(WHO):
        assert event.event in ("reminder", "attendance", "vote") and event.address == WHO
        if event.event != "reminder":
            continue  # the checks after a shift starts, have you voted: their own tests
        about = json.loads(event.payload)
        out.append((datetime.fromtimestamp(at, UTC), about["name"], about["about"]))
    return sorted(out)


def fire_all(rt) -> int:
    """Time passes: every reminder comes due and is handled; how many turns that took."""
    moved = clock.tick(rt, now=datetime(2100, 1, 1, tzinfo=UTC).timestamp())
    assert turns.drain(WHO) == moved
    return moved


def sent(rt) -> list[str]:
    return [Outbound.from_json(x).text for x in rt.redis.lrange("pd:console:console:rem", 0, -1)]


@pytest.mark.parametrize(
    "day, expected",
    [
        # Polling day is the first day of BST: the evening before is still GMT.
        (date(2029, 3, 25), [
            (datetime(2029, 3, 24, 18, 0, tzinfo=UTC), "d1-1800", ["morning", "evening"]),
            (datetime(2029, 3, 25, 5, 0, tzinfo=UTC), "m60", ["morning"]),
            (datetime(2029, 3, 25, 15, 0, tzinfo=UTC), "m60", ["evening"]),
        ]),
        # The day after: both in BST, an hour ahead of UTC.
        (date(2029, 3, 26), [
            (datetime(2029, 3, 25, 17, 0, tzinfo=UTC), "d1-1800", ["morning", "evening"]),
            (datetime(2029, 3, 26, 5, 0, tzinfo=UTC), "m60", ["morning"]),
            (datetime(2029, 3, 26, 15, 0, tzinfo=UTC), "m60", ["evening"]),
        ]),
        # The clocks go back on the Sunday: polling day on Monday is GMT again.
        (date(2029, 10, 29), [
            (datetime(2029, 10, 28, 18, 0, tzinfo=UTC), "d1-1800", ["morning", "evening"]),
            (datetime(2029, 10, 29, 6, 0, tzinfo=UTC), "m60", ["morning"]),
            (datetime(2029, 10, 29, 16, 0, tzinfo=UTC), "m60", ["evening"]),
        ]),
    ],
)  # fmt: skip
def test_reminders_are_scheduled_in_utc_across_the_clock_change(
    r, redis_server, geo_cache, monkeypatch, day, expected
):
    """Each at the same point of the quarter hour before the time set (this person's)."""
    rt = runtime_for(day, r, redis_server, geo_cache, monkeypatch)
    reminders.schedule(rt, WHO, PLEDGE, now=datetime(2029, 1, 1, tzinfo=UTC))
    # The rule README states: each person's point of the quarter hour, from their one-way id.
    early = timedelta(seconds=int(rt.store.suppression.hid(WHO)[:8], 16) % 900)
    assert scheduled(rt) == [(at - early, name, about) for at, name, about in expected]
    assert timedelta(0) <= early < timedelta(minutes=15)


def test_reminders_are_spread_over_the_quarter_hour_before(r, redis_server, geo_cache, monkeypatch):
    """40,000 morning volunteers are not all reminded at 06:00 (their replies' lane would be
    held up for 20 minutes): each at their own point of 05:45-06:00, about even."""
    rt = runtime_for(date(2029, 5, 3), r, redis_server, geo_cache, monkeypatch)
    pledge = Pledge("hendon-brent-st", ("morning",))
    six = datetime(2029, 5, 3, 5, 0, tzinfo=UTC)  # 06:00 BST: an hour before the shift
    times = []
    for n in range(200):
        who = f"console:r{n}"
        reminders.schedule(rt, who, pledge, now=datetime(2029, 5, 1, tzinfo=UTC))
        (at,) = [at for e, at in rt.store.timed.pending(who)
                 if e.event == "reminder" and json.loads(e.payload)["name"] == "m60"]  # fmt: skip
        times.append(at)
    assert all(six.timestamp() - 900 <= at <= six.timestamp() for at in times)
    per_five = [sum(six.timestamp() - 900 + 300 * k <= at < six.timestamp() - 600 + 300 * k
                    for at in times) for k in range(3)]  # fmt: skip
    assert min(per_five) >= 45  # 200 people: about 67 in each five minutes


def test_reminders_already_past_are_not_scheduled(r, redis_server, geo_cache, monkeypatch):
    rt = runtime_for(date(2029, 5, 3), r, redis_server, geo_cache, monkeypatch)
    reminders.schedule(rt, WHO, PLEDGE, now=datetime(2029, 5, 3, 12, 0, tzinfo=UTC))
    assert [s[1:] for s in scheduled(rt)] == [("m60", ["evening"])]


def test_a_reminder_is_sent_once_and_names_room_address_map_and_shift(
    r, redis_server, geo_cache, monkeypatch
):
    rt = runtime_for(date(2029, 5, 3), r, redis_server, geo_cache, monkeypatch)
    add_supporters(rt.store, [WHO], pledge=PLEDGE)
    assert reminders.schedule(rt, WHO, PLEDGE, now=datetime(2029, 1, 1, tzinfo=UTC)) == 3
    reminders.schedule(rt, WHO, PLEDGE, now=datetime(2029, 1, 1, tzinfo=UTC))  # a replay
    (first_at, *_), *rest = scheduled(rt)
    assert len(rest) == 2  # scheduling again kept one of each
    assert clock.tick(rt, now=first_at.timestamp() - 1) == 0  # not yet
    assert clock.tick(rt, now=first_at.timestamp()) == 1  # due: into their inbox
    (event,) = [Inbound.from_json(x) for x in rt.redis.lrange(f"pd:inbox:{WHO}", 0, -1)]
    assert turns.drain(WHO) == 1
    assert clock.tick(rt, now=first_at.timestamp()) == 0  # it moved once
    rt.store.inbox.accept([event])  # a worker killed after sending it takes it again
    assert turns.drain(WHO) == 1
    (text,) = sent(rt)
    assert text == (
        "Reminder: you're helping at Hendon Labour Hall, 27 Brent Street, Hendon, London, "
        "NW4 2BA: Morning 07:00–12:00 and Evening 17:00–22:00 on polling day, Thursday 3 May. "
        "Map: https://www.google.com/maps/search/?api=1&query=51.58805%2C-0.22038 Thank you! "
        "(Reply CHANGE if plans have changed, STOP to stop messages.)\n\n"
        # The room's facts from the rooms file, and (the evening before) still coming?
        "Step-free access\nBring: Comfortable shoes and a phone with charge\n"
        "Parking: Street parking after 6pm\n\n"
        "Still coming? Reply YES to keep your place, or CAN'T if you can no longer make it, "
        "so that someone else can have it."
    )


@pytest.mark.parametrize("command", ["STOP", "CHANGE", "DELETE"])
def test_stop_change_and_delete_cancel_reminders(r, redis_server, geo_cache, monkeypatch, command):
    rt = runtime_for(date(2029, 5, 3), r, redis_server, geo_cache, monkeypatch)
    add_supporters(rt.store, [WHO], pledge=PLEDGE)
    reminders.schedule(rt, WHO, PLEDGE, now=datetime(2029, 1, 1, tzinfo=UTC))
    turns.take_turn(rt, Inbound(WHO, text=command, external_id="x"))
    rt.redis.delete("pd:console:console:rem")
    if command == "CHANGE":
        # 3 reminders, 4 checks after the shifts start and the vote message come due, find
        # the pledge gone and say nothing.
        assert fire_all(rt) == 8
    else:
        assert scheduled(rt) == []  # the events named them: gone
        assert not rt.redis.keys("pd:timed:*") and not rt.redis.exists("pd:due")
        assert fire_all(rt) == 0
    assert sent(rt) == []


def test_a_stop_still_queued_behind_a_reminder_wins(r, redis_server, geo_cache, monkeypatch):
    rt = runtime_for(date(2029, 5, 3), r, redis_server, geo_cache, monkeypatch)
    add_supporters(rt.store, [WHO], pledge=PLEDGE)
    reminders.schedule(rt, WHO, PLEDGE, now=datetime(2029, 1, 1, tzinfo=UTC))
    (first_at, *_), *_ = scheduled(rt)
    assert clock.tick(rt, now=first_at.timestamp()) == 1  # the reminder is in their inbox...
    rt.store.suppression.set_stopped(WHO, True)  # ...when STOP arrives (the web records it)
    rt.store.inbox.accept([Inbound(WHO, text="STOP", external_id="s")])
    assert turns.drain(WHO) == 2
    (confirm,) = sent(rt)  # the reminder was handled first and said nothing
    assert confirm.startswith("Done: you won't get any more messages from us")


def test_pledging_schedules_reminders(r, redis_server, geo_cache, monkeypatch):
    rt = runtime_for(date(2029, 5, 3), r, redis_server, geo_cache, monkeypatch)
    for i, text in enumerate(["hi", "NW4 2BA", "1", "yes"]):
        turns.take_turn(rt, Inbound(WHO, text=text, external_id=f"p{i}"))
    conv = rt.store.people.load(WHO)
    assert conv.state is State.ASK_CONSENT and conv.pledge.shifts == ("morning",)
    assert [s[1:] for s in scheduled(rt)] == [("d1-1800", ["morning"]), ("m60", ["morning"])]
