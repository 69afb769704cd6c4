"""A worker killed at each point of a turn (fault marker): the replay does each effect once
and delivers every reply, repeating one only when it died with that very send in flight.

Real processes (gunicorn, an RQ worker, Redis, the fake Bot API). The worker dies through
the crash points of workers/faults.py (``os._exit``, as a SIGKILL leaves it); the test then
does what time would do (the dead worker's lock runs out and the rescue makes the person
ready again), starts a new worker, and checks the outcome.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from rq import Queue

from bot.store import Store, keys
from tests.harness import ID_SECRET, Bot

pytestmark = pytest.mark.fault
MARK = keys.CRASH_AT("pd")

ORGANISER, SHARER, NEWCOMER = 7, 901, 902


@pytest.fixture
def system(tmp_path) -> Iterator[Bot]:
    extra = "organisers: [telegram:7]\nrate_limits: {telegram: 1000, whatsapp: 1000, sms: 1000}\n"
    bot = Bot(tmp_path, config_extra=extra, env={"POLLDAY_FAULTS": "1"})
    try:
        yield bot
    except BaseException:
        print(bot.log_tail())
        raise
    finally:
        bot.stop()


def crash_at(bot: Bot, point: str, chat: int, **content) -> None:
    """Send one message with the worker set to die at ``point``; then recover as the system
    would: the lock runs out, the rescue makes the person ready, a new worker drains."""
    worker = bot.procs[-1]
    bot.r.set(MARK, point)
    bot.tg(chat, **content)
    assert worker.wait(timeout=20) == 137, point  # it died there, for real
    assert not bot.r.exists(MARK)
    address = f"telegram:{chat}"
    bot.r.delete(f"pd:lock:{address}", f"pd:sched:{address}")  # its lock ran out
    bot.start_process("worker")
    assert Store(bot.r, secret=ID_SECRET).inbox.nudge(address)  # the rescue, every 30 s


def texts(bot: Bot, chat: int) -> list[str]:
    return [m["text"] for m in bot.telegram.sent(chat)]


def settle(bot: Bot, chat: int, n: int, timeout: float = 20) -> list[str]:
    """What ``chat`` has received once at least ``n`` messages came and the replayed turn
    is over (nothing queued, nothing left in the outbox, no lock)."""
    bot.telegram.wait_for(lambda _: len(bot.telegram.sent(chat)) >= n, timeout)
    address = f"telegram:{chat}"
    busy = [f"pd:inbox:{address}", f"pd:outbox:{address}", f"pd:lock:{address}"]
    deadline = time.monotonic() + timeout
    while bot.r.exists(*busy) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    return texts(bot, chat)


def test_a_worker_killed_at_each_point_of_a_turn_does_each_effect_once(system: Bot):
    bot = system
    bot.start(workers=1)
    code = Store(bot.r, secret=ID_SECRET).referrals.code_for(f"telegram:{SHARER}")

    # Killed after crediting the sharer, before the turn was saved.
    crash_at(bot, "effect:FirstContact", NEWCOMER, text=f"/start {code}")
    got = settle(bot, NEWCOMER, 1)
    assert len(got) == 1 and got[0].startswith("Hi!") and "postcode" in got[0]
    (credit,) = settle(bot, SHARER, 1)
    assert "1" in credit  # told once, with the right total
    assert bot.r.hget("pd:referrals", f"telegram:{SHARER}") == b"1"

    bot.tg(NEWCOMER, location={"latitude": 51.55412, "longitude": -0.10971})
    bot.tg_sent(NEWCOMER, 2)
    bot.tg(NEWCOMER, data="shift:morning")
    bot.tg_sent(NEWCOMER, 3)

    # Killed after its reminders were scheduled, before the pledge was saved.
    crash_at(bot, "effect:ScheduleReminders", NEWCOMER, data="yes")
    got = settle(bot, NEWCOMER, 4)
    assert len(got) == 4 and got[3].startswith("You're confirmed: Holloway Labour Hall")
    assert bot.r.hget("pd:pledged", "holloway|morning") == b"1"  # counted once
    store = Store(bot.r, secret=ID_SECRET)
    pending = [e for e, _ in store.timed.pending(f"telegram:{NEWCOMER}")]
    # The evening before, an hour before the shift, the two checks after it starts, and
    # the vote message: once each.
    assert sorted(e.event for e in pending) == ["attendance"] * 2 + ["reminder"] * 2 + ["vote"]

    # Killed after the turn was saved, before anything was sent.
    crash_at(bot, "saved", NEWCOMER, text="yes")
    got = settle(bot, NEWCOMER, 6)
    assert len(got) == 6 and got[4].startswith("Thanks, we'll only message you about polling day.")

    # Killed with a reply in flight: it went, but was not yet marked as gone.
    crash_at(bot, "sent", NEWCOMER, text="hello")
    got = settle(bot, NEWCOMER, 7)
    assert got[6].startswith("You're down for Holloway Labour Hall")
    # That one reply, and only it, went twice: the replay could not know it had gone.
    assert len(got) == 8 and got[7] == got[6]

    # An organiser's YES, killed after the broadcast started, before the turn was saved.
    before = len(got)
    bot.tg(ORGANISER, text="/broadcast Polls close at 10pm!")
    assert "would go to 1 supporters" in bot.tg_sent(ORGANISER, 1)[0]["text"]
    crash_at(bot, "effect:StartBroadcast", ORGANISER, text="YES")
    got = settle(bot, ORGANISER, 2)
    assert len(got) == 2 and got[1] == "Broadcast #1 is on its way to 1 supporters."
    assert bot.r.get("pd:bc:seq") == b"1"  # one broadcast, not two
    got = settle(bot, NEWCOMER, before + 1)
    assert len(got) == before + 1 and got[-1].startswith("Polls close at 10pm!")  # once
    assert not Queue("turns", connection=bot.r).failed_job_registry.get_job_ids()
