"""Timed events on a real Redis: kept once, moved into the inbox once when due, in time
order behind what the person already wrote, and gone with STOP, DELETE and the purge."""

from __future__ import annotations

import threading
import time

from bot.model.message import Inbound
from bot.store import Store
from bot.store.jobs import DRAIN_READY

WHO, OTHER = "telegram:42", "telegram:43"


def event(address: str, name: str, n: int) -> Inbound:
    return Inbound(address, event="reminder", payload=name, external_id=f"remind-{n}")


def inbox(r, address: str) -> list[str]:
    return [Inbound.from_json(x).payload or "" for x in r.lrange(f"pd:inbox:{address}", 0, -1)]


def test_an_event_added_twice_is_kept_once_and_the_due_set_has_the_earliest(r):
    s = Store(r)
    s.timed.add(event(WHO, "later", 1), 200.0)
    s.timed.add(event(WHO, "later", 1), 200.0)  # a replayed turn schedules it again
    s.timed.add(event(WHO, "sooner", 2), 100.0)
    assert [(e.payload, at) for e, at in s.timed.pending(WHO)] == [("sooner", 100), ("later", 200)]
    assert r.zrange("pd:due", 0, -1, withscores=True) == [(WHO.encode(), 100.0)]


def test_what_is_due_moves_behind_what_they_wrote_in_time_order_and_makes_them_ready(r):
    s = Store(r)
    s.inbox.ingest("telegram:1", WHO, Inbound(WHO, text="hi", payload="wrote").to_json())
    r.delete("pd:jobs", "pd:sched:" + WHO, "pd:drainers")
    r.delete("pd:ready:telegram")
    for n, (name, at) in enumerate([("b", 20.0), ("a", 10.0), ("c", 30.0)]):
        s.timed.add(event(WHO, name, n), at)
    s.timed.add(event(OTHER, "x", 9), 15.0)
    assert s.timed.release(5.0) == 0
    assert s.timed.release(20.0) == 3  # a, b for WHO; x for OTHER
    assert inbox(r, WHO) == ["wrote", "a", "b"] and inbox(r, OTHER) == ["x"]
    assert [e.payload for e, _ in s.timed.pending(WHO)] == ["c"]
    # WHO keeps their place at their next event; OTHER, with none left, leaves the set.
    assert r.zrange("pd:due", 0, -1, withscores=True) == [(WHO.encode(), 30.0)]
    assert r.lrange("pd:ready:telegram", 0, -1) == [WHO.encode(), OTHER.encode()]
    assert r.lrange("pd:jobs", 0, -1) == [DRAIN_READY.encode()] * 2
    assert s.timed.release(20.0) == 0  # moved once
    assert s.timed.release(30.0) == 1 and not r.exists("pd:due")


def test_what_comes_due_goes_before_people_who_wrote_since(r):
    """A reply held back (or a reminder) has waited already: its person goes to the front of
    the ready list, earliest due first, not behind everyone who wrote meanwhile."""
    s = Store(r)
    newcomers = [f"telegram:{100 + n}" for n in range(3)]
    for n, address in enumerate(newcomers):
        s.inbox.ingest(f"telegram:n{n}", address, Inbound(address, text="hi").to_json())
    s.timed.add(event(OTHER, "x", 1), 15.0)
    s.timed.add(event(WHO, "a", 2), 10.0)
    assert s.timed.release(20.0) == 2
    ready = [a.decode() for a in r.lrange("pd:ready:telegram", 0, -1)]
    assert ready == [WHO, OTHER, *newcomers]


