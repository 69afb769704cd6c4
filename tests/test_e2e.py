"""End to end: the real web process (gunicorn, from the Procfile), two worker processes, an
embedded Redis and fake Telegram, Twilio and postcodes.io servers on 127.0.0.1. Whole
journeys on each channel over HTTP; assertions on the exact messages the fakes received.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest

from bot.store import Store
from tests.harness import ID_SECRET, Bot

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bot]:
    system = Bot(tmp_path_factory.mktemp("e2e"))
    try:
        system.start()
        yield system
    except BaseException:
        print(system.log_tail())
        raise
    finally:
        system.stop()


WELCOME = (
    "Hi! I'm the polling-day volunteer bot for Test Party. I'll find you the nearest committee "
    "room in a close-fought seat that needs help on polling day, Thursday 3 May, at a time that "
    "suits you.\n\nYour data: we keep your {kind}, the postcode or rough location you give, the "
    "times you pick, your committee room and whether you want updates — only to organise polling "
    "day — and delete them 30 days after it. Reply STOP at any time to stop messages, or DELETE "
    "to erase your details now."
)
PIN, N7, SW1A = "I've got your location", "N7 6AA", "SW1A 1AA"  # what the bot says back
SHIFTS_Q = (
    "Thanks: {}.\n\nWhen can you help on polling day, Thursday 3 May?\n\n"
    "1. Morning 07:00–12:00\n2. Afternoon 12:00–17:00\n3. Evening 17:00–22:00\n\n"
    "Reply with one or more numbers (like 1 and 3), or ALL DAY."
)


def test_telegram_journey_with_buttons_duplicates_and_bad_secret(bot: Bot) -> None:
    chat = 1001
    bot.tg(chat, secret="wrong", text="hi")
    bot.tg(chat, text="/start", entities=[{"type": "bot_command", "offset": 0, "length": 6}])
    (welcome,) = bot.tg_sent(chat, 1)  # one message: the welcome, then the question
    hello, ask = welcome["text"].rsplit("\n\n", 1)
    assert hello == WELCOME.format(kind="Telegram chat ID and first name")
    assert welcome["parse_mode"] is None
    assert ask.startswith("Where are you? Send your postcode (like N7 6AA) or tap")
    assert welcome["reply_markup"]["keyboard"] == [
        [{"text": "📍 Share my location", "request_location": True}]
    ]

    bot.tg(chat, location={"latitude": 51.55412, "longitude": -0.10971})
    shifts = bot.tg_sent(chat, 2)[1]
    assert shifts["text"] == SHIFTS_Q.format(PIN)
    buttons = [row[0]["callback_data"] for row in shifts["reply_markup"]["inline_keyboard"]]
    assert buttons == ["shift:morning", "shift:afternoon", "shift:evening", "shift:all"]

    bot.tg(chat, data="shift:morning")
    offer = bot.tg_sent(chat, 3)[2]
    assert offer["text"] == (
        "Your nearest committee room in a target seat that needs people then:\n\n"
        "Holloway Labour Hall\n1 Holloway Road, N7 6BU\nWhy here: Islington North is a target "
        "seat and this room needs 1 more person for Morning, 780 m from you.\n"
        "Morning 07:00–12:00\n"
        "Map: https://www.google.com/maps/search/?api=1&query=51.56007%2C-0.11567\n\n"
        "Reply YES to confirm, or NEXT for another option."
    )
    answered = bot.telegram.calls("answerCallbackQuery")
    assert [c.form["callback_query_id"] for c in answered][-1].startswith("cb")

    bot.tg(chat, data="yes")
    confirmed, consent_q = bot.tg_sent(chat, 4)[3]["text"].split("\n\n")
    assert confirmed == (
        "You're confirmed: Holloway Labour Hall, 1 Holloway Road, N7 6BU (Islington North), "
        "Morning 07:00–12:00, Thursday 3 May. Thank you! We'll remind you before your shift."
    )
    assert consent_q.endswith("Reply YES or NO.")

    yes = bot.tg(chat, text="Yes")
    bot.post_tg(yes)  # Telegram delivers the same update again
    thanks_intro, share = (m["text"] for m in bot.tg_sent(chat, 6)[4:])
    thanks, intro = thanks_intro.split("\n\n")
    assert thanks == "Thanks, we'll only message you about polling day."
    assert intro.startswith("Could you bring a friend? Forward the next message")
    code = re.search(r"start=([A-Z0-9]{8})\n", share)[1]
    assert share == (
        "I'm helping Test Party get out the vote in Islington North on polling day, "
        "Thursday 3 May.\n"
        "Find the nearest committee room in a close seat that needs you:\n"
        f"Telegram https://t.me/test_pollday_bot?start={code}\n"
        "WhatsApp https://wa.me/447700900000?text=Hi%21%20I%27d%20like%20to%20help%20on%20"
        f"polling%20day.%20%28ref%20{code}%29\n"
        f"No smartphone? Text ref {code} to 07700 900000\n"  # SMS is on in this system
        "Promoted by T. Agent for Test Party, 1 Test Street, London N1 1AA."
    )
    bot.tg(chat, text="hello")
    status = bot.tg_sent(chat, 7)[6]["text"]  # exactly one more: the duplicate made none
    assert status.startswith("You're down for Holloway Labour Hall, 1 Holloway Road, N7 6BU")
    pledge = bot.r.hget("pd:pledge", f"telegram:{chat}")
    assert pledge == b"holloway|morning"
    consent = Store(bot.r, secret=ID_SECRET).people.load(f"telegram:{chat}").consent
    assert consent.granted and consent.channel == "telegram" and consent.version == "updates-v1"
    assert bot.r.sismember("pd:consented", f"telegram:{chat}")
    evidence = bot.r.hvals("pd:consent")[0].decode().split("|")
    assert evidence[0] == "1" and evidence[2:] == ["telegram", "updates-v1"]

    # WhatsApp referral from this person's link, who loses the last Holloway place.
    wa = "whatsapp:+447700900201"
    bot.tw(wa, f"Hi! I'd like to help on polling day. (ref {code})")
    (welcome,) = bot.tw_sent(wa, 1)
    hello, ask = welcome.rsplit("\n\n", 1)
    assert hello == WELCOME.format(kind="WhatsApp number and first name")
    assert ask == (
        "Where are you? Send your postcode (like N7 6AA) or share a location pin "
        "(📎 then Location)."
    )
    credit = bot.tg_sent(chat, 8)[7]["text"]
    assert credit == "Someone just joined from your link: that's 1 so far. Thank you!"

    bot.tw(wa, "I'm at n7 6aa thanks")
    assert bot.tw_sent(wa, 2)[1] == SHIFTS_Q.format(N7)
    first = bot.tw(wa, "1")
    bot.post_tw(first)  # Twilio retried the same MessageSid
    offer = bot.tw_sent(wa, 3)[2]
    assert offer.startswith(
        "Your nearest committee room in a target seat that needs people then:\n\n"
        "Archway Centre\n2 Archway Close, N19 4LU\nWhy here: Hampstead and Highgate is a "
        "target seat and this room needs 5 more people for Morning, 1.3 km (0.8 miles) from "
        "you.\n"
    )
    bot.tw(wa, "", ButtonText="Yes", ButtonPayload="yes")
    assert bot.tw_sent(wa, 4)[3].startswith("You're confirmed: Archway Centre")
    bot.tw(wa, "no")
    thanks_intro, share = bot.tw_sent(wa, 6)[4:]
    assert thanks_intro.startswith("No problem: no updates, just your reminder.\n\nCould you")
    assert "https://wa.me/447700900000?text=" in share
    assert bot.r.hget("pd:referrals", f"telegram:{chat}") == b"1"
    # Secrets stay out of the logs (httpx would log every Bot API URL, token included).
    assert not any("123456:TEST" in log.read_text() for log in bot.logs)
    # A second arrival from the same number is not credited again.
    bot.tw(wa, f"Hi! I'd like to help on polling day. (ref {code})")
    bot.tw_sent(wa, 7)
    assert len(bot.telegram.sent(chat)) == 8


def test_sms_journey_outcode_geocoded_room_stop_and_start(bot: Bot) -> None:
    sms = "+447700900301"
    bot.tw(sms, "Hi", signature="forged")
    bot.tw(sms, "Hi")
    (welcome,) = bot.tw_sent(sms, 1)
    hello, ask = welcome.rsplit("\n\n", 1)
    assert hello == WELCOME.format(kind="phone number")
    assert ask == "Where are you? Reply with your postcode (like N7 6AA)."
    bot.tw(sms, "sw1a")
    assert bot.tw_sent(sms, 2)[1] == (
        "SW1A covers a wide area, and seats change street by street. Please send your full "
        "postcode, like SW1A 0AA.\n\nWhere are you? Reply with your postcode (like N7 6AA)."
    )  # a real postcode in SW1A, not a made-up one
    bot.tw(sms, "SW1A1AA")
    assert bot.tw_sent(sms, 3)[2] == SHIFTS_Q.format(SW1A)
    bot.tw(sms, "all day")
    offer = bot.tw_sent(sms, 4)[3]
    # Whitehall had no coordinates in the CSV: the worker geocoded it via postcodes.io.
    assert offer.startswith(
        "Your nearest committee room in a target seat that needs people then:\n\n"
        "Whitehall Rooms\n4 Whitehall, SW1A 1AA\nWhy here: Cities of London and Westminster "
        "is a target seat and this room needs more people (3 for Morning, 3 for Afternoon, 3 "
        "for Evening), 10 m from you.\n"
        "Morning 07:00–12:00\nAfternoon 12:00–17:00\nEvening 17:00–22:00\n"
    )
    bot.tw(sms, "yes")
    bot.tw_sent(sms, 5)
    assert bot.r.hget("pd:pledge", f"sms:{sms}") == b"whitehall|morning,afternoon,evening"
    bot.tw(sms, "Stop messaging me")
    assert bot.tw_sent(sms, 6)[5] == (
        "Done: you won't get any more messages from us, and we've freed your place at Whitehall "
        "Rooms. Reply START if you change your mind, or DELETE to erase your details."
    )
    assert bot.r.hget("pd:pledge", f"sms:{sms}") is None
    assert bot.r.hget("pd:pledged", "whitehall|morning") == b"0"
    bot.tw(sms, "hello?")
    bot.tw(sms, "START")
    # Silence after STOP: the next message this number gets is the reply to START.
    assert bot.tw_sent(sms, 7)[6] == (
        "Welcome back!\n\nWhere are you? Reply with your postcode (like N7 6AA)."
    )
    bot.tw(sms, "DELETE")
    assert bot.tw_sent(sms, 8)[7].startswith("Done: we've erased your details.")
    assert [k for k in bot.r.keys("*") if sms.encode() in k] == []


def test_one_persons_messages_are_handled_in_order_across_workers(bot: Bot) -> None:
    sms = "+447700900401"
    bot.tw(sms, "Hi")
    bot.tw_sent(sms, 1)
    postcodes = [f"N7 9Z{c}" for c in "ABDEFGHJ"]
    for pc in postcodes:
        bot.tw(sms, pc)
    replies = bot.tw_sent(sms, 1 + len(postcodes))[1:]
    assert [r.split(".")[0] for r in replies] == [
        f"I can't find the postcode {pc}" for pc in postcodes
    ]


def test_whatsapp_location_pin_and_sticker(bot: Bot) -> None:
    wa = "whatsapp:+447700900501"
    bot.tw(wa, "hello")
    bot.tw_sent(wa, 1)
    bot.tw(wa, "", NumMedia="1", MediaContentType0="image/webp")
    assert bot.tw_sent(wa, 2)[1].startswith(
        "Sorry, I can only read text messages here.\n\nWhere are you?"
    )
    bot.tw(wa, "", Latitude="51.5629", Longitude="-0.12178", Address="Archway")
    assert bot.tw_sent(wa, 3)[2] == SHIFTS_Q.format(PIN)
    bot.tw(wa, "evening")  # Archway has no evening places; Holloway does
    assert "Holloway Labour Hall" in bot.tw_sent(wa, 4)[3]


def test_blocked_telegram_user_is_marked_and_not_retried(bot: Bot) -> None:
    chat = 1005
    bot.telegram.block(chat)
    bot.tg(chat, text="hi")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not bot.r.hget("pd:unreachable", f"telegram:{chat}"):
        time.sleep(0.05)
    assert bot.r.hget("pd:unreachable", f"telegram:{chat}").startswith(b"telegram-blocked@")
    time.sleep(0.5)
    attempts = [c for c in bot.telegram.calls("sendMessage") if c.form["chat_id"] == str(chat)]
    assert len(attempts) == 1  # no retry


def test_telegram_429_is_retried_after_the_wait(bot: Bot) -> None:
    chat = 1006
    bot.telegram.fail_next(chat, 429, retry_after=1)
    bot.tg(chat, text="hi")
    (welcome,) = bot.tg_sent(chat, 1)
    assert welcome["text"].startswith("Hi! I'm the polling-day volunteer bot")
    tries = [c for c in bot.telegram.calls("sendMessage") if c.form["chat_id"] == str(chat)]
    assert len(tries) == 2 and tries[1].received_at - tries[0].received_at >= 0.9
