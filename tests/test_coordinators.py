"""Room coordinators: the secret link (bot/store/coordinators.py), what the room's page does
(bot/coordinating.py) on a real Redis, the page itself (bot/admin/room_page.py) through
Flask, and the relayed message, replies and "would you move?" in the state tables
(handlers/coordinator.py on the memory world)."""

from __future__ import annotations

import json
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from bot import coordinating
from bot.app import create_app
from bot.coordinating import Refused
from bot.model.message import Inbound
from bot.model.person import Consent, Conversation, Pledge, State
from bot.model.turn import RelayReply
from bot.rooms import Room
from bot.store import Store
from handlers.coordinator import MOVE_ASK, ROOM_MESSAGE
from tests.test_admin import AUTH, ROOMS, TARGETS, campaign, settings  # noqa: F401
from tests.world import POSTCODES, MemoryWorld, handle

DAY = datetime(2029, 5, 3, 16, 30, tzinfo=UTC)  # polling day, 17:30 BST: the evening is on
YES = Consent(True, 1, "telegram", "v1")


def test_a_link_opens_one_room_until_replaced_revoked_or_past_polling_day(r, campaign):  # noqa: F811
    s = Store(r)
    ends = coordinating.link_expiry(campaign)
    ending = datetime.fromtimestamp(ends, campaign.timezone).isoformat()
    assert ending == "2029-05-04T00:00:00+01:00"
    token = s.coordinators.create_link("a", ends)
    assert len(token) >= 32 and s.coordinators.room_of(token) == "a"
    assert token not in str([r.dump(k) for k in r.keys("*")])  # only its SHA-256 is kept
    assert abs(r.ttl(f"pd:roomlink:{coordinating_digest(token)}") - (ends - time.time())) < 5
    newer = s.coordinators.create_link("a", ends)
    assert s.coordinators.room_of(token) is None and s.coordinators.room_of(newer) == "a"
    assert s.coordinators.revoke("a") and s.coordinators.room_of(newer) is None
    assert not s.coordinators.revoke("a")
    soon = s.coordinators.create_link("b", int(time.time()) + 1)
    assert s.coordinators.room_of(soon) == "b"
    time.sleep(1.1)
    assert s.coordinators.room_of(soon) is None
    assert s.coordinators.room_of("") is None and s.coordinators.room_of("x" * 500) is None


def coordinating_digest(token: str) -> str:
    from bot.store.coordinators import digest

    return digest(token)


# --- the page's logic, on a real Redis ---------------------------------------------------


@pytest.fixture
def hall(r, settings):  # noqa: F811
    """Hall B (Hendon; 10 places, 2 in the evening) with Asha (Telegram) and Ben (WhatsApp)
    pledged for the evening, Cy (no name: SMS) for the morning and evening, and Dee at Hall A."""
    app = create_app(settings)
    c = app.test_client()
    assert c.post("/admin/api/targets/import", data=TARGETS, headers=AUTH).status_code == 200
    assert c.post("/admin/api/rooms/import", data=ROOMS, headers=AUTH).status_code == 200
    s = Store(r)
    people = {
        "telegram:1": ("Asha", ("evening",)),
        "whatsapp:+447700900002": ("Ben", ("evening",)),
        "sms:+447700900003": ("", ("morning", "evening")),
        "telegram:4": ("Dee", None),
    }
    for address, (name, shifts) in people.items():
        room, shifts = ("b", shifts) if shifts else ("a", ("evening",))
        pledge = Pledge(room, shifts)
        conv = Conversation(address, State.DONE, location=POSTCODES["N7 6AA"], pledge=pledge,
                            consent=YES, name=name)  # fmt: skip
        s.people.save(conv, new_person=True)
        assert s.places.reserve(address, pledge, [100] * len(shifts))
    # Ben wrote on the day, so WhatsApp's 24-hour window is open for him.
    r.hset("pd:lastin", "whatsapp:+447700900002", f"{DAY.timestamp() - 600:.0f}")
    return app, s


def hall_b(s: Store) -> Room:
    return s.rooms.load().rooms["b"]


def refs(s: Store) -> dict[str, str]:
    return {coordinating.ref_of(s, a): a for a in s.places.roster("b")}


