"""The worker side in-process on a real Redis: draining in order, faults, deferred sends."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from pathlib import Path

import pytest
import redis
from rq import Queue
from rq.registry import ScheduledJobRegistry

from bot.channels.telegram import TelegramSender
from bot.config import ConfigError, Settings, load_campaign
from bot.model.message import Inbound, Outbound
from bot.model.person import Conversation, State
from tests.fakes import FakeTelegram
from tests.test_postcode_seats import write_range_file
from workers import clock, outbound, turns
from workers.queues import TURNS
from workers.runtime import build

ROOT = Path(__file__).resolve().parent.parent
ADDR = "console:t1"


def say(rt, *texts: str) -> None:
    for i, text in enumerate(texts):
        rt.store.inbox.accept([Inbound(ADDR, text=text, external_id=f"console:{text}:{i}")])


def send(rt, address: str, replies: list[Outbound]) -> bool:
    """Replies queued outside a turn and sent, as a drainer holding the lock does."""
    rt.store.people.queue(address, [out.to_json() for out in replies])
    return outbound.flush(rt, address)


def later(rt, address: str) -> list[tuple[str, str, float]]:
    """The person's timed events: (kind, payload, seconds from now)."""
    now = time.time()
    return [(e.event, e.payload, at - now) for e, at in rt.store.timed.pending(address)]


def replies(r: redis.Redis) -> list[str]:
    return [Outbound.from_json(x).text for x in r.lrange("pd:console:console:t1", 0, -1)]


def test_drain_takes_every_queued_turn_in_order(rt, r):
    say(rt, "hi", "N7 6AA", "1")
    assert turns.drain(ADDR) == 3
    got = replies(r)
    assert got[0].startswith("Hi! I'm the polling-day volunteer bot for Labour.")
    assert got[1].startswith("Thanks: N7 6AA.")
    assert got[2].startswith("Your nearest committee room in a target seat")
    assert r.llen(f"pd:inbox:{ADDR}") == 0 and r.get(f"pd:lock:{ADDR}") is None
    # The first message asked the workers for one drainer (and RQ got no job from the web).
    assert r.llen("pd:jobs") == 1 and not Queue(TURNS, connection=r).get_jobs()


def test_with_the_organisers_range_file_the_bot_names_the_seat(
    r, redis_server, geo_cache, tmp_path, monkeypatch
):
    """The offline geocoder knows no seats; mySociety's range file, named in config.yaml,
    does. A file that cannot be read stops the worker naming the file and the field."""
    campaign = load_campaign(ROOT / "config.yaml")
    seats_file = write_range_file(tmp_path, [int("N76AA", 36)], [2])  # N7 6AA on: Islington N.
    settings = Settings(
        campaign=dataclasses.replace(campaign, postcode_seats_file=seats_file),
        redis_url=redis_server.url,
        var_dir=geo_cache.parent,
    )
    runtime = build(settings)
    monkeypatch.setattr(turns, "runtime", lambda: runtime)
    say(runtime, "hi", "N7 6AA")
    assert turns.drain(ADDR) == 2
    assert replies(r)[1].startswith("Thanks: N7 6AA, in Islington North.")
    seats_file.write_text("{")
    with pytest.raises(ConfigError, match=r"config.yaml: postcode_seats: .*pcon_2024.json"):
        build(settings)


def test_a_bug_costs_one_message_and_an_apology_not_the_queue(rt, r, monkeypatch):
    real = turns.handle

    def buggy(conv, msg, world):
        if msg.text == "boom":
            raise ZeroDivisionError("bug")
        return real(conv, msg, world)

    monkeypatch.setattr(turns, "handle", buggy)
    say(rt, "hi", "boom", "N7 6AA")
    assert turns.drain(ADDR) == 3
    got = replies(r)
    assert got[1] == "Sorry, something went wrong on our side. Please send that again."
    assert got[2].startswith("Thanks: N7 6AA.")
    say(rt, "boom")  # the apology goes at once, not with their next turn's replies
    assert turns.drain(ADDR) == 1
    assert replies(r)[-1] == got[1]


