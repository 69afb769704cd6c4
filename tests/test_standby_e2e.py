"""Standby across the real processes: a web process and two workers on a real Redis, the
fake Telegram and Twilio. Every room is full for the evening; two people wait; a CAN'T
reaches the nearest, whose NO passes it to the next, whose YES takes it; a STOP frees a
place whose hold then runs out unanswered, and a late YES is told so; DELETE with a place
held gives it back and leaves no trace."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from bot.model.person import Pledge
from bot.store import Store
from tests.harness import ID_SECRET, Bot
from tests.people import add_supporters
from tests.test_keys_e2e import everything, undeclared

HOLD_SECONDS = 6  # standby_hold_minutes: 0.1


@pytest.fixture(scope="module")
def bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bot]:
    system = Bot(tmp_path_factory.mktemp("standby"), config_extra="standby_hold_minutes: 0.1\n")
    try:
        system.start()
        yield system
    except BaseException:
        print(system.log_tail())
        raise
    finally:
        system.stop()


def texts(sent: list[dict]) -> list[str]:
    return [m["text"] for m in sent]


def test_a_freed_place_goes_down_the_standby_list_and_a_hold_runs_out(bot: Bot) -> None:
    store = Store(bot.r, secret=ID_SECRET)
    # Every evening place is taken: Holloway's one (by someone who can write to us) and
    # Whitehall's three (Archway runs no evening).
    add_supporters(store, ["telegram:901"], pledge=Pledge("holloway", ("evening",)), caps=(1,))
    whitehall = [f"sms:+44770090090{i}" for i in range(1, 4)]
    add_supporters(store, whitehall, pledge=Pledge("whitehall", ("evening",)), caps=(3,))

    tg, sms = 7001, "+447700900555"
    bot.tg(tg, text="hi")
    bot.tg(tg, text="N7 6AA")
    bot.tg(tg, text="evening")
    full = bot.tg_sent(tg, 3)[-1]
    assert full["text"].startswith("Every committee room in a target seat near you is already")
    pressed = full["reply_markup"]["inline_keyboard"][0][0]
    assert pressed["callback_data"] == "standby"
    bot.tg(tg, data="standby")
    assert texts(bot.tg_sent(tg, 4))[-1].startswith(
        "You're on standby for Holloway Labour Hall and Whitehall Rooms: Evening 17:00–22:00."
    )
    for body in ("hi", "SW1A 1AA", "3", "standby"):
        bot.tw(f"sms:{sms}", body)
        time.sleep(0.3)  # in order: one at a time
    assert bot.tw_sent(sms, 4)[-1].startswith(
        "You're on standby for Whitehall Rooms and Holloway Labour Hall"
    )

    # Holloway's volunteer can't come: the place is held for the nearest waiting (Telegram).
    bot.tg(901, text="can't make it")
    offer = bot.tg_sent(tg, 5)[-1]
    assert offer["text"].startswith("Good news: a place has come up at Holloway Labour Hall")
    assert [row[0]["callback_data"] for row in offer["reply_markup"]["inline_keyboard"]] == [
        "take",
        "pass",
    ]
    assert bot.r.hget("pd:pledged", "holloway|evening") == b"1"  # held, so still full
    bot.tg(tg, data="pass")
    assert texts(bot.tg_sent(tg, 6))[-1].startswith("No problem, it'll go to the next person.")
    assert bot.tw_sent(sms, 5)[-1].startswith(
        "Good news: a place has come up at Holloway Labour Hall"
    )
    bot.tw(f"sms:{sms}", "YES")
    assert bot.tw_sent(sms, 6)[-1].startswith("You're confirmed: Holloway Labour Hall")
    assert store.places.pledge_of(f"sms:{sms}") == "holloway|evening"
    assert bot.r.hget("pd:pledged", "holloway|evening") == b"1"

    # A Whitehall volunteer says STOP: the place is held for the Telegram supporter, who
    # does not answer; the hold runs out and, with nobody else waiting, the place is free.
    bot.tw(whitehall[0], "STOP")
    assert texts(bot.tg_sent(tg, 7))[-1].startswith(
        "Good news: a place has come up at Whitehall Rooms"
    )
    deadline = time.monotonic() + HOLD_SECONDS + 15
    while store.standby.held() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert store.standby.held() == {}
    assert bot.r.hget("pd:pledged", "whitehall|evening") == b"2"
    bot.tg(tg, text="yes")
    assert texts(bot.tg_sent(tg, 8))[-1].startswith(
        "Sorry, the place at Whitehall Rooms was kept for you until"
    )
    assert store.places.pledge_of(f"telegram:{tg}") is None

    # WhatsApp waits too, is held the next place a STOP frees, and says DELETE: the place
    # goes back and nothing in Redis names them; every key written is declared.
    add_supporters(store, ["sms:+447700900904"], pledge=Pledge("whitehall", ("evening",)),
                   caps=(3,))  # fmt: skip
    wa = "whatsapp:+447700900556"
    for body in ("hi", "SW1A 1AA", "3", "standby"):
        bot.tw(wa, body)
        time.sleep(0.3)
    assert bot.tw_sent(wa, 4)[-1].startswith("You're on standby for Whitehall Rooms")
    bot.tw(whitehall[1], "STOP")
    assert bot.tw_sent(wa, 5)[-1].startswith("Good news: a place has come up at Whitehall")
    assert bot.r.hget("pd:pledged", "whitehall|evening") == b"3"
    bot.tw(wa, "DELETE")
    assert bot.tw_sent(wa, 6)[-1].startswith("Done: we've erased your details.")
    bot.twilio.wait_for(lambda _: not bot.r.exists(f"pd:outbox:{wa}"), 10)
    assert bot.r.hget("pd:pledged", "whitehall|evening") == b"2"
    assert wa.encode() not in everything(bot.r) and undeclared(bot.r) == []