def test_the_page_lists_who_is_expected_by_first_name_with_their_status(hall, campaign):  # noqa: F811
    _, s = hall
    s.arrivals.check_in("telegram:1", "b", ("evening",), DAY.timestamp())
    s.arrivals.mark("whatsapp:+447700900002", "b", ("evening",), "onway", DAY.timestamp())
    evening = {v.id: v for v in coordinating.shifts(s, campaign, hall_b(s))}["evening"]
    assert [(p.name, p.status) for p in evening.people] == [("Asha", "here"), ("Ben", "onway"),
                                                           ("", "")]  # fmt: skip
    assert (evening.places, evening.taken, evening.short, evening.count("here")) == (2, 3, 0, 1)
    morning = {v.id: v for v in coordinating.shifts(s, campaign, hall_b(s))}["morning"]
    assert [p.name for p in morning.people] == [""] and morning.short == 9
    # Someone who moves to another room leaves this one's list.
    assert s.places.reserve("telegram:1", Pledge("a", ("evening",)), [100])
    evening = {v.id: v for v in coordinating.shifts(s, campaign, hall_b(s))}["evening"]
    assert "Asha" in [p.name for p in evening.people]  # checked in here: still shown...
    s.arrivals.forget("telegram:1", [("b", "evening")])  # ...until the move forgets it
    evening = {v.id: v for v in coordinating.shifts(s, campaign, hall_b(s))}["evening"]
    assert [p.name for p in evening.people] == ["Ben", ""]
    assert "telegram:1" not in s.places.roster("b")


def test_a_coordinator_checks_in_someone_without_a_phone_during_their_shift(hall, campaign):  # noqa: F811
    _, s = hall
    cy = next(ref for ref, a in refs(s).items() if a.startswith("sms:"))
    with pytest.raises(Refused, match="check-in is open from an hour before"):
        coordinating.check_in(s, campaign, "b", cy, datetime(2029, 5, 2, 12, tzinfo=UTC))
    with pytest.raises(Refused, match="no longer down for this room"):
        coordinating.check_in(s, campaign, "b", "nobody", DAY)
    coordinating.check_in(s, campaign, "b", cy, DAY)
    assert s.arrivals.status("sms:+447700900003", "b", "evening") == "here"
    assert s.arrivals.status("sms:+447700900003", "b", "morning") is None  # long over


def test_we_need_n_more_raises_the_places_and_reopens_the_backfill(hall, campaign):  # noqa: F811
    _, s = hall
    s.backfill.ask("b", "evening", 1, ["telegram:9"], DAY.timestamp() - 60, 600)
    assert coordinating.need_more(s, campaign, "b", "evening", "2", DAY) == 5  # 3 taken + 2
    assert s.rooms.load().rooms["b"].places("evening") == 5
    assert s.rooms.load().rooms["b"].places("morning") == 10  # other shifts as they were
    assert s.backfill.last_wave("b", "evening") == 0  # the next look asks at once
    assert coordinating.need_more(s, campaign, "b", "morning", "1", DAY.replace(hour=6)) == 10
    for bad, why in (("0", "from 1 to 50"), ("lots", "from 1 to 50"), ("51", "from 1 to 50")):
        with pytest.raises(Refused, match=why):
            coordinating.need_more(s, campaign, "b", "evening", bad, DAY)
    with pytest.raises(Refused, match="on polling day, until the shift ends"):
        coordinating.need_more(s, campaign, "b", "morning", "1", DAY)  # the morning is over
    with pytest.raises(Refused, match="no shift 'night'"):
        coordinating.need_more(s, campaign, "b", "night", "1", DAY)


def test_we_have_n_too_many_asks_the_last_to_arrive_to_move(hall, campaign):  # noqa: F811
    _, s = hall
    for n, address in enumerate(("telegram:1", "whatsapp:+447700900002", "sms:+447700900003")):
        s.arrivals.check_in(address, "b", ("evening",), DAY.timestamp() - 600 + n)
    assert coordinating.too_many(s, campaign, "b", "evening", "2", DAY) == 2
    asked = [a for a in ("telegram:1", "whatsapp:+447700900002", "sms:+447700900003")
             if any(e.event == MOVE_ASK for e, _ in s.timed.pending(a))]  # fmt: skip
    assert asked == ["whatsapp:+447700900002", "sms:+447700900003"]  # the last two in
    (report,) = s.coordinators.surpluses()
    assert (report.room, report.shift, report.too_many, report.offered) == ("b", "evening", 2, 2)


