"""keys.py is the whole truth: every key written is declared, and DELETE leaves no trace."""

from __future__ import annotations

from bot.broadcasts import Audience
from bot.model.message import Inbound
from bot.model.person import Consent, Conversation, Pledge, State
from bot.pacing import Pacer
from bot.store import Store, keys
from bot.store.broadcasts import Broadcasts

SECRET = "test-secret"
WHO = "sms:+447700900123"
OTHER = "telegram:4242"


def busy(r) -> tuple[Store, str, int]:
    """A store after most of what a polling day writes, for WHO and OTHER."""
    s = Store(r, secret=SECRET)
    for n, address in enumerate((WHO, OTHER)):
        s.inbox.ingest(f"twilio:SM{n}", address, '{"text": "N7 6AA"}', 1869732000.0, quota=30)
        conv = Conversation(address, State.DONE, postcode="N7 6AA", code=None)
        s.people.save(conv, True, Consent(True, 1869732000, address.split(":")[0], "v1"))
        s.places.reserve(address, Pledge("R", ("morning",)), [5])
        s.people.mark_unreachable(address, "blocked")
    code = s.referrals.code_for(WHO)
    s.referrals.first_contact(OTHER, WHO, message="m1")
    bc = Broadcasts(s)
    bid = bc.create("Polls close at 10pm", Audience(), [WHO, OTHER], 0, launch=True, message="m2")
    bc.settle(bid, OTHER, "sending", "", "claim")
    Pacer(r, {"sms": 10, "telegram": 30}, secret=s.secret).record("telegram", "4242")
    for address in (WHO, OTHER):  # a reminder, and a reply held back
        s.timed.add(Inbound(address, event="reminder", payload='{"room": "R"}'), 1869732000.0)
        s.timed.add(Inbound(address, event="send", payload="1", external_id="send-1"), 1.0)
    s.suppression.set_stopped(WHO, True)
    return s, code, bid


def test_every_key_written_is_declared(r):
    busy(r)
    found = [k.decode() for k in r.keys("*")]
    assert found and all(keys.declared("pd", k) for k in found), [
        k for k in found if not keys.declared("pd", k)
    ]


def test_delete_leaves_no_trace_of_the_address_in_any_key_or_value(r):
    s, code, bid = busy(r)
    s.erase(WHO)
    blob = b" ".join(k + b" " + (r.dump(k) or b"") for k in r.keys("*"))
    for trace in (WHO, "447700900123", code):
        assert trace.encode() not in blob, trace
    # Everyone else is untouched, and keeps their place in the broadcast's list.
    assert s.people.load(OTHER) is not None and s.places.pledge_of(OTHER) == "R|morning"
    assert Broadcasts(s).recipients(bid, 0) == [OTHER]
    assert s.suppression.was_stopped(WHO)  # a STOP outlives DELETE
    # A broadcast still running never writes the erased address back.
    assert Broadcasts(s).settle(bid, WHO, "sending", "", "claim") == 3
    assert WHO.encode() not in b" ".join(r.dump(k) or b"" for k in r.keys("*"))


def test_the_purge_keeps_only_what_is_declared_to_stay(r):
    s, _, _ = busy(r)
    s.purge()
    left = {keys.declared("pd", k.decode()) for k in r.keys("*")}
    assert left and all(k is not None and not k.purge for k in left)
    assert all(not k.personal for k in left)


def test_one_way_ids_are_keyed(r):
    assert keys.hid(b"a", WHO) != keys.hid(b"b", WHO)
    assert len(keys.hid(b"a", WHO)) == 32
