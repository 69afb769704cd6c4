"""Store on a real Redis: ingest and dedupe, atomic pledges under races, referrals, erasure."""

from __future__ import annotations

import threading
import time

from bot.channels import PLATFORMS
from bot.model.message import Inbound
from bot.model.person import Consent, Conversation, Pledge, State
from bot.store import Store
from bot.store.inbox import DRAINERS, LANES
from bot.store.jobs import DRAIN_READY


def test_ingest_dedupes_and_starts_a_few_drainers_not_one_per_message(r):
    s = Store(r)
    assert s.inbox.ingest("telegram:1", "telegram:42", "a") == 2
    assert s.inbox.ingest("telegram:1", "telegram:42", "a") == 0  # same update again
    assert s.inbox.ingest("telegram:2", "telegram:42", "b") == 1  # already on the ready list
    assert r.lrange("pd:inbox:telegram:42", 0, -1) == [b"a", b"b"]
    assert r.lrange("pd:ready:telegram", 0, -1) == [b"telegram:42"]
    # More people: a new drainer each until DRAINERS run, then just the ready list.
    started = [s.inbox.ingest(f"telegram:{100 + i}", f"telegram:{i}", "x") for i in range(20)]
    assert started.count(2) == DRAINERS - 1 and r.llen("pd:ready:telegram") == 21
    # Each drainer is asked of the workers on the jobs list, by the same script.
    assert r.lrange("pd:jobs", 0, -1) == [DRAIN_READY.encode()] * DRAINERS
    # Drainers take people in order; the last one out is uncounted with the empty list.
    taken = [s.inbox.next_ready() for _ in range(21)]
    assert taken[0] == "telegram:42" and None not in taken
    for _ in range(DRAINERS):
        assert s.inbox.next_ready() is None
    assert int(r.get("pd:drainers")) == 0


def test_each_channel_waits_on_its_own_lane_and_drainers_choose_lanes(r):
    """A lane per channel: a drainer whose threads for one channel are all busy takes the
    next person from the lanes it has room for; the last look covers every lane."""
    s = Store(r)
    ago = time.time() - 30
    for n, address in enumerate(["telegram:1", "whatsapp:+447700900001", "telegram:2",
                                 "sms:+447700900002", "signal:3"]):  # fmt: skip
        wrote = Inbound(address, text="hi", received_at=ago + n)
        s.inbox.ingest(f"u{n}", address, wrote.to_json())
    assert r.lrange("pd:ready:telegram", 0, -1) == [b"telegram:1", b"telegram:2"]
    assert r.lrange("pd:ready:whatsapp", 0, -1) == [b"whatsapp:+447700900001"]
    assert r.lrange("pd:ready:other", 0, -1) == [b"signal:3"]  # never where nobody looks
    assert s.inbox.ready_count() == 5
    people, oldest = s.pulse.waiting()
    assert people == 5 and 29 < oldest < 32  # the longest wait at any lane's head
    assert s.inbox.take_ready(0.0, ["sms", "whatsapp"]) == "sms:+447700900002"
    assert s.inbox.take_ready(0.2, ["whatsapp", "sms"]) == "whatsapp:+447700900001"
    assert s.inbox.take_ready(0.2, ["whatsapp", "sms"]) is None  # telegram's are not taken
    assert s.inbox.take_ready(0.0, ["telegram"]) == "telegram:1"
    r.set("pd:drainers", 1)
    assert [s.inbox.next_ready() for _ in range(3)] == ["telegram:2", "signal:3", None]
    assert int(r.get("pd:drainers")) == 0 and s.inbox.ready_count() == 0
    assert s.pulse.waiting() == (0, 0.0)
    # Every platform's address channels have their own lane.
    assert {name for p in PLATFORMS for name in p.capabilities} == set(LANES) - {"other"}


def test_a_repeated_delivery_restarts_a_lost_drainer(r):
    s = Store(r)
    assert s.inbox.ingest("telegram:1", "telegram:42", "a") == 2
    # The worker that took the drainer request was killed before starting it.
    s.inbox.clear_scheduled("telegram:42")
    r.delete("pd:drainers", "pd:jobs")
    assert s.inbox.ingest("telegram:1", "telegram:42", "a") == 2  # the platform's retry
    assert r.lrange("pd:inbox:telegram:42", 0, -1) == [b"a"]
    assert r.lrange("pd:jobs", 0, -1) == [DRAIN_READY.encode()]


def test_reserve_is_all_or_nothing_and_moves_a_pledge(r):
    s = Store(r)
    assert s.places.reserve("a", Pledge("R1", ("morning", "evening")), [1, 5])
    assert not s.places.reserve("b", Pledge("R1", ("evening", "morning")), [5, 1])
    assert s.places.taken([("R1", "morning"), ("R1", "evening")]) == [1, 1]
    # Moving within the same room does not count the mover's own place against them.
    assert s.places.reserve("a", Pledge("R1", ("morning",)), [1])
    assert s.places.taken([("R1", "morning"), ("R1", "evening")]) == [1, 0]
    assert s.places.reserve("a", Pledge("R2", ("afternoon",)), [3])
    assert s.places.taken([("R1", "morning"), ("R2", "afternoon")]) == [0, 1]
    assert s.places.pledge_of("a") == "R2|afternoon"
    # The board's chart counts a first pledge once; moves and refusals are not pledges.
    assert list(s.pulse.timeline()["pledged"].values()) == [1]  # in the hour it was made
    assert s.places.release("a") and not s.places.release("a")
    assert s.places.taken([("R2", "afternoon")]) == [0]