def test_a_message_goes_to_everyone_still_expected_today(hall, campaign):  # noqa: F811
    _, s = hall
    with pytest.raises(Refused, match="write a message first"):
        coordinating.message(s, campaign, "b", "   ", DAY)
    with pytest.raises(Refused, match="under 500 characters"):
        coordinating.message(s, campaign, "b", "x" * 501, DAY)
    # Ben (WhatsApp) last wrote 25 hours ago: free text cannot reach him, so he is counted.
    r_ = s.r
    r_.hset("pd:lastin", "whatsapp:+447700900002", f"{DAY.timestamp() - 25 * 3600:.0f}")
    assert coordinating.message(s, campaign, "b", "Tea's  on!\nBring a brolly.", DAY) == 2
    events = [e for e, _ in s.timed.pending("telegram:1") if e.event == ROOM_MESSAGE]
    assert json.loads(events[0].payload) == {"room": "b", "text": "Tea's on! Bring a brolly."}
    assert not s.timed.pending("telegram:4")  # Dee is at Hall A
    assert not [e for e, _ in s.timed.pending("whatsapp:+447700900002") if e.event == ROOM_MESSAGE]
    said = s.coordinators.sent("b")[0]
    assert (said["text"], said["to"], said["unreached"]) == ("Tea's on! Bring a brolly.", 2, 1)
    r_.hset("pd:lastin", "whatsapp:+447700900002", f"{DAY.timestamp() - 3600:.0f}")
    assert coordinating.message(s, campaign, "b", "And cake", DAY) == 3  # wrote an hour ago


# --- the page, through Flask ------------------------------------------------------------


def test_the_page_shows_first_names_only_and_its_forms_work(hall, campaign, monkeypatch):  # noqa: F811
    from bot.admin import room_page

    app, s = hall
    monkeypatch.setattr(room_page, "now", lambda: DAY)
    c = app.test_client()
    made = c.post("/admin/api/rooms/b/coordinator-link", headers=AUTH)
    assert made.status_code == 201 and made.json["expires"] == "2029-05-04T00:00:00+01:00"
    url = made.json["url"]
    assert url.startswith("http") and "/room/" in url
    path = "/room/" + url.rsplit("/", 1)[1]
    page = c.get(path)
    assert page.status_code == 200 and page.headers["Referrer-Policy"] == "no-referrer"
    assert page.headers["Cache-Control"] == "no-store"
    text = page.text
    assert "Hall B" in text and "Asha" in text and "Ben" in text and "Volunteer by text" in text
    assert "Dee" not in text  # another room's
    for secret in ("telegram:1", "447700900002", "447700900003", "whatsapp", "sms:"):
        assert secret not in text
    ref = re.search(r'name="ref" value="([0-9a-f]+)"', text).group(1)
    done = c.post(path + "/checkin", data={"ref": ref})
    assert done.status_code == 303 and done.headers["Location"].endswith("note=checked_in")
    assert "Checked in." in c.get(done.headers["Location"]).text
    assert c.post(path + "/need", data={"shift": "evening", "n": "many"}).status_code == 400
    sent = c.post(path + "/message", data={"text": "<b>Tea</b> is on"})
    assert sent.status_code == 303
    shown = c.get(sent.headers["Location"]).text
    assert "Sent to 3 people." in shown and "&lt;b&gt;Tea&lt;/b&gt; is on" in shown
    part = c.get(path, headers={"X-Partial": "1"})
    assert part.status_code == 200 and "<html" not in part.text and "Asha" in part.text
    # Revoked: the page and its forms stop working at once.
    assert c.delete("/admin/api/rooms/b/coordinator-link", headers=AUTH).status_code == 204
    assert c.get(path).status_code == 404
    assert c.post(path + "/message", data={"text": "hi"}).status_code == 404
    assert c.get("/room/not-a-link").status_code == 404
    assert c.post("/admin/api/rooms/zz/coordinator-link", headers=AUTH).status_code == 404


