"""Sending broadcasts in-process on a real Redis against fake Telegram and Twilio servers:
exactly once, skips by reason, STOP mid-way, blocked recipients, the WhatsApp window."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
from rq import Queue, SimpleWorker

from bot.broadcasts import UNPACED_RATE, Audience, by_send_time
from bot.config import Settings, load_campaign
from bot.geo import OfflineGeocoder
from bot.store.broadcasts import SLICE, Broadcasts
from tests.fakes import TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, FakeTelegram, FakeTwilio
from tests.people import add_supporters
from workers import broadcasts, requests, turns
from workers.queues import BROADCAST
from workers.runtime import build

ROOT = Path(__file__).resolve().parent.parent
IMPRINT = "\n\nPromoted by A. Agent on behalf of the Labour Party, 1 Example Street, London N1 1AA."
TEMPLATE = "HX0123456789abcdef0123456789abcdef"


@pytest.fixture
def fakes():
    # The accounts allow what make_runtime's rate_limits say (as with paid broadcasts).
    with (
        FakeTelegram(per_second=1000) as tg,
        FakeTwilio(whatsapp_per_second=1000, sms_per_second=1000) as tw,
    ):
        yield tg, tw


def make_runtime(r, redis_server, geo_cache, fakes, monkeypatch, **campaign_changes):
    tg, tw = fakes
    OfflineGeocoder.open(geo_cache)
    campaign = load_campaign(ROOT / "config.yaml")
    unpaced = {"telegram": 1000.0, "whatsapp": 1000.0, "sms": 1000.0}
    campaign = replace(campaign, **{"rate_limits": unpaced, **campaign_changes})
    settings = Settings(
        campaign=campaign,
        redis_url=redis_server.url,
        var_dir=geo_cache.parent,
        telegram_token="1:T",
        telegram_secret="s",
        telegram_api_url=tg.url,
        twilio_account_sid=TEST_ACCOUNT_SID,
        twilio_auth_token=TEST_AUTH_TOKEN,
        twilio_whatsapp_from="whatsapp:+447700900000",
        twilio_sms_from="+447700900000",
        twilio_api_url=tw.url,
    )
    rt = build(settings)
    for module in (broadcasts, turns):
        monkeypatch.setattr(module, "runtime", lambda: rt)
    return rt


@pytest.fixture
def rt(r, redis_server, geo_cache, fakes, monkeypatch):
    runtime = make_runtime(r, redis_server, geo_cache, fakes, monkeypatch)
    yield runtime
    runtime.senders["telegram"].close()


def create(rt, text: str = "Polls close at 10pm!") -> int:
    bc, audience = Broadcasts(rt.store), Audience()
    limits = rt.settings.campaign.rate_limits
    recipients, no_consent = bc.select(audience, rt.world.directory, limits)
    return bc.create(text, audience, recipients, no_consent, launch=True)


def work(rt) -> None:
    """Run every queued broadcast step in this process, as a worker would (after turning
    the requests bot/ made into RQ jobs, as a worker's forwarding thread does)."""
    while requests.forward_one(rt.store, wait=0.01):
        pass
    SimpleWorker([Queue(BROADCAST, connection=rt.redis)], connection=rt.redis).work(burst=True)


def sms(n: int) -> list[str]:
    return [f"sms:+4477009{i:05d}" for i in range(n)]


def test_everyone_who_agreed_gets_exactly_one_message_with_the_imprint(rt, r, fakes):
    tg, tw = fakes
    people = add_supporters(rt.store, sms(2 * SLICE + 7) + ["telegram:11", "telegram:12"])
    add_supporters(rt.store, ["sms:+447700955555"], consent=False)
    bid = create(rt)
    work(rt)
    work(rt)  # running the steps again (a retried job) sends nothing more
    texts = [m["Body"] for m in tw.messages()] + [m["text"] for m in tg.sent()]
    assert len(texts) == len(people)
    assert set(texts) == {"Polls close at 10pm!" + IMPRINT}
    assert sorted(m["To"] for m in tw.messages()) == sorted(a[4:] for a in people[:-2])
    status = Broadcasts(rt.store).status(bid)
    assert status["status"] == "done" and status["sent"] == len(people) == status["total"]
    assert status["skipped"]["no_consent"] == 1 and status["failed"] == 0
    assert status["started_at"] <= status["finished_at"]


def test_stop_during_a_broadcast_gets_nothing_more(rt, r, fakes):
    _, tw = fakes
    people = add_supporters(rt.store, sms(3 * SLICE))
    bid = create(rt)
    late = people[-1]
    broadcasts.step(bid)  # one slice goes out...
    rt.store.suppression.set_stopped(late, True)  # ...then the last person says STOP
    work(rt)
    assert tw.messages(late[4:]) == []
    status = Broadcasts(rt.store).status(bid)
    assert status["sent"] == len(people) - 1 and status["skipped"]["opted_out"] == 1
    assert Broadcasts(rt.store).state(bid, late) == "skipped:opted_out"


def test_blocked_telegram_recipient_is_marked_and_skipped_from_then_on(rt, r, fakes):
    tg, _ = fakes
    add_supporters(rt.store, ["telegram:21", "telegram:22"])
    tg.block(22)
    first = create(rt)
    work(rt)
    assert [m["chat_id"] for m in tg.sent()] == ["21"]
    assert Broadcasts(rt.store).status(first)["failed"] == 1
    assert rt.store.people.unreachable("telegram:22").startswith("telegram-blocked@")
    second = create(rt, "Second")
    work(rt)
    status = Broadcasts(rt.store).status(second)
    assert status["sent"] == 1 and status["skipped"]["unreachable"] == 1
    assert len(tg.calls("sendMessage")) == 3  # no second try at the blocked chat


@pytest.mark.parametrize("template", [TEMPLATE, ""])
def test_whatsapp_outside_the_24_hour_window(
    r, redis_server, geo_cache, fakes, monkeypatch, template
):
    _, tw = fakes
    rt = make_runtime(r, redis_server, geo_cache, fakes, monkeypatch, broadcast_template=template)
    inside, outside = "whatsapp:+447700900301", "whatsapp:+447700900302"
    add_supporters(rt.store, [inside], last_inbound=time.time() - 3600)
    add_supporters(rt.store, [outside], last_inbound=time.time() - 25 * 3600)
    bid = create(rt)
    work(rt)
    (free,) = tw.messages(inside)
    assert free["Body"] == "Polls close at 10pm!" + IMPRINT and free["ContentSid"] is None
    status = Broadcasts(rt.store).status(bid)
    if template:
        (templated,) = tw.messages(outside)
        assert templated["ContentSid"] == TEMPLATE and templated["Body"] is None
        assert json.loads(templated["ContentVariables"]) == {"1": "Polls close at 10pm!" + IMPRINT}
        assert status["sent"] == 2
    else:
        assert tw.messages(outside) == []
        assert status["sent"] == 1 and status["skipped"]["outside_window"] == 1
    rt.senders["telegram"].close()


def test_platform_saying_the_window_closed_switches_to_the_template(
    r, redis_server, geo_cache, fakes, monkeypatch
):
    _, tw = fakes
    rt = make_runtime(r, redis_server, geo_cache, fakes, monkeypatch, broadcast_template=TEMPLATE)
    who = "whatsapp:+447700900303"
    add_supporters(rt.store, [who], last_inbound=time.time() - 60)
    tw.fail_to(who, 63016, times=1)
    create(rt)
    work(rt)
    (sent,) = tw.messages(who)
    assert sent["ContentSid"] == TEMPLATE
    rt.senders["telegram"].close()


def test_cancel_stops_the_rest(rt, r, fakes):
    _, tw = fakes
    people = add_supporters(rt.store, sms(3 * SLICE))
    bid = create(rt)
    broadcasts.step(bid)
    assert Broadcasts(rt.store).cancel(bid)
    work(rt)
    assert len(tw.messages()) == SLICE
    status = Broadcasts(rt.store).status(bid)
    assert status["status"] == "cancelled" and status["sent"] == SLICE < len(people)


def test_a_send_left_in_flight_by_a_dead_worker_is_counted_not_repeated(rt, r, fakes):
    _, tw = fakes
    people = add_supporters(rt.store, sms(5))
    bid = create(rt)
    bc = Broadcasts(rt.store)
    # A worker claimed slice 0, marked the second person "sending", and was killed.
    assert bc.claim_slice(bid, lease=1)[0] == 0  # its token is lost with it
    bc.settle(bid, people[1], "sending", "", "claim")
    time.sleep(1.1)  # its lease runs out
    work(rt)
    assert [m["To"] for m in tw.messages()] == [a[4:] for a in people if a != people[1]]
    status = bc.status(bid)
    assert (status["sent"], status["ambiguous"], status["status"]) == (4, 1, "done")
    assert bc.state(bid, people[1]) == "ambiguous"


def test_a_broadcast_whose_jobs_were_all_lost_is_taken_over_by_the_clock(rt, r, fakes, monkeypatch):
    _, tw = fakes
    people = add_supporters(rt.store, sms(SLICE + 5))
    bid = create(rt)
    bc = Broadcasts(rt.store)
    # A worker claimed slice 0 and died, and a Redis outage lost every job carrying the
    # broadcast (the running one could not queue its successor).
    while requests.forward_one(rt.store, wait=0.01):
        pass
    Queue(BROADCAST, connection=rt.redis).empty()
    assert bc.claim_slice(bid, lease=1)[0] == 0
    work(rt)
    assert tw.messages() == [] and bc.live() == [bid]  # nothing carries it on by itself
    time.sleep(1.1)  # the dead worker's lease runs out
    assert broadcasts.look_after(rt) == 1  # the clock asks for a step
    monkeypatch.setattr(broadcasts, "_next_look", 0.0)  # as another worker's clock would
    assert broadcasts.look_after(rt) == 0  # one look for all workers a period
    work(rt)
    assert sorted(m["To"] for m in tw.messages()) == sorted(a[4:] for a in people)
    assert bc.status(bid)["status"] == "done" and bc.live() == []


@pytest.mark.parametrize(
    "addresses, limits, order",
    [
        # Each channel's i-th person is due at i / its rate; ties keep the list's order.
        (["telegram:1", "telegram:2", "whatsapp:a", "whatsapp:b", "whatsapp:c"],
         {"telegram": 1, "whatsapp": 2},
         ["telegram:1", "whatsapp:a", "whatsapp:b", "telegram:2", "whatsapp:c"]),
        # A channel with no limit counts as UNPACED_RATE a second.
        (["sms:1", "sms:2", "telegram:1", "telegram:2"], {"telegram": UNPACED_RATE / 2},
         ["sms:1", "telegram:1", "sms:2", "telegram:2"]),
        ([], {}, []),
    ],
)  # fmt: skip
def test_recipients_are_ordered_by_when_their_channel_can_send(addresses, limits, order):
    assert by_send_time(addresses, limits) == order


def test_a_channel_at_its_limit_does_not_hold_up_the_others(
    r, redis_server, geo_cache, fakes, monkeypatch
):
    tg, tw = fakes
    limits = {"telegram": 1.0, "sms": 1000.0, "whatsapp": 1000.0}
    rt = make_runtime(r, redis_server, geo_cache, fakes, monkeypatch, rate_limits=limits)
    try:
        add_supporters(rt.store, ["telegram:11", "telegram:12", *sms(10)])
        rt.pacer.record("telegram")  # Telegram has no room for about a second
        create(rt)
        early: list[tuple[int, int]] = []
        look = threading.Timer(0.5, lambda: early.append((len(tw.messages()), len(tg.sent()))))
        look.start()
        work(rt)  # telegram:11 is second in the slice (due at 0 s) and must wait
        look.join()
        assert early == [(10, 0)]
        assert sorted(m["chat_id"] for m in tg.sent()) == ["11", "12"]
    finally:
        rt.senders["telegram"].close()