def test_redis_trouble_keeps_the_message_for_a_retry(rt, r, monkeypatch):
    say(rt, "hi")
    calls = []

    def flaky(runtime, msg):
        calls.append(msg.text)
        raise redis.ConnectionError("connection reset")

    monkeypatch.setattr(turns, "take_turn", flaky)
    with pytest.raises(redis.ConnectionError):
        turns.drain(ADDR)
    assert r.llen(f"pd:inbox:{ADDR}") == 1 and r.get(f"pd:lock:{ADDR}") is None
    monkeypatch.undo()
    monkeypatch.setattr(turns, "runtime", lambda: rt)
    assert turns.drain(ADDR) == 1 and replies(r)[0].startswith("Hi!")


def test_a_turn_cut_short_by_an_outage_frees_its_lock_as_soon_as_redis_is_back(rt, r, monkeypatch):
    """Redis goes in the middle of a turn, too soon for the drainer even to unlock: the
    person's lock (a minute) would keep their reply waiting long after Redis is back. The
    clock's first tick frees it and puts them at the front of the line, and the turn is
    taken once."""
    say(rt, "hi")
    assert rt.store.inbox.take_ready() == ADDR  # a drainer took them
    real_turn, real_unlock = turns.take_turn, rt.store.inbox.unlock

    def away(*args, **kwargs):
        raise redis.ConnectionError("connection refused")

    monkeypatch.setattr(turns, "take_turn", away)
    monkeypatch.setattr(rt.store.inbox, "unlock", away)
    with pytest.raises(redis.ConnectionError):
        turns.drain(ADDR)
    assert r.pttl(f"pd:lock:{ADDR}") > 50_000 and r.llen(f"pd:inbox:{ADDR}") == 1
    with pytest.raises(redis.ConnectionError):  # still away at the next tick: kept for later
        clock.tick(rt)
    monkeypatch.setattr(turns, "take_turn", real_turn)
    monkeypatch.setattr(rt.store.inbox, "unlock", real_unlock)
    rt.store.inbox.accept([Inbound("console:t2", text="hi", external_id="console:new")])
    rt.store.inbox.mark_rescue(60)  # the periodic rescue is not due for a while
    clock.tick(rt)  # Redis is back
    assert r.get(f"pd:lock:{ADDR}") is None
    assert r.lrange("pd:ready:console", 0, -1) == [ADDR.encode(), b"console:t2"]
    assert turns.free_left(rt) == 0  # freed once
    turns._left[(ADDR, "t")] = time.monotonic() - 61  # a lock that has run out by itself
    assert turns.free_left(rt) == 0 and not turns._left  # is forgotten
    assert turns.drain_ready() == 2
    (hi,) = replies(r)[:1]
    assert hi.startswith("Hi!") and len(replies(r)) == 1  # t1's own reply, once


@pytest.mark.parametrize("lock_kept", [True, False], ids=["short outage", "lock ran out"])
def test_redis_going_while_a_reply_waits_its_turn(rt, r, monkeypatch, lock_kept):
    """A reply waiting its turn when Redis goes waits for it to come back, and goes on if the
    person's lock is still this drainer's; if the lock ran out meanwhile (a long outage),
    the turn is given up to whoever drains them next, and the message stays queued: the
    clock, once Redis is back, puts them first in the ready list."""
    say(rt, "hi")
    assert rt.store.inbox.take_ready() == ADDR  # a drainer took them
    real, failed = rt.pacer.admit_reply, []

    def flaky(*args, **kwargs):
        if not failed:
            failed.append(1)
            if not lock_kept:
                r.delete(f"pd:lock:{ADDR}")  # expired while Redis was away
            raise redis.ConnectionError("connection reset")
        return real(*args, **kwargs)

    monkeypatch.setattr(rt.pacer, "admit_reply", flaky)
    if lock_kept:
        assert turns.drain(ADDR) == 1 and replies(r)[0].startswith("Hi!")
        assert r.llen(f"pd:inbox:{ADDR}") == 0
    else:
        with pytest.raises(redis.ConnectionError):
            turns.drain(ADDR)
        assert replies(r) == [] and r.llen(f"pd:inbox:{ADDR}") == 1
        newcomer = Inbound("console:t2", text="hi", external_id="console:new")
        rt.store.inbox.accept([newcomer])  # someone who wrote during the outage
        rt.store.inbox.mark_rescue(60)  # the periodic rescue is not due for a while
        monkeypatch.setattr(clock, "OUTAGE_GRACE", 0.0)
        clock.after_outage(rt, threading.Event())
        assert r.lrange("pd:ready:console", 0, -1) == [ADDR.encode(), b"console:t2"]
    assert failed == [1]