# --- the relayed message and "would you move?" (memory world) ----------------------------

TG = "telegram:42"


def at_b(world: MemoryWorld, shifts: tuple[str, ...] = ("evening",)) -> Conversation:
    pledge = Pledge("B", shifts)
    assert world.reserve(TG, pledge)
    return Conversation(TG, State.DONE, location=POSTCODES["N7 6AA"], pledge=pledge, consent=YES,
                        name="Asha")  # fmt: skip


def relayed(text: str = "Tea's on!", room: str = "B") -> Inbound:
    return Inbound(TG, event=ROOM_MESSAGE, payload=json.dumps({"room": room, "text": text}))


def test_the_coordinators_message_arrives_and_replies_go_back_for_two_hours():
    world = MemoryWorld(clock=DAY)
    turn = handle(at_b(world), relayed(), world)
    assert turn.replies[0].text == (
        "Message from the coordinator at Room B:\n\nTea's on!\n\n"
        "Reply here and we'll pass your answer on to them."
    )
    assert turn.conv.relay_until == int(DAY.timestamp()) + 7200
    answer = handle(turn.conv, Inbound(TG, text="Running 10 min late, sorry"), world)
    assert answer.replies[0].text == "Thanks, we've passed that on to Room B."
    assert answer.effects == [RelayReply(TG, "B", "Asha", "Running 10 min late, sorry",
                                         int(DAY.timestamp()))]  # fmt: skip
    # What the bot understands still works: HERE checks in, it is not relayed.
    here = handle(turn.conv, Inbound(TG, text="HERE"), world)
    assert here.replies[0].text.startswith("Thank you for coming!")
    world.clock = DAY.replace(hour=19)  # two and a half hours later
    late = handle(turn.conv, Inbound(TG, text="anyone there?"), world)
    assert late.effects == [] and late.replies[0].text.startswith("You're down for Room B")


@pytest.mark.parametrize("why", ["other_room", "stopped"])
def test_no_message_for_someone_no_longer_down_for_the_room(why):
    world = MemoryWorld(clock=DAY)
    conv = at_b(world)
    if why == "stopped":
        world.stopped.add(TG)
    turn = handle(conv, relayed(room="A" if why == "other_room" else "B"), world)
    assert turn.replies == [] and turn.conv.relay_until == 0


def test_too_many_offers_the_nearest_short_room_and_says_nothing_when_none_is():
    world = MemoryWorld(clock=DAY)
    conv = at_b(world)
    ask = Inbound(TG, event=MOVE_ASK, payload=json.dumps({"room": "B", "shift": "evening"}))
    turn = handle(conv, ask, world)
    assert turn.conv.state is State.OFFER and turn.conv.offer.room_id == "A"
    assert turn.replies[0].text.startswith(
        "The coordinator at Room B has more people than the room needs right now. Could you go"
    )
    for rid in "ACW":
        world.taken[(rid, "evening")] = 5  # every other room full
    quiet = handle(conv, ask, world)
    assert quiet.replies == [] and quiet.conv.state is State.DONE


def test_an_organiser_makes_and_withdraws_a_link_on_the_rooms_page(hall):  # noqa: F811
    from tests.test_admin_pages import page_csrf, sign_in

    app, s = hall
    c = app.test_client()
    sign_in(c, "organiser-token-123")
    csrf = page_csrf(c)
    rooms = c.get("/admin/rooms").text
    assert '<option value="b">Hall B</option>' in rooms
    made = c.post(
        "/admin/rooms/coordinator-link", data={"csrf": csrf, "room": "b", "action": "make"}
    )
    url = re.search(r'readonly value="([^"]+)"', made.text).group(1)
    assert "/room/" in url and "It works until 00:00 on 2029-05-04" in made.text
    token = url.rsplit("/", 1)[1]
    assert s.coordinators.room_of(token) == "b"
    gone = c.post("/admin/rooms/coordinator-link", data={"csrf": csrf, "room": "b",
                                                          "action": "revoke"})  # fmt: skip
    assert "no longer works" in gone.text and s.coordinators.room_of(token) is None
    again = c.post("/admin/rooms/coordinator-link", data={"csrf": csrf, "room": "b",
                                                           "action": "revoke"})  # fmt: skip
    assert again.status_code == 404
    # Someone not signed in is sent to sign in, and nothing is made.
    stranger = app.test_client().post("/admin/rooms/coordinator-link", data={"room": "b"})
    assert stranger.status_code == 302 and s.coordinators.revoke("b") is False


