"""The organiser API on a real Redis: tokens, imports, staffing, summary, broadcasts."""

from __future__ import annotations

import io
import json
import time
from dataclasses import replace
from pathlib import Path

import pytest
from rq import Queue

from bot.app import create_app
from bot.config import Settings, load_campaign
from bot.model.message import Inbound
from bot.model.person import Pledge
from bot.store import Store
from tests.people import add_supporters

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "organiser-token-123"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ROOMS = (
    "id,name,address,postcode,constituency,latitude,longitude,capacity,capacity_evening\n"
    "a,Hall A,1 St,N7 6AA,Hendon,51.59,-0.22,4,\n"
    "b,Hall B,2 St,N7 6AB,Hendon,51.58,-0.21,10,2\n"
    "c,Hall C,3 St,N7 6AD,Islington North,51.55,-0.11,6,\n"
)
TARGETS = "constituency,priority\nHendon,1\n"


@pytest.fixture
def campaign(tmp_path):
    text = (ROOT / "config.yaml").read_text()
    text = text.replace("data/rooms.csv", "rooms.csv").replace("data/targets.csv", "targets.csv")
    text = text.replace('imprint: "Promoted', 'imprint: "Promoted')
    (tmp_path / "config.yaml").write_text(text)
    (tmp_path / "rooms.csv").write_text(ROOMS)
    (tmp_path / "targets.csv").write_text(TARGETS)
    return load_campaign(tmp_path / "config.yaml")


@pytest.fixture
def settings(redis_server, campaign, geo_cache):
    return Settings(
        campaign=campaign,
        redis_url=redis_server.url,
        admin_token=TOKEN,
        var_dir=geo_cache.parent,
    )


@pytest.fixture
def store(r, settings):
    return Store(r)


@pytest.fixture
def client(settings, store):
    app = create_app(settings)
    c = app.test_client()
    assert c.post("/admin/api/targets/import", data=TARGETS, headers=AUTH).status_code == 200
    assert c.post("/admin/api/rooms/import", data=ROOMS, headers=AUTH).status_code == 200
    return c


ROUTES = [
    ("GET", "/admin/api/rooms"),
    ("GET", "/admin/api/summary"),
    ("POST", "/admin/api/rooms/import"),
    ("POST", "/admin/api/targets/import"),
    ("POST", "/admin/api/broadcasts"),
    ("GET", "/admin/api/broadcasts"),
    ("GET", "/admin/api/broadcasts/1"),
    ("POST", "/admin/api/broadcasts/1/cancel"),
]


@pytest.mark.parametrize("method, path", ROUTES)
@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}, {"Authorization": ""},
     {"Authorization": f"Basic {TOKEN}"}, {"Authorization": f"Bearer {TOKEN}x"}],
)  # fmt: skip
def test_every_admin_route_refuses_a_missing_or_wrong_token(settings, r, method, path, headers):
    client = create_app(settings).test_client()
    resp = client.open(path, method=method, headers=headers, data="x")
    assert resp.status_code == 401
    assert resp.get_json() == {"ok": False, "error": "missing or wrong Authorization: Bearer token"}
    assert r.keys("*") == []


def test_no_admin_token_configured_means_no_admin_api(settings, r):
    client = create_app(replace(settings, admin_token="")).test_client()
    assert client.get("/admin/api/rooms", headers={"Authorization": "Bearer "}).status_code == 401


def test_rooms_report_capacity_pledged_left_held_waiting_arrived(client, store):
    add_supporters(store, ["sms:+447700900001"], pledge=Pledge("b", ("morning", "evening")))
    rooms = {r["id"]: r for r in client.get("/admin/api/rooms", headers=AUTH).get_json()["rooms"]}
    assert rooms["b"]["constituency"] == "Hendon" and rooms["b"]["target"] is True
    store.arrivals.check_in("sms:+447700900001", "b", ("morning",), 1000)
    store.standby.join("telegram:9", [("b", "evening", 1.5)])
    store.standby.join("telegram:8", [("b", "evening", 2.5)])
    assert store.standby.offer("b", "evening", 2, time.time() + 60, 0) == ("telegram:9", 1.5)
    rooms = {r["id"]: r for r in client.get("/admin/api/rooms", headers=AUTH).get_json()["rooms"]}
    none = {"held": 0, "waiting": 0, "arrived": 0, "on_the_way": 0, "no_show": 0}
    assert rooms["b"]["shifts"] == {
        "morning": {"capacity": 10, "pledged": 1, "left": 9, **none, "arrived": 1},
        "afternoon": {"capacity": 10, "pledged": 0, "left": 10, **none},
        # One place held for the nearest on standby (counted taken), one still waiting.
        "evening": {"capacity": 2, "pledged": 2, "left": 0, **none, "held": 1, "waiting": 1},
    }
    assert rooms["c"]["target"] is False and rooms["c"]["priority"] is None