def test_a_busy_lock_leaves_the_person_to_its_holder_or_the_rescue(rt, r):
    say(rt, "hi")
    assert rt.store.inbox.take(ADDR, 1)[0]
    assert turns.drain(ADDR) == 0  # the holder re-checks the inbox when it unlocks...
    assert r.llen(f"pd:inbox:{ADDR}") == 1
    assert len(ScheduledJobRegistry(TURNS, connection=r)) == 0
    r.delete(f"pd:lock:{ADDR}", "pd:sched:" + ADDR)  # ...and if it died, its lock runs out
    assert clock.rescue(rt) == 1


def test_long_retry_after_comes_back_through_the_inbox_in_order(rt, r):
    with FakeTelegram() as fake:
        rt.senders["telegram"] = TelegramSender("1:T", fake.url)
        fake.fail_next(77, 429, retry_after=30)
        first, second = Outbound("telegram:77", "one"), Outbound("telegram:77", "two")
        assert send(rt, "telegram:77", [first, second]) is False
        assert fake.sent(77) == []
        # The event says whose outbox to send (and which attempt), not what: the texts
        # stay in the outbox. No RQ job is involved.
        ((kind, attempt, due_in),) = later(rt, "telegram:77")
        assert (kind, attempt) == ("send", "1") and 29 < due_in <= 30.001  # (kept to 1 ms)
        assert not ScheduledJobRegistry(TURNS, connection=r).get_job_ids()
        assert [Outbound.from_json(x).text for x in r.lrange("pd:outbox:telegram:77", 0, -1)] == [
            "one",
            "two",
        ]
        # The 429 paused the whole channel for as long, for every worker and a broadcast too.
        assert 29 < r.pttl("pd:pause:telegram") / 1000 <= 30
        assert rt.pacer.try_acquire("telegram") > 29
        assert clock.tick(rt) == 0  # not due yet
        r.delete("pd:pause:telegram")  # (as when the 30 s have passed)
        assert clock.tick(rt, now=time.time() + 31) == 1  # into their inbox when due
        assert later(rt, "telegram:77") == [] and not r.zcard("pd:due")
        assert turns.drain("telegram:77") == 1
        assert [m["text"] for m in fake.sent(77)] == ["one", "two"]
        assert not r.exists("pd:outbox:telegram:77")
        rt.senders["telegram"].close()


def test_unreachable_person_is_marked_and_the_rest_of_the_turn_skipped(rt, r):
    with FakeTelegram() as fake:
        rt.senders["telegram"] = TelegramSender("1:T", fake.url)
        fake.block(78)
        rt.store.people.save(Conversation("telegram:78"), new_person=True)
        send(rt, "telegram:78", [Outbound("telegram:78", "a"), Outbound("telegram:78", "b")])
        assert len(fake.calls("sendMessage")) == 1
        assert rt.store.people.unreachable("telegram:78").startswith("telegram-blocked@")
        rt.senders["telegram"].close()


def test_drainer_takes_many_people_then_stops_being_counted(rt, r):
    people = [f"console:p{i}" for i in range(20)]
    for i, address in enumerate(people):
        rt.store.inbox.accept([Inbound(address, text="hi", external_id=f"console:{i}")])
    assert int(r.get("pd:drainers")) == 8  # as many jobs as the ingest script allows
    assert turns.drain_ready() == 20
    assert r.llen("pd:ready:console") == 0 and int(r.get("pd:drainers")) == 7
    assert all(r.llen(f"pd:console:{a}") == 1 for a in people)  # the welcome, with its question