def test_the_first_name_the_platform_gave_is_kept_for_the_room_and_shown_as_text():
    world = MemoryWorld(clock=DAY)
    conv = at_b(world).evolve(name="")
    turn = handle(conv, Inbound(TG, text="hello", name="Ann_*[x]<b>&"), world)
    assert turn.conv.name == "Ann_*[x]<b>&"
    assert Conversation.from_json(TG, turn.conv.to_json()).name == "Ann_*[x]<b>&"
    same = handle(turn.conv, Inbound(TG, text="hello"), world)  # SMS, a button: no name given
    assert same.conv.name == "Ann_*[x]<b>&"


def test_a_hostile_name_is_shown_as_text_on_the_room_page(hall, monkeypatch):
    from bot.admin import room_page

    app, s = hall
    monkeypatch.setattr(room_page, "now", lambda: DAY)
    conv = s.people.load("telegram:1").evolve(name="<script>alert(1)</script>")
    s.people.save(conv)
    token = s.coordinators.create_link("b", int(time.time()) + 60)
    page = app.test_client().get(f"/room/{token}").text
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_the_board_lists_rooms_with_too_many_and_how_many_moved(hall, campaign):  # noqa: F811
    from bot.model.turn import LeftRoom
    from tests.test_admin_pages import sign_in
    from workers.effects import apply

    app, s = hall
    assert "No room has reported too many people." in _board(app, sign_in)
    for n, address in enumerate(("telegram:1", "whatsapp:+447700900002")):
        s.arrivals.check_in(address, "b", ("evening",), DAY.timestamp() + n)
    assert coordinating.too_many(s, campaign, "b", "evening", "3", DAY) == 2  # only 2 here
    s.coordinators.moved("a", "evening")  # a room that reported nothing: not counted
    worker = SimpleNamespace(store=s)  # a LeftRoom needs nothing else of a worker's runtime
    apply(worker, LeftRoom("telegram:1", "b", ("evening",)), Inbound("telegram:1"), "m1")
    page = _board(app, sign_in)
    rows = page[page.index('class="moves"') : page.index("By seat")]
    assert "Hall B" in rows and "17:30: 3 too many" in rows
    assert "2 asked to move · 1 moved" in rows
    got = app.test_client().get("/admin/api/backfills", headers=AUTH).json["moves"]
    assert got == [{"room": "b", "name": "Hall B", "shift": "evening", "shift_label": "Evening",
                    "at": "17:30", "too_many": 3, "offered": 2, "moved": 1}]  # fmt: skip


def _board(app, sign_in) -> str:
    c = app.test_client()
    sign_in(c, "organiser-token-123")
    return c.get("/admin/", headers={"X-Partial": "1"}).text


# --- from the review ----------------------------------------------------------------------


def test_we_need_more_at_a_room_outside_the_target_seats_says_nobody_will_be_sent(hall, campaign):  # noqa: F811
    _, s = hall
    # Hall C is in Islington North, not a target: backfill never looks at it.
    with pytest.raises(Refused, match="not in a target seat, so the bot does not send people"):
        coordinating.need_more(s, campaign, "c", "evening", "2", DAY)
    assert s.rooms.load().rooms["c"].places("evening") == 6  # nothing changed