def test_racing_for_the_last_places(r):
    s = Store(r)
    results: list[bool] = []
    barrier = threading.Barrier(20)

    def go(i: int) -> None:
        barrier.wait()
        results.append(s.places.reserve(f"p{i}", Pledge("R", ("morning",)), [3]))

    threads = [threading.Thread(target=go, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(True) == 3
    assert s.places.taken([("R", "morning")]) == [3]


def test_first_contact_credits_once_and_survives_erasure(r):
    s = Store(r)
    code = s.referrals.code_for("telegram:1")
    assert len(code) == 8 and s.referrals.sharer_of(code.lower()) == "telegram:1"
    assert s.referrals.first_contact("sms:+447700900123", "telegram:1") == 1
    assert s.referrals.first_contact("sms:+447700900123", "telegram:1") is None
    s.erase("sms:+447700900123")
    assert s.referrals.first_contact("sms:+447700900123", "telegram:1") is None
    assert s.referrals.first_contact("sms:+447700900999", "telegram:1") == 2
    assert s.referrals.counts() == {"telegram:1": 2}


def test_codes_given_before_the_small_hashes_are_still_found_kept_and_erased(r):
    """New codes go into small hashes (stored compactly); codes given before them, all in
    one hash, still find their sharer, are never given to anyone else, and DELETE erases a
    code wherever it is kept."""
    s = Store(r)
    old, new, clash = "telegram:1", "sms:+447700900123", "sms:+447700900999"
    before = s.referrals.candidates(old)[0]
    r.hset("pd:codes", before, old)  # as a version before kept it
    r.hset("pd:codes", s.referrals.candidates(clash)[0], "telegram:2")  # a clash, given then
    assert s.referrals.sharer_of(before.lower()) == old and s.referrals.code_for(old) == before
    code = s.referrals.code_for(new)
    assert r.hget(f"pd:codes:{code[:2]}", code) == new.encode()
    assert s.referrals.sharer_of(code) == new
    assert r.object("encoding", f"pd:codes:{code[:2]}") in (b"ziplist", b"listpack")
    assert s.referrals.code_for(clash) == s.referrals.candidates(clash)[1]  # the next one
    for address in (old, new, clash):
        s.erase(address)
    assert r.hgetall("pd:codes") == {s.referrals.candidates(clash)[0].encode(): b"telegram:2"}
    assert not r.keys("pd:codes:*") and s.referrals.sharer_of(code) is None


def test_erase_keeps_only_the_suppression_record(r):
    s = Store(r)
    addr = "whatsapp:+447700900123"
    code = s.referrals.code_for(addr)
    consent = Consent(True, 1869732000, "whatsapp", "v1")
    s.people.save(Conversation(addr, State.DONE, postcode="N7 6AA", code=code), True, consent)
    s.places.reserve(addr, Pledge("R", ("morning",)), [2])
    s.referrals.first_contact(addr, None)
    s.suppression.set_stopped(addr, True)
    s.people.mark_unreachable(addr, "whatsapp-blocked")
    s.erase(addr)
    keys = {k.decode() for k in r.keys("*")}
    # Totals that name no one stay, the board's hourly chart among them.
    assert keys == {"pd:seen", "pd:stopped", "pd:consent", "pd:pledged", "pd:supporters",
                    "pd:pulse:timeline"}  # fmt: skip
    by_kind = {kind: list(hours.values()) for kind, hours in s.pulse.timeline().items()}
    assert by_kind == {"joined": [1], "pledged": [1]}
    assert r.hvals("pd:consent") == [b"1|1869732000|whatsapp|v1"]
    assert r.hgetall("pd:pledge") == {} and r.hgetall("pd:unreachable") == {}
    assert s.referrals.sharer_of(code) is None and s.people.load(addr) is None
    assert s.suppression.was_stopped(addr)  # a STOP outlives DELETE
    assert b"447700900123" not in b"".join(r.dump(k) or b"" for k in r.keys("*"))


def test_lock_is_exclusive_and_only_its_owner_unlocks(r):
    s = Store(r)
    s.inbox.ingest("telegram:1", "a", "one")
    s.inbox.ingest("telegram:2", "a", "two")
    token, batch = s.inbox.take("a", 10, first=True)
    assert token and batch == [b"one", b"two"] and not r.exists("pd:sched:a")
    assert s.inbox.take("a", 10) == (None, [])
    assert s.inbox.unlock("a", "not-mine") == 2
    assert s.inbox.take("a", 1) == (None, [])
    s.inbox.pop("a", b"one")
    assert s.inbox.unlock("a", token) == 1  # what is left for the next drain
    assert s.inbox.take("a", 1)[1] == [b"two"]