def test_a_lane_at_its_limit_never_holds_the_threads_another_channel_needs(rt, r, monkeypatch):
    """Telegram turns that wait for their turn under Telegram's limit take at most
    CONCURRENCY of a drainer's threads: WhatsApp people who wrote after them are served
    meanwhile, not held behind them as in one shared list."""
    slow = [f"telegram:{n}" for n in range(3 * turns.CONCURRENCY)]
    quick = [f"whatsapp:+4477009{n:05d}" for n in range(5)]
    for address in slow + quick:
        rt.store.inbox.ingest(f"u:{address}", address, Inbound(address, text="hi").to_json())
    released, lock = threading.Event(), threading.Lock()
    started: list[str] = []

    def drain(address: str) -> int:  # a turn that waits for the platform's limit to allow it
        with lock:
            started.append(address)
        if address.startswith("telegram:"):
            released.wait(10)
        return 1

    monkeypatch.setattr(turns, "drain", drain)
    job = threading.Thread(target=lambda: started.append(turns.drain_ready()))
    job.start()
    deadline = time.monotonic() + 5
    while not set(quick) <= set(started) and time.monotonic() < deadline:
        time.sleep(0.01)
    with lock:
        assert set(quick) <= set(started)
        assert sum(a.startswith("telegram:") for a in started) == turns.CONCURRENCY
    released.set()
    job.join(10)
    assert started[-1] == len(slow) + len(quick)  # every turn, once the line moved
    assert rt.store.inbox.ready_count() == 0


def test_a_long_running_drainer_hands_over_to_a_fresh_job(rt, r, monkeypatch):
    monkeypatch.setattr(turns, "RUN_FOR", -1.0)  # past its time at once
    say(rt, "hi")
    Queue(TURNS, connection=r).empty()
    assert turns.drain_ready() == 0
    assert r.llen("pd:ready:console") == 1 and int(r.get("pd:drainers")) == 1  # still counted
    assert [j.func_name for j in Queue(TURNS, connection=r).get_jobs()] == [
        "workers.turns.drain_ready"
    ]


def test_messages_left_by_a_killed_worker_are_drained_once_its_lock_runs_out(rt, r):
    say(rt, "hi")
    # A worker took the person off the ready list, locked them, and was killed.
    assert rt.store.inbox.take_ready() == ADDR
    token, batch = rt.store.inbox.take(ADDR, 10, first=True)
    assert token and len(batch) == 1
    assert clock.rescue(rt) == 0  # still locked: maybe only slow
    r.delete("pd:rescue", f"pd:lock:{ADDR}")  # the lock runs out
    Queue(TURNS, connection=r).empty()
    assert clock.rescue(rt) == 1
    assert clock.rescue(rt) == 0  # the next look is RESCUE_EVERY from now, by any worker
    asked = [json.loads(x)["f"] for x in r.lrange("pd:jobs", 0, -1)]
    assert asked == ["workers.turns.drain_ready"] * 2  # the first message's, then the rescue's
    r.delete("pd:jobs")  # both requests taken by workers (the first by the killed one)
    assert clock.rescue(rt) == 0
    r.delete("pd:rescue", "pd:drainers", f"pd:sched:{ADDR}")
    assert clock.rescue(rt) == 1
    asked = [json.loads(x)["f"] for x in r.lrange("pd:jobs", 0, -1)]
    assert asked == ["workers.turns.drain_ready"]  # asked of the workers, as ingest does
    assert turns.drain_ready() == 1
    assert replies(r)[0].startswith("Hi! I'm the polling-day volunteer bot for Labour.")
    assert clock.rescue(rt) == 0 and r.llen("pd:ready:console") == 0


def test_stop_drops_replies_still_waiting_and_its_confirmation_goes(rt, r):
    say(rt, "hi")
    turns.drain(ADDR)
    # A reply held back (a platform asked us to wait) is still in the outbox...
    rt.store.people.queue(ADDR, [Outbound(ADDR, "held back").to_json()])
    say(rt, "just stop")
    assert turns.drain(ADDR) == 1
    got = replies(r)
    # ...and never goes: the STOP is honoured before the next send of any kind.
    assert "held back" not in got
    assert got[-1].startswith("Done: you won't get any more messages from us")
    assert not r.exists(f"pd:outbox:{ADDR}")