def test_summary(client, store):
    add_supporters(
        store, [f"sms:+4477009000{i:02d}" for i in range(3)], pledge=Pledge("a", ("morning",))
    )
    add_supporters(store, ["telegram:5"], consent=None)
    store.referrals.first_contact("sms:+447700900050", "telegram:5")
    store.referrals.first_contact("sms:+447700900051", "sms:+447700900001")
    store.referrals.first_contact("sms:+447700900052", "sms:+447700900001")
    body = client.get("/admin/api/summary", headers=AUTH).get_json()
    assert body["supporters"] == {"sms": 3, "telegram": 1}
    assert body["pledges_by_shift"] == {"morning": 3, "afternoon": 0, "evening": 0}
    # a has 3 of 4 in the morning: at least half. b is empty all day. c is not a target.
    assert body["rooms_below_half_staffed"] == {
        "morning": ["b"],
        "afternoon": ["a", "b"],
        "evening": ["a", "b"],
    }
    assert body["top_sharers"] == [
        {"who": "sms:+44•••••••001", "brought_in": 2},
        {"who": "telegram:•", "brought_in": 1},
    ]


def test_rooms_import_errors_list_row_column_reason_and_change_nothing(client, store):
    before = store.rooms.load()
    bad = ROOMS + "d,,4 St,N7,Hendon,51.5,-0.1,x,\n"
    resp = client.post(
        "/admin/api/rooms/import",
        data={"file": (io.BytesIO(bad.encode()), "rooms.csv")},
        headers=AUTH,
        content_type="multipart/form-data",
    )
    assert resp.status_code == 400
    assert resp.get_json()["errors"] == [
        "row 5, column capacity: expected a whole number >= 0, got 'x'",
        "row 5, column name: empty",
        "row 5, column postcode: not a full UK postcode: 'N7'",
    ]
    after = store.rooms.load()
    assert (after.rooms, after.targets) == (before.rooms, before.targets)


def test_reimport_keeps_pledges_and_reports_changes(client, store):
    add_supporters(store, ["sms:+447700900001"], pledge=Pledge("a", ("morning",)))
    changed = ROOMS.replace(
        "a,Hall A,1 St,N7 6AA,Hendon,51.59,-0.22,4,", "a,Hall A2,1 St,N7 6AA,Hendon,51.59,-0.22,0,"
    )
    resp = client.post(
        "/admin/api/rooms/import",
        data=changed + "e,Hall E,5 St,N7 6AE,Hendon,51.6,-0.2,3,\n",
        headers=AUTH,
    )
    body = resp.get_json()
    assert resp.status_code == 200
    assert (body["added"], body["updated"], body["removed"]) == (["e"], ["a"], [])
    assert body["over_capacity"] == ["a|morning"]  # 1 pledged, capacity now 0
    assert store.places.pledge_of("sms:+447700900001") == "a|morning"


def test_removing_a_room_with_pledges_is_refused_unless_forced(client, store, r):
    people = add_supporters(
        store, ["sms:+447700900001", "telegram:9"], pledge=Pledge("a", ("morning",))
    )
    without_a = "\n".join(line for line in ROOMS.splitlines() if not line.startswith("a,")) + "\n"
    resp = client.post("/admin/api/rooms/import", data=without_a, headers=AUTH)
    assert resp.status_code == 409
    assert resp.get_json()["rooms"] == {"a": 2}
    assert "a" in set(store.rooms.load().rooms)  # nothing changed
    resp = client.post("/admin/api/rooms/import?force=1", data=without_a, headers=AUTH)
    assert resp.status_code == 200 and resp.get_json()["moved"] == 2
    for address in people:
        (queued,) = r.lrange(f"pd:inbox:{address}", 0, -1)
        event = Inbound.from_json(queued)
        assert (event.event, event.payload, event.text) == ("room_closed", "a", "Hall A")
    # Each waits on their own channel's lane.
    assert r.lrange("pd:ready:sms", 0, -1) == [b"sms:+447700900001"]
    assert r.lrange("pd:ready:telegram", 0, -1) == [b"telegram:9"]
    asked = [json.loads(x)["f"] for x in r.lrange("pd:jobs", 0, -1)]  # of the workers
    assert asked == ["workers.turns.drain_ready"] * 2


