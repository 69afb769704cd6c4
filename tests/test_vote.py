"""Everyone votes too: the polling-day morning message (handlers/vote.py on the memory
world), its time, VOTED, and the Democracy Club client against a fake on 127.0.0.1."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from bot.campaign import vote_message_at
from bot.model.message import Inbound
from bot.model.person import Conversation, Pledge, State
from bot.polling_stations import PollingStations
from tests.fakes import FakeDemocracyClub
from tests.world import CAMPAIGN, POSTCODES, MemoryWorld, handle

TG = "telegram:42"
TOKEN = "dc-test-token"
ID = "you'll need photo ID (a passport, driving licence, older or disabled person's bus pass"


def done(pledge: Pledge, postcode: str | None = "N7 6AA") -> Conversation:
    return Conversation(TG, State.DONE, postcode=postcode, location=POSTCODES["N7 6AA"],
                        shifts=pledge.shifts, pledge=pledge)  # fmt: skip


def event(pledge: Pledge) -> Inbound:
    about = {"room": pledge.room_id, "shifts": list(pledge.shifts)}
    return Inbound(TG, event="vote", payload=json.dumps(about))


def test_the_message_goes_as_the_polls_open():
    assert vote_message_at(CAMPAIGN.polling_day, CAMPAIGN.timezone) == datetime(
        2029, 5, 3, 6, 0, tzinfo=UTC
    )  # 07:00 British Summer Time


@pytest.mark.parametrize(
    "shifts, when",
    [(("evening",), "Your shift starts at 17:00, so you could vote on your way."),
     (("afternoon", "evening"), "Your shift starts at 12:00, so you could vote on your way."),
     (("morning",), "Your shift ends at 12:00, so you could vote after it, before 10pm."),
     (("morning", "evening"), "You're helping from 07:00 to 22:00, so vote on your way there,"
                              " or ask the room for a few minutes to go.")],
)  # fmt: skip
def test_have_you_voted_says_when_around_their_shift(shifts, when):
    pledge = Pledge("B", shifts)
    world = MemoryWorld(stations={"N7 6AA": "St Mary's Church Hall, Upper Street, N1 2TX"})
    turn = handle(done(pledge), event(pledge), world)
    assert turn.effects == []
    (msg,) = turn.replies
    assert msg.text.startswith(
        "Good morning: it's polling day! Have you voted yet? Polling stations are open 7am to"
        " 10pm, and " + ID
    )
    assert "\nYour polling station: St Mary's Church Hall, Upper Street, N1 2TX.\n" in msg.text
    assert f"\n{when}\nReply VOTED once you have." in msg.text
    assert [(b.label, b.payload) for b in msg.buttons] == [("🗳 I've voted", "voted")]


@pytest.mark.parametrize(
    "postcode, link",
    [("N7 6AA", "https://wheredoivote.co.uk/postcode/N76AA/"),
     (None, "https://wheredoivote.co.uk/")],  # a location pin: no postcode kept
)  # fmt: skip
def test_without_a_known_station_it_links_to_the_finder(postcode, link):
    pledge = Pledge("B", ("evening",))
    turn = handle(done(pledge, postcode), event(pledge), MemoryWorld())
    assert f"\nFind your polling station: {link}\n" in turn.replies[0].text


@pytest.mark.parametrize(
    "conv, stopped",
    [(done(Pledge("B", ("morning",))), False),  # plans changed since it was scheduled
     (done(Pledge("B", ("evening",))).evolve(state=State.STOPPED), False),
     (done(Pledge("B", ("evening",))), True)],  # STOP still queued behind it
)  # fmt: skip
def test_no_vote_message_when_plans_changed_or_they_said_stop(conv, stopped):
    world = MemoryWorld(stopped={TG} if stopped else set())
    turn = handle(conv, event(Pledge("B", ("evening",))), world)
    assert turn.replies == [] and turn.conv == conv


@pytest.mark.parametrize(
    "said, payload",
    [("VOTED", None), ("I've voted!", None), ("already voted by post", None), ("", "voted")],
)
def test_voted_is_thanked(said, payload):
    pledge = Pledge("B", ("evening",))
    turn = handle(done(pledge), Inbound(TG, text=said, payload=payload), MemoryWorld())
    assert turn.replies[0].text == "Brilliant, thank you for voting! Every vote counts today."
    assert turn.conv == done(pledge) and turn.effects == []


@pytest.fixture
def dc():
    fake = FakeDemocracyClub(TOKEN, {"N76AA": ("St Mary's Church Hall\nUpper Street", "N1 2TX")})
    fake.start()
    yield fake
    fake.stop()


def test_the_client_reads_the_station_and_keeps_it(dc):
    stations = PollingStations(TOKEN, f"{dc.url}/api/v1")
    assert stations.station("N7 6AA") == "St Mary's Church Hall, Upper Street, N1 2TX"
    assert stations.station("SW1A 1AA") is None  # no station known there
    asked = len(dc.requests)
    assert stations.station("N7 6AA") == "St Mary's Church Hall, Upper Street, N1 2TX"
    assert len(dc.requests) == asked  # kept: not asked again
    assert dc.requests[0].path == "/api/v1/postcode/N76AA/"


@pytest.mark.parametrize("token, status", [("wrong", None), (TOKEN, 500), (TOKEN, 503)])
def test_the_client_gives_none_when_the_api_refuses_or_fails(dc, token, status):
    dc.fail_status = status
    assert PollingStations(token, f"{dc.url}/api/v1").station("N7 6AA") is None


def test_the_client_gives_none_when_nothing_answers():
    from bot.redis_server import free_port

    stations = PollingStations(TOKEN, f"http://127.0.0.1:{free_port()}/api/v1", timeout=0.5)
    assert stations.station("N7 6AA") is None