def test_purge_with_a_reply_held_back_sends_nothing_afterwards(rt, r):
    from workers import purge

    with FakeTelegram() as fake:
        rt.senders["telegram"] = TelegramSender("1:T", fake.url)
        rt.store.people.save(Conversation("telegram:79"), new_person=True)
        fake.fail_next(79, 429, retry_after=30)
        send(rt, "telegram:79", [Outbound("telegram:79", "held back")])
        assert [e[:2] for e in later(rt, "telegram:79")] == [("send", "1")]
        rt.store.timed.release_one("telegram:79", time.time() + 31)  # taken just before
        purge.purge(rt)
        assert later(rt, "telegram:79") == []  # cancelled
        assert clock.tick(rt, now=time.time() + 31) == 0
        turns.drain("telegram:79")  # even if it had been taken: nothing is left to send
        assert fake.sent(79) == []
        assert not r.keys("pd:outbox:*") and not r.keys("pd:timed:*") and not r.exists("pd:due")
        rt.senders["telegram"].close()


def test_a_reply_held_back_never_jumps_ahead_of_a_stop_waiting_in_the_inbox(rt, r):
    with FakeTelegram() as fake:
        rt.senders["telegram"] = TelegramSender("1:T", fake.url)
        rt.store.people.save(Conversation("telegram:80", State.DONE), new_person=True)
        fake.fail_next(80, 429, retry_after=30)
        send(rt, "telegram:80", [Outbound("telegram:80", "held back")])
        assert [e[:2] for e in later(rt, "telegram:80")] == [("send", "1")]
        rt.store.suppression.set_stopped("telegram:80", True)  # as the web does on arrival
        rt.store.inbox.accept([Inbound("telegram:80", text="STOP", external_id="tg:80")])
        assert clock.tick(rt, now=time.time() + 31) == 1  # the retry comes due
        r.delete("pd:pause:telegram")  # (and the channel's pause is over)
        assert fake.sent(80) == []  # what they wrote goes first
        assert turns.drain("telegram:80") == 2  # the STOP, then the retry: nothing to send
        (confirm,) = fake.sent(80)
        assert confirm["text"].startswith("Done: you won't get any more messages from us")
        rt.senders["telegram"].close()


def test_a_stop_arriving_while_a_reply_waits_its_turn_holds_it(rt, r):
    """A reply waiting for the platform's limit is checked again once admitted: a STOP (or
    DELETE) recorded by the web meanwhile wins, and the reply stays for the STOP's turn."""
    with FakeTelegram() as fake:
        rt.senders["telegram"] = TelegramSender("1:T", fake.url)
        conv = Conversation("telegram:81", State.DONE)
        rt.store.people.save(conv, new_person=True)
        rt.store.people.queue("telegram:81", [Outbound("telegram:81", "waits").to_json()])
        rt.pacer.pause("telegram", 1.0)  # as after a 429: the whole channel waits a second
        result: list[bool] = []
        waiter = threading.Thread(
            target=lambda: result.append(outbound.flush(rt, "telegram:81", conv=conv))
        )
        waiter.start()
        time.sleep(0.3)
        rt.store.suppression.set_stopped("telegram:81", True)  # as the web does on arrival
        waiter.join(10)
        assert result == [False] and fake.sent(81) == []
        assert r.llen("pd:outbox:telegram:81") == 1  # the STOP's turn clears it
        rt.senders["telegram"].close()


@pytest.mark.parametrize(
    "command, confirmation",
    [
        ("STOP", "Done: you won't get any more messages from us"),
        ("delete my details", "Done: we've erased your details."),
    ],
)
def test_nothing_goes_once_a_stop_or_delete_arrives_even_replies_to_messages_ahead(
    rt, r, command, confirmation
):
    say(rt, "hi", "N7 6AA")
    assert turns.drain(ADDR) == 2
    r.delete("pd:console:" + ADDR)
    # A reply held back by the platform comes due, then they write, then STOP or DELETE
    # arrives, recorded by the web at once; no worker has reached any of it yet.
    rt.store.people.queue(ADDR, [Outbound(ADDR, "held back").to_json()])
    later = Inbound(ADDR, event="send", payload="1", external_id="send-x")
    rt.store.timed.add(later, time.time())
    assert clock.tick(rt) == 1
    say(rt, "1")  # their shift: the reply would be an offer
    if command == "STOP":
        rt.store.suppression.set_stopped(ADDR, True)
    else:
        rt.store.leaving(ADDR)
    say(rt, command)
    assert turns.drain(ADDR) == 3
    (got,) = replies(r)  # only the confirmation: not the held-back reply, not the offer
    assert got.startswith(confirmation)
    assert not r.exists(f"pd:outbox:{ADDR}")