def test_we_need_more_at_a_removed_room_is_refused_and_does_not_bring_it_back(hall, campaign):  # noqa: F811
    app, s = hall
    token = s.coordinators.create_link("b", int(time.time()) + 60)
    before = s.rooms.version()
    rooms = s.rooms.load().rooms
    s.rooms.replace_rooms([rooms["a"], rooms["c"]])  # an import without Hall B
    with pytest.raises(Refused, match="no longer on the bot's list of rooms"):
        coordinating.need_more(s, campaign, "b", "evening", "2", DAY)
    assert "b" not in s.rooms.load().rooms and s.rooms.version() == before + 1
    # Through the page: the link shows the room is gone, never a server error.
    from bot.admin import room_page

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(room_page, "now", lambda: DAY)
        got = app.test_client().post(f"/room/{token}/need", data={"shift": "evening", "n": "2"})
    assert got.status_code == 404 and "does not work any more" in got.text
    # A room that is there: only its places for that shift change, and every process sees it.
    assert s.rooms.raise_places("a", "evening", 9) == 9
    assert s.rooms.load().rooms["a"] == replace(rooms["a"], capacity={**rooms["a"].capacity,
                                                                      "evening": 9})  # fmt: skip
    assert s.rooms.version() == before + 2
    assert s.rooms.raise_places("a", "evening", 3) == 9  # never lowered
    assert s.rooms.version() == before + 2