def test_targets_import(client, store):
    resp = client.post(
        "/admin/api/targets/import",
        data="constituency,priority\nHendon,2\nIslington North,1\n",
        headers=AUTH,
    )
    assert resp.get_json() == {"ok": True, "targets": 2, "warnings": []}
    assert store.rooms.load().targets == {"E14001279": 2, "E14001305": 1}  # by GSS code
    bad = client.post("/admin/api/targets/import", data="constituency\nHendon\n", headers=AUTH)
    assert bad.status_code == 400
    assert bad.get_json()["errors"] == ["row 1: missing column(s) priority"]
    typo = client.post(
        "/admin/api/targets/import", data="constituency,priority\nHendn,1\n", headers=AUTH
    )
    assert typo.status_code == 400 and typo.get_json()["errors"] == [
        "row 2, column constituency: 'Hendn' is not a UK constituency: did you mean Hendon?"
    ]


def test_a_targets_import_that_leaves_no_target_is_refused_unless_forced(client, store):
    empty = client.post("/admin/api/targets/import", data="constituency,priority\n", headers=AUTH)
    assert empty.status_code == 409
    assert "no target seats in it" in empty.get_json()["error"]
    assert "?force=1" in empty.get_json()["error"]
    assert store.rooms.load().targets == {"E14001279": 1}  # nothing was changed
    forced = client.post(
        "/admin/api/targets/import?force=1", data="constituency,priority\n", headers=AUTH
    )
    assert forced.status_code == 200 and forced.get_json()["targets"] == 0
    assert forced.get_json()["warnings"] == [
        f"room {rid} ({seat}) is not in a target seat: it will never be offered"
        for rid, seat in (("a", "Hendon"), ("b", "Hendon"), ("c", "Islington North"))
    ]


def test_upload_limit_is_larger_than_a_webhooks(client):
    big = ROOMS + "".join(
        f"r{i},Room {i},{i} Long Street,N7 6AA,Hendon,51.5,-0.1,5,\n" for i in range(2000)
    )
    assert len(big) > 64 * 1024
    assert client.post("/admin/api/rooms/import", data=big, headers=AUTH).status_code == 200


def test_broadcast_dry_run_counts_and_renders_without_storing(client, store, r):
    add_supporters(store, ["sms:+447700900001", "telegram:1"], pledge=Pledge("a", ("morning",)))
    add_supporters(store, ["sms:+447700900002"], consent=False)
    resp = client.post(
        "/admin/api/broadcasts", json={"text": "Polls open at 7!", "dry_run": True}, headers=AUTH
    )
    body = resp.get_json()
    assert resp.status_code == 200
    assert body["recipients"] == 2 and body["no_consent"] == 1
    assert body["sample"] == (
        "Polls open at 7!\n\nPromoted by A. Agent on behalf of the Labour Party, "
        "1 Example Street, London N1 1AA."
    )
    assert r.keys("pd:bc:*") == [] and Queue("broadcast", connection=r).count == 0


@pytest.mark.parametrize(
    "audience, expected",
    [
        ({}, ["sms:+447700900001", "telegram:1", "whatsapp:+447700900003"]),
        ({"channel": "sms"}, ["sms:+447700900001"]),
        ({"pledged": False}, ["whatsapp:+447700900003"]),
        ({"pledged": True}, ["sms:+447700900001", "telegram:1"]),
        ({"room": "a"}, ["sms:+447700900001"]),
        ({"shift": "evening"}, ["telegram:1"]),
        ({"constituency": "hendon"}, ["sms:+447700900001", "telegram:1"]),
        ({"constituency": "Islington North"}, []),  # a room there, but nobody pledged
        ({"room": "a", "shift": "evening"}, []),
    ],
)
def test_broadcast_audiences(client, store, r, audience, expected):
    add_supporters(store, ["sms:+447700900001"], pledge=Pledge("a", ("morning",)))
    add_supporters(store, ["telegram:1"], pledge=Pledge("b", ("evening",)))
    add_supporters(store, ["whatsapp:+447700900003"])
    add_supporters(store, ["sms:+447700900009"], consent=False, pledge=Pledge("a", ("morning",)))
    resp = client.post(
        "/admin/api/broadcasts", json={"text": "Hi", "audience": audience}, headers=AUTH
    )
    if not expected:  # a broadcast to nobody is refused at creation, with the reason
        assert resp.status_code == 409
        assert resp.get_json()["error"].startswith("no recipients: nobody in this audience")
        assert r.keys("pd:bc:*") == []
        return
    assert resp.status_code == 202
    body = resp.get_json()
    assert body["recipients"] == len(expected)
    assert [a.decode() for a in r.lrange(f"pd:bc:{body['id']}:to", 0, -1)] == expected
    status = client.get(f"/admin/api/broadcasts/{body['id']}", headers=AUTH).get_json()
    assert status["total"] == len(expected) and status["audience"] == audience
    assert status["status"] == ("queued" if expected else "done")