def test_a_rescue_keeps_waiting_people_in_place_and_puts_the_stranded_first(r):
    """In a surge people wait in the ready list longer than their scheduled mark lasts; the
    rescue then finds them, and must leave them in place, not put them ahead of those who
    wrote before them. Someone truly stranded (their drainer died, or gave the turn up in a
    Redis outage) wrote before everyone still waiting, and goes first."""
    s = Store(r)
    waiting = [f"telegram:{200 + n}" for n in range(3)]
    for n, address in enumerate(waiting):
        s.inbox.ingest(f"telegram:w{n}", address, Inbound(address, text="hi").to_json())
    stranded = "telegram:199"
    r.rpush(f"pd:inbox:{stranded}", Inbound(stranded, text="hi").to_json())
    r.delete(f"pd:sched:{waiting[2]}")  # its mark ran out while it waited
    r.set("pd:drainers", 8)  # as many drainers as may run: none more is asked for
    r.delete("pd:jobs")
    assert s.inbox.rescue_stranded() == (2, 0)
    ready = [a.decode() for a in r.lrange("pd:ready:telegram", 0, -1)]
    assert ready == [stranded, *waiting]
    assert r.ttl(f"pd:sched:{waiting[2]}") > 0  # marked again: the next look leaves them be
    assert s.inbox.rescue_stranded() == (0, 0)
    # With no drainer left, someone still waiting gets one asked for, and keeps their place.
    r.delete("pd:drainers", f"pd:sched:{waiting[1]}")
    assert s.inbox.rescue_stranded() == (1, 1)
    assert [a.decode() for a in r.lrange("pd:ready:telegram", 0, -1)] == [stranded, *waiting]
    assert r.llen("pd:jobs") == 1


def test_many_workers_looking_at_once_move_each_event_once(r):
    s = Store(r)
    people = [f"sms:+4477009{i:05d}" for i in range(300)]
    for n, address in enumerate(people):
        s.timed.add(event(address, "r", n), 10.0)
    moved: list[int] = []
    threads = [
        threading.Thread(target=lambda: moved.append(Store(r).timed.release(10.0)))
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(moved) == 300
    assert all(r.llen(f"pd:inbox:{a}") == 1 for a in people)


def test_stop_forgets_them_and_delete_and_the_purge_erase_them(r):
    s = Store(r)
    for n, address in enumerate((WHO, OTHER, "sms:+447700900001")):
        s.timed.add(event(address, "r", n), 10.0)
    s.timed.forget(WHO)
    s.erase(OTHER)
    assert s.timed.pending(WHO) == [] and s.timed.pending(OTHER) == []
    assert r.zrange("pd:due", 0, -1) == [b"sms:+447700900001"]
    s.purge()
    assert not r.keys("pd:timed:*") and not r.exists("pd:due")
    assert s.timed.release(10.0) == 0


def test_someone_taken_off_the_ready_list_whose_drain_never_started_is_rescued(r):
    """A drainer's blocking pop takes someone off the ready list, and Redis goes before the
    drainer starts on them: they are on no list, unlocked, yet still marked as scheduled.
    The next look (the one straight after an outage) must not leave them for the mark's
    five minutes; someone made ready since the lists were read is left in line."""
    s = Store(r)
    who, later = "telegram:301", "telegram:302"
    s.inbox.ingest("telegram:u1", who, Inbound(who, text="hi").to_json())
    assert s.inbox.take_ready(0.1) == who  # ... and the drainer lost Redis here
    assert r.exists(f"pd:sched:{who}") and not r.exists(f"pd:lock:{who}")
    time.sleep(0.01)  # marks are read to the millisecond: the look is later than this one
    # The lists are read; then someone new is made ready (marked after that read).
    waiting, at = s.inbox._in_line()
    s.inbox.ingest("telegram:u2", later, Inbound(later, text="hi").to_json())
    assert s.inbox._rescue_one(later, later in waiting, at) == 0  # in line: left in place
    assert [a.decode() for a in r.lrange("pd:ready:telegram", 0, -1)] == [later]
    assert s.inbox.rescue_stranded()[0] == 1
    assert [a.decode() for a in r.lrange("pd:ready:telegram", 0, -1)] == [who, later]
    assert s.inbox.rescue_stranded() == (0, 0)  # once
    token, batch = s.inbox.take(s.inbox.take_ready(), 10, first=True)
    assert token and [Inbound.from_json(b).text for b in batch] == ["hi"]
