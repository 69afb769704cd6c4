"""keys.py against a whole polling day: journeys on all three channels, a referral, an
import, a broadcast and reminders, then a scan of Redis. Every key is declared; DELETE
leaves nothing that names the person; the purge leaves only what is declared to stay."""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import Iterator

import pytest
import redis

from bot import cli
from bot.store import Store, keys
from tests.harness import ADMIN_TOKEN, ID_SECRET, ROOMS, Bot

pytestmark = pytest.mark.e2e

TG, WA, SMS = 3001, "whatsapp:+447700900777", "+447700900888"
PIN = {"latitude": 51.55412, "longitude": -0.10971}


@pytest.fixture
def bot(tmp_path) -> Iterator[Bot]:
    system = Bot(tmp_path)
    try:
        system.start(workers=1)
        yield system
    finally:
        system.stop()


def everything(r: redis.Redis) -> bytes:
    """Every key and value in Redis, RQ's compressed job data opened up."""
    out = []
    for key in r.keys("*"):
        out.append(key)
        kind = r.type(key)
        if kind == b"string":
            out.append(r.get(key) or b"")
        elif kind == b"hash":
            for field, value in r.hgetall(key).items():
                if field == b"data":
                    with contextlib.suppress(zlib.error):
                        value = zlib.decompress(value)
                out += [field, value]
        elif kind == b"list":
            out += r.lrange(key, 0, -1)
        elif kind == b"set":
            out += r.smembers(key)
        elif kind == b"zset":
            out += r.zrange(key, 0, -1)
    return b"\n".join(out)


def undeclared(r: redis.Redis) -> list[str]:
    names = [k.decode() for k in r.keys("pd:*")]
    return [k for k in names if keys.declared("pd", k) is None]


def test_a_polling_day_in_redis_is_all_declared_and_delete_and_purge_leave_no_trace(
    bot: Bot, monkeypatch
):
    # Telegram: a pledge, updates yes, a share code.
    bot.tg(TG, text="/start")
    bot.tg_sent(TG, 1)
    bot.tg(TG, location=PIN)
    bot.tg_sent(TG, 2)
    bot.tg(TG, data="shift:morning")
    bot.tg_sent(TG, 3)
    bot.tg(TG, data="yes")
    bot.tg_sent(TG, 4)
    bot.tg(TG, text="yes")
    share = bot.tg_sent(TG, 6)[5]["text"]
    code = share.split("start=")[1].split()[0]
    # WhatsApp: brought in by that code, pledged, updates yes.
    bot.tw(WA, f"Hi! I'd like to help on polling day. (ref {code})")
    bot.tw_sent(WA, 1)
    bot.tg_sent(TG, 7)  # the sharer is told
    bot.tw(WA, "N1 9GU")
    bot.tw_sent(WA, 2)
    bot.tw(WA, "1")
    bot.tw_sent(WA, 3)
    bot.tw(WA, "yes")
    bot.tw_sent(WA, 4)
    bot.tw(WA, "yes")
    wa_code = bot.tw_sent(WA, 6)[5].split("start=")[1].split()[0]
    # SMS: a postcode, a pledge.
    bot.tw(SMS, "hello")
    bot.tw_sent(SMS, 1)
    bot.tw(SMS, "N5 1XL")
    assert bot.tw_sent(SMS, 2)[1].startswith("Thanks: N5 1XL, in Islington North.")
    bot.tw(SMS, "1")
    bot.tw_sent(SMS, 3)
    bot.tw(SMS, "yes")
    bot.tw_sent(SMS, 4)
    # An import, and a broadcast to everyone who agreed.
    auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    assert bot.http.post(bot.url + "/admin/api/rooms/import", data=ROOMS, headers=auth).ok
    resp = bot.admin("POST", "/broadcasts", json={"text": "Polls close at 10pm!"})
    assert resp.status_code == 202 and resp.json()["recipients"] == 2
    bot.tg_sent(TG, 8)
    bot.tw_sent(WA, 7)
    assert bot.r.exists(f"pd:timed:{WA}")  # reminders are scheduled for them
    assert undeclared(bot.r) == []

    # DELETE: nothing in any key or value names them any more.
    bot.tw(WA, "DELETE")
    assert bot.tw_sent(WA, 8)[7].startswith("Done: we've erased your details.")
    bot.twilio.wait_for(lambda _: not bot.r.exists(f"pd:outbox:{WA}"), 10)
    blob = everything(bot.r)
    for trace in (WA, "447700900777", wa_code, "N1 9GU"):
        assert trace.encode() not in blob, trace
    assert Store(bot.r, secret=ID_SECRET).suppression.hid(WA).encode() in blob  # seen, kept
    assert f"telegram:{TG}".encode() in blob and SMS.encode() in blob  # others untouched
    assert undeclared(bot.r) == []

    # The purge: only what is declared to stay, and nothing personal in RQ's keys either.
    for name, value in bot.env.items():
        monkeypatch.setenv(name, value)
    assert cli.main(["purge"]) == 0
    left = {keys.declared("pd", k.decode()) for k in bot.r.keys("pd:*")}
    assert None not in left and all(not k.purge and not k.personal for k in left)
    blob = everything(bot.r)
    for trace in (f"telegram:{TG}", "447700900888", code, "N5 1XL"):
        assert trace.encode() not in blob, trace