def test_the_link_is_masked_in_the_access_log(hall, capsys, caplog):
    from gunicorn.config import Config
    from gunicorn.glogging import Logger

    from bot.admin import room_page

    app, s = hall  # create_app has set the page up
    token = s.coordinators.create_link("b", int(time.time()) + 60)
    cfg = Config()
    cfg.set("accesslog", "-")  # as the Procfile runs it
    cfg.set("access_log_format", '%(h)s "%(r)s" %(s)s %(U)s %({location}o)s "%(f)s"')
    log = Logger(cfg)
    environ = {"REQUEST_METHOD": "POST", "RAW_URI": f"/room/{token}/message?x=1",
               "PATH_INFO": f"/room/{token}/message", "QUERY_STRING": "x=1",
               "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "10.0.0.7"}  # fmt: skip
    resp = SimpleNamespace(status="303 SEE OTHER", sent=0,
                           headers=[("Location", f"/room/{token}?note=sent")])  # fmt: skip
    try:
        log.access(resp, SimpleNamespace(headers=[]), environ, timedelta(0))
    finally:
        for logger in (log.access_log, log.error_log):
            for h in [h for h in logger.handlers if getattr(h, "_gunicorn", False)]:
                logger.removeHandler(h)
    line = capsys.readouterr().out
    assert token not in line
    assert line.strip() == ('10.0.0.7 "POST /room/<link>/message?x=1 HTTP/1.1" 303 '
                            '/room/<link>/message /room/<link>?note=sent "-"')  # fmt: skip
    # Flask's own line for a request that failed names the path too.
    app.logger.error(f"Exception on /room/{token}/need [POST]")
    assert token not in caplog.text and "Exception on /room/<link>/need" in caplog.text
    # The admin pages' paths are left alone.
    admin = "/admin/api/rooms/b/coordinator-link"
    assert room_page.mask(admin) == admin


def test_a_reply_goes_to_the_room_that_wrote_even_after_a_move():
    """Asha is messaged by Room B's coordinator, moves to Room A, then answers: the answer
    goes to Room B's page, and she is told so."""
    world = MemoryWorld(clock=DAY)
    told = handle(at_b(world), relayed(), world).conv
    assert told.relay_room == "B"
    moved = told.evolve(pledge=Pledge("A", ("evening",)))
    answer = handle(moved, Inbound(TG, text="Sorry, stuck on the bus"), world)
    assert answer.replies[0].text == "Thanks, we've passed that on to Room B."
    assert answer.effects == [
        RelayReply(TG, "B", "Asha", "Sorry, stuck on the bus", int(DAY.timestamp()))
    ]
    assert Conversation.from_json(TG, told.to_json()).relay_room == "B"  # kept with the rest


def test_links_made_at_once_leave_exactly_one_that_works_and_it_can_be_withdrawn(r):
    s = Store(r)
    ends = int(time.time()) + 600

    def make(start: threading.Barrier) -> str:
        start.wait()  # all eight at once
        return s.coordinators.create_link("a", ends)

    for _ in range(10):
        with ThreadPoolExecutor(8) as pool:
            tokens = list(pool.map(make, [threading.Barrier(8)] * 8))
        assert sum(s.coordinators.room_of(t) == "a" for t in tokens) == 1
        assert s.coordinators.revoke("a")
        assert [t for t in tokens if s.coordinators.room_of(t)] == []


def test_two_messages_in_one_second_are_both_delivered(hall, campaign):  # noqa: F811
    _, s = hall
    assert coordinating.message(s, campaign, "b", "Tea's on", DAY) == 3
    assert coordinating.message(s, campaign, "b", "And cake", DAY) == 3
    events = [e for e, _ in s.timed.pending("telegram:1") if e.event == ROOM_MESSAGE]
    assert sorted(json.loads(e.payload)["text"] for e in events) == ["And cake", "Tea's on"]
    assert len({e.external_id for e in events}) == 2  # one id: the second taken for a replay
    # The same message again at once (a double tap) goes once.
    with pytest.raises(Refused, match="that message has just gone"):
        coordinating.message(s, campaign, "b", "And  cake", DAY)
    assert len([e for e, _ in s.timed.pending("telegram:1") if e.event == ROOM_MESSAGE]) == 2


def test_too_many_asks_nobody_when_no_room_nearby_is_short(hall, campaign):  # noqa: F811
    _, s = hall
    for n, address in enumerate(("telegram:1", "whatsapp:+447700900002", "sms:+447700900003")):
        s.arrivals.check_in(address, "b", ("evening",), DAY.timestamp() - 600 + n)
    for n in range(3):  # Hall A (the only other target room) fills up: 4 of 4
        assert s.places.reserve(f"telegram:{50 + n}", Pledge("a", ("evening",)), [100])
    with pytest.raises(Refused, match="no room nearby is short of people for that shift now"):
        coordinating.too_many(s, campaign, "b", "evening", "2", DAY)
    for address in ("telegram:1", "whatsapp:+447700900002", "sms:+447700900003"):
        assert not [e for e, _ in s.timed.pending(address) if e.event == MOVE_ASK]
    (report,) = s.coordinators.surpluses()  # the organisers still see the room's report
    assert (report.too_many, report.offered) == (2, 0)


def test_the_page_reads_its_own_room_not_the_whole_directory(hall, campaign):  # noqa: F811
    app, s = hall
    token = s.coordinators.create_link("b", int(time.time()) + 60)
    c = app.test_client()
    seen, page = redis_commands(s.r, lambda: c.get(f"/room/{token}"))
    assert page.status_code == 200 and "Hall B" in page.text
    assert [cmd for cmd in seen if "pd:rooms" in cmd.split()] == ["HGET pd:rooms b"]
    assert not [cmd for cmd in seen if "pd:targets" in cmd.split()]
    # ...read afresh each time: "we need N more" shows at once.
    assert coordinating.need_more(s, campaign, "b", "evening", "4", DAY) == 7
    assert "3 of 7 places" in c.get(f"/room/{token}").text


def redis_commands(r, do):
    """The commands Redis saw while ``do`` ran (MONITOR), and what ``do`` returned."""
    seen: list[str] = []
    with r.monitor() as m:
        done = threading.Event()

        def listen() -> None:
            for cmd in m.listen():
                if cmd["command"] == "ECHO end-of-watch":
                    break
                seen.append(cmd["command"])
            done.set()

        t = threading.Thread(target=listen, daemon=True)
        t.start()
        got = do()
        r.echo("end-of-watch")
        assert done.wait(5)
    return seen, got


def test_pruning_a_roster_keeps_whoever_pledged_there_again_meanwhile(r):
    """The room's page drops people whose pledge is elsewhere; the drop looks again in one
    script, so someone who came back in between stays on the roster."""
    s = Store(r)
    assert s.places.reserve("telegram:1", Pledge("a", ("evening",)), [5])
    assert s.places.reserve("telegram:2", Pledge("a", ("evening",)), [5])
    assert s.places.reserve("telegram:2", Pledge("b", ("evening",)), [5])  # moved away
    s.places._prune(keys=["pd:pledge", "pd:roster:a"], args=["a|", "telegram:1"])  # back
    assert s.places.roster("a") == {"telegram:1": ("evening",)}
    assert sorted(r.hkeys("pd:roster:a")) == [b"telegram:1"]
