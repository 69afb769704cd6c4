"""Tables for every conversation state and fallback: pure handlers, in-memory World, no Redis."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from bot.model.message import Inbound, Location
from bot.model.person import Consent, Conversation, Pledge, State
from bot.model.turn import Release
from bot.rooms import Directory
from tests.world import POSTCODES, MemoryWorld, handle

TG = "telegram:42"
N7 = POSTCODES["N7 6AA"]


def msg(text: str = "", address: str = TG, **kw) -> Inbound:
    return Inbound(address, text=text, **kw)


def at(state: State, address: str = TG, **kw) -> Conversation:
    """A conversation in ``state`` for someone at N7 6AA who chose morning and evening."""
    base = Conversation(address, state, postcode="N7 6AA", location=N7)
    if state in (State.OFFER, State.ASK_CONSENT, State.DONE):
        base = base.evolve(shifts=("morning", "evening"))
    return base.evolve(**kw)


def offered(world: MemoryWorld, address: str = TG) -> Conversation:
    """A conversation with a real ranked offer on the table."""
    return handle(at(State.ASK_SHIFTS, address), msg("1 and 3", address), world).conv


# --- first contact -----------------------------------------------------------------


@pytest.mark.parametrize(
    "address, text, id_kind",
    [
        ("telegram:42", "hi", "Telegram chat ID and first name"),
        ("telegram:42", "/start", "Telegram chat ID and first name"),
        ("whatsapp:+447700900123", "Hello there", "WhatsApp number and first name"),
        ("sms:+447700900123", "N7 6AA", "phone number"),
    ],
)
def test_first_contact_welcomes_with_privacy_then_asks_location(address, text, id_kind):
    world = MemoryWorld()
    turn = handle(None, msg(text, address), world)
    assert turn.conv.state is State.ASK_LOCATION
    (welcome,) = turn.replies  # one message: the welcome, then the question
    hello, question = welcome.text.rsplit("\n\n", 1)
    assert hello.startswith("Hi! I'm the polling-day volunteer bot for Test campaign.")
    assert f"we keep your {id_kind}," in hello
    assert "delete them 30 days after it" in hello and "DELETE" in hello
    assert question.startswith("Where are you?")
    assert welcome.request_location  # on every channel: one without the button leaves it out
    assert address in world.seen


@pytest.mark.parametrize(
    "text, credited",
    [
        ("/start CODE0001", True),
        ("/start code0001", True),  # codes are case-insensitive
        ("Hi! I'd like to help on polling day. (ref CODE0001)", True),
        ("ref CODE0001", True),  # a text, as the share message tells people to send
        ("REF code0001", True),
        ("/start NOSUCHCODE", False),
        ("hi", False),
    ],
)
def test_referral_code_credits_the_sharer_once(text, credited):
    world = MemoryWorld()
    world.codes["CODE0001"] = "sms:+447700900999"
    turn = handle(None, msg(text), world)
    to_sharer = [r for r in turn.replies if r.address == "sms:+447700900999"]
    if credited:
        assert [r.text for r in to_sharer] == [
            "Someone just joined from your link: that's 1 so far. Thank you!"
        ]
        # The same newcomer again (say after DELETE) is not credited twice.
        again = handle(None, msg(text), world)
        assert [r for r in again.replies if r.address != TG] == []
        assert world.referrals == {"sms:+447700900999": 1}
    else:
        assert to_sharer == [] and world.referrals == {}


def test_no_self_referral():
    world = MemoryWorld()
    world.codes["CODE0001"] = TG
    turn = handle(None, msg("/start CODE0001"), world)
    assert all(r.address == TG for r in turn.replies) and world.referrals == {}


def test_existing_supporter_following_a_link_is_not_credited():
    world = MemoryWorld()
    world.codes["CODE0001"] = "telegram:7"
    turn = handle(at(State.ASK_SHIFTS), msg("/start CODE0001"), world)
    assert world.referrals == {} and all(r.address == TG for r in turn.replies)


# --- messages per journey ----------------------------------------------------------------

JOURNEY = ["hi", "N7 6AA", "1", "yes", "yes"]


@pytest.mark.parametrize(
    "address", ["telegram:42", "whatsapp:+447700900123", "sms:+447700900123", "console:local"]
)
def test_a_whole_journey_costs_six_messages_on_every_channel(address):
    """Every platform limits messages, not words: a turn's replies go as one message, but
    for the share message, which must be forwardable on its own."""
    world, conv, per_turn, texts = MemoryWorld(), None, [], []
    for text in JOURNEY:
        turn = handle(conv, msg(text, address), world)
        conv = turn.conv
        per_turn.append(len(turn.replies))
        texts += [r.text for r in turn.replies]
    assert per_turn == [1, 1, 1, 1, 2] and sum(per_turn) == 6
    assert conv.state is State.DONE
    # Nothing lost in merging: every part of the journey is there, in order.
    parts = ["Hi! I'm the polling-day", "Your data:", "Where are you?", "Thanks: N7 6AA",
             "When can you help", "Your nearest committee room", "You're confirmed:",
             "One more thing:", "Thanks, we'll only", "Could you bring a friend?",
             "I'm helping Test campaign"]  # fmt: skip
    joined = "\n\n".join(texts)
    at_ = [joined.index(part) for part in parts]
    assert at_ == sorted(at_)
    assert all(len(t) <= 1600 for t in texts)  # each fits one Twilio message
    assert texts[-1].startswith("I'm helping Test campaign")  # the share message, alone


# --- location ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, postcode, understood",
    [
        ("N7 6AA", "N7 6AA", "N7 6AA, in Islington North"),
        ("n76aa", "N7 6AA", "N7 6AA, in Islington North"),
        ("I'm at n7 6aa thanks", "N7 6AA", "N7 6AA, in Islington North"),
        ("  sw1a   1aa ", "SW1A 1AA", "SW1A 1AA, in Cities of London and Westminster"),
        ("cf10 1ep", "CF10 1EP", "CF10 1EP"),  # a seat the world does not know: the postcode
    ],
)
def test_postcode_in_any_form_moves_to_shifts(text, postcode, understood):
    turn = handle(at(State.ASK_LOCATION, postcode=None, location=None), msg(text), MemoryWorld())
    assert turn.conv.state is State.ASK_SHIFTS
    assert turn.conv.postcode == postcode
    assert turn.conv.location == POSTCODES[postcode]
    (reply,) = turn.replies
    assert reply.text.startswith(  # it says back what it understood
        f"Thanks: {understood}.\n\nWhen can you help on polling day, Thursday 3 May?"
    )
    assert "1. Morning 07:00–12:00\n2. Afternoon 12:00–17:00\n3. Evening 17:00–22:00" in reply.text
    assert [b.payload for b in reply.buttons] == [
        "shift:morning",
        "shift:afternoon",
        "shift:evening",
        "shift:all",
    ]


@pytest.mark.parametrize(
    "text, first_line",
    [
        (
            "N7",
            "N7 covers a wide area, and seats change street by street. Please send your "
            "full postcode, like N7 0AA.",
        ),  # a real postcode, not a made-up N7 1AA
        ("sw1a", "SW1A covers a wide area"),
        ("N7 9ZZ", "I can't find the postcode N7 9ZZ."),
        (
            "BT1 1AA",
            "BT1 1AA is in Northern Ireland, and this campaign has no committee rooms "
            "there. If you'll be in Great Britain on polling day, send a postcode there.",
        ),
        ("N7 6A", '"N7 6A" doesn\'t look like a UK postcode.'),
        ("hello", "I need your postcode to find your nearest committee room."),
        ("", "I need your postcode"),
    ],
)
def test_bad_postcodes_get_their_own_reply_and_the_question_again(text, first_line):
    conv = at(State.ASK_LOCATION, postcode=None, location=None)
    turn = handle(conv, msg(text), MemoryWorld())
    assert turn.conv == conv
    (reply,) = turn.replies
    assert reply.text.startswith(first_line)
    assert reply.text.endswith("or tap the button below to share your location.")
    assert reply.request_location


@pytest.mark.parametrize(
    "lat, lon, first_line",
    [
        (200, 500, "That location doesn't look right."),
        (float("nan"), 0, "That location doesn't look right."),
        (48.8566, 2.3522, "That pin is outside the UK."),  # Paris
        (40.7, -74.0, "That pin is outside the UK."),
    ],
)
def test_pins_that_are_nowhere_or_abroad_get_a_clear_reply(lat, lon, first_line):
    conv = at(State.ASK_LOCATION, postcode=None, location=None)
    turn = handle(conv, msg(location=Location(lat, lon)), MemoryWorld())
    assert turn.conv == conv  # still asking where they are
    (reply,) = turn.replies
    assert reply.text.startswith(first_line) and "Where are you?" in reply.text


@pytest.mark.parametrize(
    "lat, lon", [(60.15, -1.15), (54.6, -5.93), (49.91, -6.31), (52.63, 1.29)]
)  # Lerwick, Belfast, Scilly, Norwich: all in the UK
def test_pins_anywhere_in_the_uk_are_taken(lat, lon):
    conv = at(State.ASK_LOCATION, postcode=None, location=None)
    turn = handle(conv, msg(location=Location(lat, lon)), MemoryWorld())
    assert turn.conv.state is State.ASK_SHIFTS
    assert turn.replies[0].text.startswith("Thanks: I've got your location.")


def test_location_pin_is_rounded_to_about_100_m():
    conv = at(State.ASK_LOCATION, postcode=None, location=None)
    turn = handle(conv, msg(location=Location(51.554123, -0.109876)), MemoryWorld())
    assert turn.conv.state is State.ASK_SHIFTS
    assert turn.conv.location == Location(51.554, -0.11) and turn.conv.postcode is None


def test_sticker_at_location_step():
    conv = at(State.ASK_LOCATION, postcode=None, location=None)
    (reply,) = handle(conv, msg(unsupported=True), MemoryWorld()).replies
    assert reply.text.startswith("Sorry, I can only read text messages here.\n\nWhere are you?")


def test_geocoder_down_says_so_and_keeps_state():
    conv = at(State.ASK_LOCATION, postcode=None, location=None)
    turn = handle(conv, msg("N7 6AA"), MemoryWorld(geocoder_down=True))
    assert turn.conv == conv
    assert turn.replies[0].text == (
        "Sorry, I can't look up postcodes right now. Please try again in a few minutes."
    )


# --- availability and the offer ----------------------------------------------------


@pytest.mark.parametrize(
    "text, payload, shifts",
    [
        ("1", None, ("morning",)),
        ("1 and 3", None, ("morning", "evening")),
        ("3, 1", None, ("morning", "evening")),
        ("morning, evening", None, ("morning", "evening")),
        ("Morning and afternoon please", None, ("morning", "afternoon")),
        ("all day", None, ("morning", "afternoon", "evening")),
        ("ALL", None, ("morning", "afternoon", "evening")),
        ("", "shift:afternoon", ("afternoon",)),
        ("", "shift:all", ("morning", "afternoon", "evening")),
    ],
)
def test_shifts_in_any_form_lead_to_an_offer(text, payload, shifts):
    turn = handle(at(State.ASK_SHIFTS), msg(text, payload=payload), MemoryWorld())
    assert turn.conv.state is State.OFFER
    assert turn.conv.shifts == shifts
    assert turn.conv.offer.shifts == shifts


@pytest.mark.parametrize(
    "text, payload", [("banana", None), ("7", None), ("", "shift:night"), ("", "shift:")]
)
def test_unclear_shifts_ask_again(text, payload):
    turn = handle(at(State.ASK_SHIFTS), msg(text, payload=payload), MemoryWorld())
    assert turn.conv.state is State.ASK_SHIFTS
    assert turn.replies[0].text.startswith("Sorry, I didn't catch which times you can do.")


def test_offer_text_is_exact():
    turn = handle(at(State.ASK_SHIFTS), msg("1 and 3"), MemoryWorld())
    (reply,) = turn.replies
    assert reply.text == (
        "Your nearest committee room in a target seat that needs people then:\n\n"
        "Room B\n1 B Street, N1 1AA\nWhy here: Seat Two is a target seat and this room "
        "needs more people (5 for Morning, 5 for Evening), 1.3 km (0.8 miles) from you.\n"
        "Morning 07:00–12:00\nEvening 17:00–22:00\n"
        "Map: https://www.google.com/maps/search/?api=1&query=51.56500%2C-0.11500\n\n"
        "Reply YES to confirm, or NEXT for another option."
    )
    assert [b.payload for b in reply.buttons] == ["yes", "next"]


def test_an_offer_and_its_confirmation_carry_the_rooms_facts_and_why_this_room():
    world = MemoryWorld()
    b = world.directory.rooms["B"]
    facts = replace(b, step_free=False, bring="Comfy shoes, a brolly", parking="None nearby",
                    notes="Ring the bell <twice>")  # fmt: skip
    world.directory = Directory(
        [*world.directory.rooms.values(), facts][1:], world.directory.targets
    )
    world.taken[("B", "morning")] = 4  # one place left
    turn = handle(at(State.ASK_SHIFTS), msg("1"), world)
    (offer,) = turn.replies
    assert ("Why here: Seat Two is a target seat and this room needs 1 more person for "
            "Morning, 1.3 km (0.8 miles) from you.\nMorning 07:00–12:00\n"
            "No step-free access\nBring: Comfy shoes, a brolly\nParking: None nearby\n"
            "Note: Ring the bell <twice>\nMap: ") in offer.text  # fmt: skip
    confirmed = handle(turn.conv, msg("yes"), world).replies[0].text
    assert (
        "We'll remind you before your shift.\n\nNo step-free access\n"
        "Bring: Comfy shoes, a brolly\nParking: None nearby\nNote: Ring the bell <twice>"
    ) in confirmed
    stored = Conversation.from_json(TG, turn.conv.to_json())  # places left are kept
    assert stored.offers == turn.conv.offers and stored.offers[0].left == (1,)


def test_an_offer_stored_before_places_left_were_kept_still_reads():
    old = '{"s": "offer", "o": [["B", ["morning"], 1.3]], "i": 0}'
    conv = Conversation.from_json(TG, old)
    assert conv.offers[0].left == () and conv.offers[0].km == 1.3


def test_ranking_priority_breaks_near_ties_and_safe_seats_are_never_offered():
    conv = offered(MemoryWorld())
    # B (priority 1, 1.3 km) beats A (priority 2, 0.7 km): within the 1 km tie window.
    # S (0.05 km) is in a safe seat and never appears; C is 8 km away.
    assert [o.room_id for o in conv.offers] == ["B", "A", "C", "W"]


def test_full_shift_is_left_out_of_the_offer():
    world = MemoryWorld(taken={("B", "morning"): 5})
    conv = offered(world)
    assert conv.offers[0].room_id == "B" and conv.offers[0].shifts == ("evening",)


def test_far_away_supporter_is_told_plainly():
    conv = at(State.ASK_SHIFTS, location=POSTCODES["EH1 1YZ"])
    (reply,) = handle(conv, msg("1"), MemoryWorld()).replies
    assert reply.text.startswith(
        "There's no committee room in a target seat within 30 km of you that needs people then."
    )


def test_every_room_full_asks_for_other_times_or_standby():
    world = MemoryWorld()
    world.taken = {(r, "morning"): 5 for r in world.directory.rooms}
    turn = handle(at(State.ASK_SHIFTS), msg("1"), world)
    assert turn.conv.state is State.ASK_SHIFTS
    (reply,) = turn.replies
    assert reply.text.startswith(
        "Every committee room in a target seat near you is already full for those times."
        " Thank you for offering! Reply STANDBY to wait for a place at Room A, Room B and"
        " Room C: if one comes up, you'll be the first we ask."
    )
    assert [b.payload for b in reply.buttons][:2] == ["standby", "shift:morning"]
    # With no target room running those times at all, there is nothing to wait for.
    world = MemoryWorld(directory=Directory([], {}))
    turn = handle(at(State.ASK_SHIFTS), msg("1"), world)
    assert turn.replies[0].text.startswith("Every committee room in a target seat is already full")
    assert "STANDBY" not in turn.replies[0].text


@pytest.mark.parametrize("text, payload", [("NEXT", None), ("2", None), ("no", None), ("", "next")])
def test_next_moves_through_offers_and_wraps(text, payload):
    world = MemoryWorld()
    conv = offered(world)
    turn = handle(conv, msg(text, payload=payload), world)
    assert turn.conv.offer_index == 1
    assert turn.replies[0].text.startswith("Another option:\n\nRoom A")
    last = conv.evolve(offer_index=len(conv.offers) - 1)
    wrapped = handle(last, msg(text, payload=payload), world)
    assert wrapped.conv.offer_index == 0
    assert wrapped.replies[0].text.startswith("That's every room I have for those times.")


@pytest.mark.parametrize("text, payload", [("yes", None), ("YES!", None), ("1", None), ("", "yes")])
def test_yes_reserves_and_asks_consent_once(text, payload):
    world = MemoryWorld()
    turn = handle(offered(world), msg(text, payload=payload), world)
    assert turn.conv.state is State.ASK_CONSENT
    assert turn.conv.pledge == Pledge("B", ("morning", "evening"))
    assert world.taken == {("B", "morning"): 1, ("B", "evening"): 1}
    (reply,) = turn.replies  # the confirmation, then the question under its buttons
    confirmed, question = reply.text.split("\n\n")
    assert [b.payload for b in reply.buttons] == ["consent:yes", "consent:no"]
    assert confirmed == (
        "You're confirmed: Room B, 1 B Street, N1 1AA (Seat Two), Morning 07:00–12:00 and "
        "Evening 17:00–22:00, Thursday 3 May. Thank you! We'll remind you before your shift."
    )
    assert question.endswith("Reply YES or NO.")


def test_losing_the_race_for_the_last_place_offers_the_next_room():
    world = MemoryWorld()
    conv = offered(world)
    world.taken[("B", "morning")] = 5  # someone else took the last morning place meanwhile
    turn = handle(conv, msg("yes"), world)
    assert turn.conv.state is State.OFFER and turn.conv.pledge is None
    assert turn.replies[0].text.startswith(
        "Sorry, Room B has just filled up for that time. Here's the next option:"
    )
    assert turn.conv.offer.room_id == "B" and turn.conv.offer.shifts == ("evening",)


def test_unclear_answer_to_offer():
    world = MemoryWorld()
    turn = handle(offered(world), msg("maybe"), world)
    assert turn.replies[0].text == (
        "Reply YES to confirm Room B, NEXT for another option, TIMES if another time would "
        "suit you, or CHANGE to start again."  # every way on is named
    )


def test_yes_after_change_skips_consent_already_given():
    world = MemoryWorld()
    consent = Consent(True, 1869732000, "telegram", "updates-v1")
    conv = offered(world).evolve(consent=consent)
    turn = handle(conv, msg("yes"), world)
    assert turn.conv.state is State.DONE and len(turn.replies) == 1


# --- consent and share -------------------------------------------------------------


@pytest.mark.parametrize(
    "text, payload, granted",
    [("yes", None, True), ("Y", None, True), ("", "consent:yes", True), ("no", None, False),
     ("2", None, False), ("", "consent:no", False)],
)  # fmt: skip
def test_consent_is_recorded_then_share_message_sent(text, payload, granted):
    world = MemoryWorld()
    conv = at(State.ASK_CONSENT, pledge=Pledge("A", ("morning",)))
    turn = handle(conv, msg(text, payload=payload), world)
    assert turn.conv.state is State.DONE
    when = int(world.clock.timestamp())
    assert turn.conv.consent == Consent(granted, when, "telegram", "updates-v1")
    first, second = turn.replies
    thanks, intro = first.text.split("\n\n")
    share = second.text
    assert second.alone and not first.alone  # the share message goes on its own, to forward
    assert thanks.startswith("Thanks" if granted else "No problem")
    assert intro.startswith("Could you bring a friend?")
    assert share == (
        "I'm helping Test campaign get out the vote in Seat One on polling day, Thursday 3 May.\n"
        "Find the nearest committee room in a close seat that needs you:\n"
        "Telegram https://t.me/pollday_bot?start=CODE0001\n"
        "WhatsApp https://wa.me/447700900000?text=Hi%21%20I%27d%20like%20to%20help%20on%20"
        "polling%20day.%20%28ref%20CODE0001%29\n"
        "Promoted by T. Agent, 1 Test St."  # the imprint travels with every forward
    )
    assert world.codes == {"CODE0001": TG}


def test_unclear_consent_asks_again():
    conv = at(State.ASK_CONSENT, pledge=Pledge("A", ("morning",)))
    turn = handle(conv, msg("what?"), MemoryWorld())
    assert turn.conv == conv
    assert turn.replies[0].text.startswith("Please reply YES or NO")


def test_done_state_shows_status():
    conv = at(State.DONE, pledge=Pledge("A", ("morning",)))
    (reply,) = handle(conv, msg("hello?"), MemoryWorld()).replies
    assert reply.text.startswith(
        "You're down for Room A, 1 A Street, N1 1AA: Morning 07:00–12:00, Thursday 3 May."
    )


# --- fallbacks, in every state -----------------------------------------------------

EVERY_STATE = [State.ASK_LOCATION, State.ASK_SHIFTS, State.OFFER, State.ASK_CONSENT, State.DONE]
STOPS = ["STOP", "stop", " Stop ", "STOPALL", "Unsubscribe", "CANCEL", "end", "QUIT",
         "stop messaging me", "Please stop texting me!", "/stop", "leave me alone"]  # fmt: skip


@pytest.mark.parametrize("text", STOPS)
@pytest.mark.parametrize("state", EVERY_STATE)
def test_stop_confirms_once_releases_pledge_then_silence(state, text):
    world = MemoryWorld()
    conv = offered(world).evolve(state=state)
    if state in (State.ASK_CONSENT, State.DONE):
        world.reserve(TG, Pledge("B", ("morning",)))
        conv = conv.evolve(pledge=Pledge("B", ("morning",)))
    turn = handle(conv, msg(text), world)
    assert turn.conv.state is State.STOPPED and turn.conv.pledge is None
    (reply,) = turn.replies
    assert reply.text.startswith("Done: you won't get any more messages from us")
    assert world.pledges == {} and set(world.taken.values()) <= {0}
    assert TG in world.stopped
    for later in ("hello", "N7 6AA", "STOP", "help"):
        assert handle(turn.conv, msg(later), world).replies == []
    back = handle(turn.conv, msg("START"), world)
    assert back.conv.state is State.ASK_LOCATION and TG not in world.stopped
    assert back.replies[0].text.startswith("Welcome back!")


@pytest.mark.parametrize(
    "text", ["I'm at the bus stop, N7 6AA", "stop by the shop", "end of the road", "weekend"]
)
def test_stop_inside_other_text_is_not_a_stop(text):
    turn = handle(at(State.ASK_LOCATION, postcode=None, location=None), msg(text), MemoryWorld())
    assert turn.conv.state is not State.STOPPED


def test_stop_from_a_stranger_is_confirmed_and_remembered():
    world = MemoryWorld()
    turn = handle(None, msg("STOP"), world)
    assert turn.conv is None and TG in world.stopped
    assert turn.replies[0].text.startswith("Done: you won't get any more messages")
    assert handle(None, msg("hi"), world).replies == []
    assert handle(None, msg("START"), world).conv.state is State.ASK_LOCATION


@pytest.mark.parametrize("state", EVERY_STATE)
def test_help_explains_and_keeps_state(state):
    conv = at(state, pledge=Pledge("A", ("morning",)))
    turn = handle(conv, msg("HELP"), MemoryWorld())
    assert turn.conv == conv
    assert "To reach the organisers: volunteers@example.org" in turn.replies[0].text


@pytest.mark.parametrize("state", EVERY_STATE)
def test_change_releases_pledge_and_starts_over(state):
    world = MemoryWorld()
    world.reserve(TG, Pledge("A", ("morning",)))
    turn = handle(at(state, pledge=Pledge("A", ("morning",))), msg("change"), world)
    assert turn.conv.state is State.ASK_LOCATION
    assert turn.conv.pledge is None and turn.conv.location is None
    assert world.pledges == {} and world.taken == {("A", "morning"): 0}
    assert turn.replies[0].text.startswith("OK, let's start again.\n\nWhere are you?")


@pytest.mark.parametrize("state", [*EVERY_STATE, State.STOPPED])
def test_delete_erases_and_confirms(state):
    world = MemoryWorld()
    world.reserve(TG, Pledge("A", ("morning",)))
    turn = handle(at(state, pledge=Pledge("A", ("morning",))), msg("DELETE"), world)
    assert turn.conv is None and world.erased == [TG] and world.pledges == {}
    assert turn.replies[0].text.startswith("Done: we've erased your details.")


def test_start_mid_journey_with_pledge_shows_status():
    conv = at(State.DONE, pledge=Pledge("A", ("morning",)))
    turn = handle(conv, msg("/start"), MemoryWorld())
    assert turn.conv.state is State.DONE
    assert turn.replies[0].text.startswith("You're down for Room A")


@pytest.mark.parametrize(
    "shifts, pledge",
    [(("morning",), ("morning",)), (("morning", "evening"), ("morning",)), ((), ("morning",)),
     (("evening",), None), ((), None)],
)  # fmt: skip
def test_conversation_round_trips_through_json(shifts, pledge):
    world = MemoryWorld()
    conv = offered(world).evolve(
        shifts=shifts,
        pledge=Pledge("A", pledge) if pledge else None,
        consent=Consent(True, 1, "telegram", "v"),
        code="ABC",
        last_id="telegram:1",
    )
    assert Conversation.from_json(conv.address, conv.to_json()) == conv
    assert replace(conv, offers=()).to_json().count("offers") == 0
    # a pledge's shifts are not stored a second time
    assert ('"sh"' in conv.to_json()) == (shifts != (pledge or ()))


# --- organisers and system events --------------------------------------------------

ORG = "telegram:7"


@pytest.mark.parametrize(
    "text", ["/broadcast Polls close at 10pm!", "BROADCAST Polls close at 10pm!",
             "broadcast   Polls close at 10pm!"],
)  # fmt: skip
def test_organiser_broadcast_needs_yes(text):
    world = MemoryWorld(audience=42)
    turn = handle(None, msg(text, ORG), world)
    assert turn.conv.draft == "Polls close at 10pm!" and world.broadcasts == []
    (preview,) = turn.replies
    assert preview.text == (
        "Broadcast preview: this would go to 42 supporters who agreed to updates.\n\n"
        "Polls close at 10pm!\n\nPromoted by T. Agent, 1 Test St.\n\n"
        "Reply YES to send it, or anything else to cancel."
    )
    sent = handle(turn.conv, msg("YES", ORG), world)
    assert world.broadcasts == ["Polls close at 10pm!"] and sent.conv.draft is None
    assert sent.replies[0].text == "Broadcast #1 is on its way to 42 supporters."


def test_organiser_can_drop_a_draft_and_carry_on():
    world = MemoryWorld(audience=3)
    conv = at(State.ASK_LOCATION, ORG, postcode=None, location=None, draft="Hello all")
    turn = handle(conv, msg("N7 6AA", ORG), world)
    assert world.broadcasts == [] and turn.conv.draft is None
    cancelled, understood = turn.replies[0].text.split("\n\n", 1)  # one message
    assert cancelled == "Not sent: the broadcast was cancelled."
    assert understood.startswith("Thanks: N7 6AA, in Islington North.")  # the message counts
    assert turn.conv.state is State.ASK_SHIFTS


def test_anyone_else_saying_broadcast_gets_the_normal_bot():
    world = MemoryWorld(audience=3)
    turn = handle(at(State.ASK_LOCATION, postcode=None, location=None), msg("/broadcast hi"), world)
    assert turn.conv.draft is None and world.broadcasts == []
    assert turn.replies[0].text.startswith("I need your postcode")


def test_room_closed_event_releases_and_offers_another_room():
    world = MemoryWorld()
    world.reserve(TG, Pledge("B", ("morning",)))
    conv = at(State.DONE, pledge=Pledge("B", ("morning",)), shifts=("morning",))
    d = world.directory  # the organiser's import removed room B
    world.directory = Directory([r for r in d.rooms.values() if r.id != "B"], d.targets)
    event = Inbound(TG, text="Room B", payload="B", event="room_closed")
    turn = handle(conv, event, world)
    assert world.pledges == {} and turn.conv.pledge is None
    assert turn.conv.state is State.OFFER and turn.conv.offer.room_id == "A"
    assert turn.replies[0].text.startswith(
        "Sorry, Room B is no longer running as a committee room on polling day. Here's the "
        "nearest room that needs people then:\n\nRoom A\n"
    )


@pytest.mark.parametrize(
    "conv",
    [
        None,
        at(State.DONE, pledge=Pledge("A", ("morning",))),  # pledged elsewhere: not affected
    ],
)
def test_room_closed_event_for_someone_not_there_does_nothing(conv):
    turn = handle(conv, Inbound(TG, text="Room B", payload="B", event="room_closed"), MemoryWorld())
    assert turn.replies == [] and turn.conv == conv


def test_room_closed_for_a_stopped_person_only_releases():
    world = MemoryWorld()
    world.reserve(TG, Pledge("B", ("morning",)))
    conv = at(State.STOPPED, pledge=Pledge("B", ("morning",)))
    turn = handle(conv, Inbound(TG, text="Room B", payload="B", event="room_closed"), world)
    assert turn.replies == [] and world.pledges == {} and turn.conv.state is State.STOPPED


def test_done_without_a_room_starts_again():
    conv = at(State.DONE, pledge=Pledge("GONE", ("morning",)))
    turn = handle(conv, msg("hello"), MemoryWorld())
    assert turn.conv.state is State.ASK_LOCATION and turn.conv.pledge is None
    assert turn.replies[0].text.startswith("Where are you?")


@pytest.mark.parametrize("text", ["yes", "what?", "next"])
def test_an_offered_room_removed_by_an_import_is_ranked_afresh(text):
    world = MemoryWorld()
    conv = offered(world)
    d = world.directory
    world.directory = Directory([r for r in d.rooms.values() if r.id != "B"], d.targets)
    turn = handle(conv, msg(text), world)
    assert turn.conv.state is State.OFFER and world.pledges == {}
    assert [o.room_id for o in turn.conv.offers] == ["A", "C", "W"]
    assert turn.replies[0].text.startswith("Your nearest committee room in a target seat")


def test_organiser_broadcast_too_long_is_refused():
    world = MemoryWorld(audience=3)
    turn = handle(None, msg("/broadcast " + "x" * 1001, ORG), world)
    assert turn.conv.draft is None and world.broadcasts == []
    assert turn.replies[0].text == (
        "Not sent: that is 1001 characters, and a broadcast can be at most 1000. Please shorten it."
    )


@pytest.mark.parametrize(
    "text, audience, reply",
    [
        ("/broadcast \u200b\u200b\u2060", 3, "Not sent: there is nothing visible"),
        ("/broadcast Polls close at 10pm!", 0, "Not sent: nobody has agreed to polling-day"),
    ],
)
def test_organiser_broadcast_of_nothing_or_to_nobody_is_refused(text, audience, reply):
    world = MemoryWorld(audience=audience)
    turn = handle(None, msg(text, ORG), world)
    (answer,) = turn.replies
    assert answer.text.startswith(reply) and turn.conv.draft is None
    assert handle(turn.conv, msg("YES", ORG), world) and world.broadcasts == []


def reminder(room: str = "B", shifts: tuple[str, ...] = ("morning",), name: str = "m60") -> Inbound:
    about = {"room": room, "shifts": list(shifts), "name": name, "about": ["morning"]}
    return Inbound(TG, event="reminder", payload=json.dumps(about), external_id="remind-1")


PLEDGED_B = Pledge("B", ("morning",))


@pytest.mark.parametrize(
    "conv, event, stopped, sent",
    [
        (at(State.DONE, pledge=PLEDGED_B), reminder(), False, True),
        (at(State.ASK_CONSENT, pledge=PLEDGED_B), reminder(), False, True),
        # CHANGE released the pledge, or a new one was made: the old reminder is void.
        (at(State.ASK_LOCATION, pledge=None), reminder(), False, False),
        (at(State.DONE, pledge=Pledge("A", ("morning",))), reminder(), False, False),
        (at(State.DONE, pledge=Pledge("B", ("morning", "evening"))), reminder(), False, False),
        (at(State.STOPPED, pledge=PLEDGED_B), reminder(), False, False),
        # STOP arrived (recorded at the webhook) but waits behind the reminder in the inbox.
        (at(State.DONE, pledge=PLEDGED_B), reminder(), True, False),
        (at(State.DONE, pledge=Pledge("gone", ("morning",))), reminder("gone"), False, False),
        (None, reminder(), False, False),  # erased
    ],
)
def test_a_reminder_goes_only_while_its_pledge_stands(conv, event, stopped, sent):
    world = MemoryWorld(stopped={TG} if stopped else set())
    turn = handle(conv, event, world)
    assert turn.conv == conv and turn.effects == []
    if sent:
        (text,) = [r.text for r in turn.replies]
        assert text.startswith("Reminder: you're helping at Room B")
        assert "Morning 07:00–12:00" in text
    else:
        assert turn.replies == []


def test_the_evening_before_the_reminder_asks_still_coming_and_on_the_day_check_in():
    world, conv = MemoryWorld(), at(State.DONE, pledge=PLEDGED_B)
    (evening,) = handle(conv, reminder(name="d1-1800"), world).replies
    assert evening.text.startswith("Reminder: you're helping at Room B")
    assert evening.text.endswith(
        "\n\nStill coming? Reply YES to keep your place, or CAN'T if you can no longer make "
        "it, so that someone else can have it."
    )
    assert [b.payload for b in evening.buttons] == ["coming", "cant"]
    (on_the_day,) = handle(conv, reminder(name="m60"), world).replies
    assert "Still coming?" not in on_the_day.text
    assert on_the_day.text.endswith("\n\nWhen you get there, reply HERE to check in.")
    assert [(b.label, b.payload) for b in on_the_day.buttons] == [("📍 I'm here", "here")]


@pytest.mark.parametrize(
    "said, payload, outcome",
    [
        ("can't make it", "", "freed"),
        ("Sorry, I can't come tomorrow after all", "", "freed"),
        ("CANT", "", "freed"),
        ("something came up, sorry", "", "freed"),
        ("", "cant", "freed"),  # the button
        ("no", "", "asked"),  # a bare no might answer something else: asked first
        ("yes", "", "kept"),
        ("still coming!", "", "kept"),
        ("", "coming", "kept"),
        ("can't wait!", "", "kept"),
        ("I'm no longer able to come, sorry", "", "freed"),
        ("I can't find the room", "", "status"),  # not about coming at all
        ("unable to find parking", "", "status"),
        ("is the room no longer open?", "", "status"),
        ("what time again?", "", "status"),
    ],
)  # fmt: skip
def test_still_coming_yes_keeps_the_place_and_cant_frees_it(said, payload, outcome):
    world = MemoryWorld(taken={("B", "morning"): 1}, pledges={TG: PLEDGED_B})
    conv = at(State.DONE, pledge=PLEDGED_B)
    turn = handle(conv, msg(said, payload=payload or None), world)
    (reply,) = [r.text for r in turn.replies]
    if outcome == "freed":
        assert turn.conv.state is State.ASK_SHIFTS and turn.conv.pledge is None
        assert turn.effects == [Release(TG)] and world.taken[("B", "morning")] == 0
        assert reply.startswith("Thanks for letting us know: your place at Room B is now free")
        assert "\n1. Morning 07:00–12:00\n" in reply  # the times, asked again
        again = handle(turn.conv, msg("3"), world)  # another time: an offer again
        assert again.conv.state is State.OFFER
        return
    assert turn.conv.pledge == PLEDGED_B and turn.effects == []
    if outcome == "asked":
        assert reply.startswith("Do you mean you can no longer come to Room B?")
    elif outcome == "kept":
        assert reply == "Brilliant, thank you! See you at Room B: Morning 07:00–12:00."
    else:
        assert reply.startswith("You're down for Room B")


@pytest.mark.parametrize(
    "before, after",
    [
        # STOP withdraws a yes to updates (the ledger gets the withdrawal)...
        (Consent(True, 100, "telegram", "updates-v1"), "withdrawn"),
        # ...and leaves a no, or no answer, as it was.
        (Consent(False, 100, "telegram", "updates-v1"), "unchanged"),
        (None, "unchanged"),
    ],
)
def test_stop_withdraws_consent_to_updates_and_start_asks_again(before, after):
    world = MemoryWorld()
    conv = at(State.DONE, consent=before)
    stopped = handle(conv, msg("STOP"), world).conv
    if after == "withdrawn":
        assert stopped.consent == Consent(False, stopped.consent.at, "telegram", "stop")
    else:
        assert stopped.consent == before
    resumed = handle(stopped, msg("START"), world).conv
    # Asked about updates again after the next pledge, if STOP withdrew a yes.
    assert resumed.consent == (None if after == "withdrawn" else before)


@pytest.mark.parametrize(
    "km, text",
    [(0.0, "10 m"), (0.004, "10 m"), (0.35, "350 m"), (0.994, "990 m"),
     (0.996, "1.0 km (0.6 miles)"), (2.4, "2.4 km (1.5 miles)")],
)  # fmt: skip
def test_distances_read_as_people_say_them(km, text):
    from handlers.say import distance

    assert distance(km) == text


def test_the_share_message_has_a_way_in_for_each_channel_the_campaign_has():
    from messages.share import share_message

    values = dict(campaign="Labour", constituency="Hendon", polling_day="Thursday 3 May")
    only_sms = share_message("CODE0001", sms="07700 900000", imprint="Promoted by A.", **values)
    assert only_sms == (
        "I'm helping Labour get out the vote in Hendon on polling day, Thursday 3 May.\n"
        "Find the nearest committee room in a close seat that needs you:\n"
        "No smartphone? Text ref CODE0001 to 07700 900000\n"
        "Promoted by A."
    )
    tg = share_message("CODE0001", telegram="bot", imprint="", **values)
    assert tg.endswith("needs you:\nTelegram https://t.me/bot?start=CODE0001")


def test_an_hour_that_could_be_morning_or_evening_gets_a_question_back():
    turn = handle(at(State.ASK_SHIFTS), msg("from 7"), MemoryWorld())
    assert turn.conv.state is State.ASK_SHIFTS
    (reply,) = turn.replies
    assert reply.text.startswith("Is that 7 in the morning or 7 in the evening?\n\nWhen can")
    assert [b.payload for b in reply.buttons][-1] == "shift:all"  # the choices, as buttons


@pytest.mark.parametrize(
    "text, intro",
    [
        ("too far", "Sorry it's a trek. That's the nearest room that needs people at those "),
        ("can't make it then", "No problem. Which times could you do instead?"),
    ],
)
def test_too_far_or_cant_leads_to_other_times(text, intro):
    world = MemoryWorld()
    turn = handle(offered(world), msg(text), world)
    assert turn.conv.state is State.ASK_SHIFTS and turn.conv.offers == ()
    assert turn.replies[0].text.startswith(intro)
    assert "When can you help on polling day" in turn.replies[0].text
    again = handle(turn.conv, msg("afternoon"), world)  # and on to an offer for those
    assert again.conv.state is State.OFFER and again.conv.shifts == ("afternoon",)


def test_change_on_an_offer_starts_again():
    world = MemoryWorld()
    turn = handle(offered(world), msg("start again"), world)
    assert turn.conv.state is State.ASK_LOCATION and turn.conv.postcode is None


def test_a_northern_ireland_postcode_with_rooms_there_asks_for_a_pin():
    world = MemoryWorld()
    belfast = replace(
        next(iter(world.directory.rooms.values())), id="bel", constituency="N05000001"
    )
    world.directory = Directory([*world.directory.rooms.values(), belfast], world.directory.targets)
    conv = at(State.ASK_LOCATION, postcode=None, location=None)
    (reply,) = handle(conv, msg("BT1 1AA"), world).replies
    assert reply.text.startswith("I can't look up Northern Ireland postcodes such as BT1 1AA here.")