def test_replies_are_not_held_without_a_stop_or_delete_behind(rt, r):
    say(rt, "hi")
    assert turns.drain(ADDR) == 1
    conv = rt.store.people.load(ADDR)
    assert rt.store.people.sendable(conv) and rt.store.people.sendable(None)
    rt.store.suppression.set_stopped(ADDR, True)
    assert not rt.store.people.sendable(conv)  # a STOP is queued behind
    assert rt.store.people.sendable(conv.evolve(state=State.STOPPED))  # its own confirmation


def test_rq_job_failures_on_a_lost_connection_are_one_line_and_others_keep_their_traceback():
    import logging

    from workers.__main__ import _not_redis_trouble

    def record(msg: str, exc: BaseException | None = None) -> logging.LogRecord:
        info = (type(exc), exc, None) if exc else None
        return logging.LogRecord("rq.worker", logging.ERROR, __file__, 1, msg, None, info)

    lost = record(
        "Worker w: job j: exception raised while executing (workers.turns.drain_ready)\n"
        "Traceback (most recent call last):\n  File ...\n"
        "redis.exceptions.ConnectionError: Connection closed by server.\n"
    )
    assert _not_redis_trouble(lost)
    assert lost.getMessage() == (
        "Worker w: job j: exception raised while executing (workers.turns.drain_ready): "
        "redis.exceptions.ConnectionError: Connection closed by server."
    )
    assert not _not_redis_trouble(record("retrying", redis.ConnectionError("gone")))
    assert not _not_redis_trouble(record("Could not connect to Redis instance"))
    bug = record("job j: exception raised\nTraceback (most recent call last):\nKeyError: 'x'\n")
    assert _not_redis_trouble(bug) and "Traceback" in bug.getMessage()  # a bug keeps it all


def test_stop_takes_them_out_of_broadcasts_and_records_the_withdrawal(rt, r):
    from bot.model.person import Consent

    conv = Conversation(ADDR, State.DONE, consent=Consent(True, 100, "console", "updates-v1"))
    rt.store.people.save(conv, new_person=True, consent=conv.consent)
    assert rt.store.people.consented() == {ADDR}
    say(rt, "STOP")
    assert turns.drain(ADDR) == 1
    assert rt.store.people.consented() == set()  # a dry run no longer counts them
    (evidence,) = r.hvals("pd:consent")
    granted, _, channel, version = evidence.decode().split("|")
    assert (granted, channel, version) == ("0", "console", "stop")


class _Recorder:
    """A platform that takes every message (to see what the worker chose to send)."""

    def __init__(self) -> None:
        self.sent: list[Outbound] = []

    def send(self, out: Outbound):
        from bot.model.message import SendResult

        self.sent.append(out)
        return SendResult(True)


def test_free_text_to_whatsapp_outside_the_24_hours_is_skipped_and_counted(rt, monkeypatch):
    """A chase or reminder to someone who last wrote 25 hours ago is not sent (WhatsApp
    would refuse it) and is counted; inside the window it goes, and a template always may."""
    from workers import pulse

    platform = _Recorder()
    monkeypatch.setitem(rt.senders, "whatsapp", platform)
    pulse.take()
    late, recent = "whatsapp:+447700900001", "whatsapp:+447700900002"
    rt.store.inbox.accept(
        [Inbound(late, text="hi", external_id="w1", received_at=time.time() - 25 * 3600),
         Inbound(recent, text="hi", external_id="w2", received_at=time.time() - 3600)],
        windowed=lambda channel: channel == "whatsapp",
    )  # fmt: skip
    assert send(rt, late, [Outbound(late, "Are you on your way?")])
    assert send(rt, recent, [Outbound(recent, "Are you on your way?")])
    assert send(rt, late, [Outbound(late, "Polling day!", template="HX123")])
    assert [(o.address, o.template) for o in platform.sent] == [(recent, None), (late, "HX123")]
    assert pulse.take()["sends:whatsapp:outside_window"] == 1
    # DELETE erases when they wrote before its answer goes: the answer still goes.
    rt.store.inbox.close_window(late)
    assert send(rt, late, [Outbound(late, "Done: everything about you is deleted.")])
    assert platform.sent[-1].text == "Done: everything about you is deleted."