@pytest.mark.parametrize(
    "body, error",
    [
        ([], "expected a JSON object with text, audience, dry_run"),
        ({}, "text: required"),
        ({"text": "  "}, "text: required"),
        ({"text": "\u200b\u200b\u2060\ufeff"}, "text: nothing visible (only spaces or invisible"),
        ({"text": "x" * 1001}, "text: at most 1000 characters"),
        ({"text": "x", "dry_run": "yes"}, "dry_run: expected true or false"),
        ({"text": "x", "audience": {"ward": "x"}}, "audience: unknown key(s) ward"),
        ({"text": "x", "audience": {"shift": "night"}}, "audience.shift: no shift 'night'"),
        ({"text": "x", "audience": {"room": "zz"}}, "audience.room: no room 'zz'"),
        ({"text": "x", "audience": {"channel": "fax"}}, "audience.channel: expected telegram"),
        ({"text": "x", "audience": {"pledged": "yes"}}, "audience.pledged: expected true or false"),
        ({"text": "x", "audience": ["sms"]}, "audience: expected an object"),
        ({"text": "x", "audience": []}, "audience: expected an object"),
        ({"text": "x", "audience": ""}, "audience: expected an object"),
        ({"text": "x", "audience": {"shift": ""}}, "audience.shift: expected text"),
        ({"text": "x", "audience": {"room": " "}}, "audience.room: expected text"),
        ({"text": "x", "audience": {"constituency": "Hendn"}}, "audience.constituency: no "),
    ],
)
def test_bad_broadcast_requests_are_400_with_a_reason(client, r, body, error):
    resp = client.post("/admin/api/broadcasts", json=body, headers=AUTH)
    assert resp.status_code == 400
    assert resp.get_json()["error"].startswith(error)
    assert r.keys("pd:bc:*") == []


def test_broadcast_status_and_cancel(client, store):
    add_supporters(store, ["sms:+447700900001"])
    bid = client.post("/admin/api/broadcasts", json={"text": "Hi"}, headers=AUTH).get_json()["id"]
    cancelled = client.post(f"/admin/api/broadcasts/{bid}/cancel", headers=AUTH)
    assert cancelled.status_code == 200 and cancelled.get_json()["status"] == "cancelled"
    again = client.post(f"/admin/api/broadcasts/{bid}/cancel", headers=AUTH)
    assert again.status_code == 409
    assert client.get("/admin/api/broadcasts/999", headers=AUTH).status_code == 404
    assert client.post("/admin/api/broadcasts/999/cancel", headers=AUTH).status_code == 404
    second = client.post("/admin/api/broadcasts", json={"text": "Bye"}, headers=AUTH)
    listed = client.get("/admin/api/broadcasts", headers=AUTH).get_json()["broadcasts"]
    assert [(b["id"], b["text"], b["status"]) for b in listed] == [
        (second.get_json()["id"], "Bye", "queued"),
        (bid, "Hi", "cancelled"),
    ]  # fmt: skip (newest first)


def test_raw_csv_body_with_curls_default_form_type(client, store):
    resp = client.post(
        "/admin/api/targets/import",
        data=b"constituency,priority\nHendon,3\n",
        headers={**AUTH, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert resp.get_json() == {
        "ok": True,
        "targets": 1,
        "warnings": ["room c (Islington North) is not in a target seat: it will never be offered"],
    }
    assert store.rooms.load().targets == {"E14001279": 3}


def test_broadcast_json_nested_too_deeply_is_a_400(client, caplog):
    deep = "[" * 100_000 + "]" * 100_000
    headers = {**AUTH, "Content-Type": "application/json"}
    resp = client.post("/admin/api/broadcasts", data=deep, headers=headers)
    assert resp.status_code == 400 and resp.get_json()["error"] == "body is JSON nested too deeply"
    assert "Traceback" not in caplog.text


def test_a_seat_given_by_code_reads_as_its_name_and_audiences_take_either(client, store):
    rooms = ROOMS + "f,Fulham Rooms,5 St,SW6 1AA,E14001160,51.48,-0.2,4,\n"
    targets = "constituency,priority\nHendon,1\nchelsea & fulham,2\n"
    assert client.post("/admin/api/targets/import", data=targets, headers=AUTH).status_code == 200
    assert client.post("/admin/api/rooms/import", data=rooms, headers=AUTH).status_code == 200
    report = {x["id"]: x for x in client.get("/admin/api/rooms", headers=AUTH).get_json()["rooms"]}
    assert report["f"]["constituency"] == "Chelsea and Fulham"
    assert report["f"]["gss_code"] == "E14001160" and report["f"]["target"] is True
    add_supporters(store, ["telegram:7"], pledge=Pledge("f", ("morning",)))
    for seat in ("Chelsea and Fulham", "E14001160", "chelsea & fulham", "e14001160"):
        body = {"text": "Hi", "dry_run": True, "audience": {"constituency": seat}}
        resp = client.post("/admin/api/broadcasts", json=body, headers=AUTH)
        assert resp.get_json()["recipients"] == 1, seat
