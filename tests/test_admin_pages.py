"""The organiser pages on a real Redis: sign-in, sessions, CSRF, roles, the staffing board."""

from __future__ import annotations

import hashlib
import io
import re
from dataclasses import replace
from pathlib import Path

import pytest

from bot.admin import auth
from bot.app import create_app
from bot.campaign import Login
from bot.model.person import Pledge
from bot.redis_server import free_port
from tests.people import add_supporters
from tests.test_admin import AUTH, ROOMS, TARGETS, campaign, settings, store  # noqa: F401

VIEWER_TOKEN = "viewer-token-456"
VIEWER = Login("Priya", "viewer", hashlib.sha256(VIEWER_TOKEN.encode()).hexdigest())
PAGES = [("GET", "/admin/"), ("GET", "/admin/?shift=morning"), ("POST", "/admin/sign-out"),
         ("GET", "/admin/broadcasts"), ("GET", "/admin/broadcasts/1"),
         ("POST", "/admin/broadcasts/preview"), ("POST", "/admin/broadcasts/send"),
         ("POST", "/admin/broadcasts/1/cancel")]  # fmt: skip


@pytest.fixture
def app(settings, r):  # noqa: F811  (r: an empty Redis for each test)
    logins = replace(settings.campaign, logins=(VIEWER,))
    app = create_app(replace(settings, campaign=logins))
    c = app.test_client()
    assert c.post("/admin/api/targets/import", data=TARGETS, headers=AUTH).status_code == 200
    assert c.post("/admin/api/rooms/import", data=ROOMS, headers=AUTH).status_code == 200
    return app


def sign_in(client, token: str, next_url: str = "/admin/", **request):
    form = client.get(f"/admin/sign-in?next={next_url}", **request)
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
    data = {"token": token, "csrf": csrf, "next": next_url}
    return client.post("/admin/sign-in", data=data, **request)


def page_csrf(client) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', client.get("/admin/").text).group(1)


@pytest.mark.parametrize("method, path", [("GET", "/"), *PAGES, ("GET", "/admin/static/admin.css")])
def test_signed_out_visitors_are_sent_to_sign_in_and_shown_no_data(app, method, path):
    resp = app.test_client().open(path, method=method)
    if path.endswith(".css"):  # the stylesheet is public: the sign-in page needs it
        assert resp.status_code == 200 and "font" in resp.text
        return
    assert resp.status_code == 302
    if path == "/":
        assert resp.headers["Location"] == "/admin/"
    else:
        assert resp.headers["Location"].startswith("/admin/sign-in?next=%2Fadmin%2F")
        assert "Hall" not in resp.text


def test_sign_in_with_a_token_opens_a_session_cookie(app, r):
    client = app.test_client()
    form = client.get("/admin/sign-in")
    assert form.status_code == 200 and 'type="password"' in form.text
    pair = form.headers["Set-Cookie"]
    assert pair.startswith("pd_signin=") and "HttpOnly" in pair and "SameSite=Lax" in pair
    resp = sign_in(client, "organiser-token-123", "/admin/?shift=morning")
    assert resp.status_code == 302 and resp.headers["Location"] == "/admin/?shift=morning"
    cookie = next(c for c in resp.headers.getlist("Set-Cookie") if c.startswith("pd_session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/admin" in cookie
    assert "Secure" not in cookie  # plain http here; see the https test
    sid = cookie.split(";")[0].split("=", 1)[1]
    # Redis keeps the session under a hash of the cookie's id, never the id itself.
    (key,) = r.keys("pd:session:*")
    assert key.decode() == f"pd:session:{hashlib.sha256(sid.encode()).hexdigest()}"
    assert 0 < r.ttl(key) <= 12 * 3600
    board = client.get("/admin/")
    assert board.status_code == 200 and "admin (admin)" in board.text


@pytest.mark.parametrize(
    "token, status, says",
    [("wrong", 401, "not recognised"), ("", 401, "not recognised")],
)
def test_a_wrong_token_is_refused_with_a_reason_and_no_session(app, r, token, status, says):
    client = app.test_client()
    resp = sign_in(client, token)
    assert resp.status_code == status and says in resp.text
    assert not any(c.startswith("pd_session=") for c in resp.headers.getlist("Set-Cookie"))
    assert r.keys("pd:session:*") == []


def test_the_sign_in_form_must_come_from_this_site(app, r):
    client = app.test_client()
    resp = client.post("/admin/sign-in", data={"token": "organiser-token-123", "csrf": "x"})
    assert resp.status_code == 400 and "expired" in resp.text
    assert r.keys("pd:session:*") == []


def test_sign_in_attempts_are_limited_per_address(app):
    client = app.test_client()
    for _ in range(auth.SIGNIN_LIMIT):
        assert sign_in(client, "wrong").status_code == 401
    resp = sign_in(client, "organiser-token-123")
    assert resp.status_code == 429 and "Too many sign-in attempts" in resp.text
    other = app.test_client()  # another address still gets in
    env = {"REMOTE_ADDR": "10.0.0.9"}
    form = other.get("/admin/sign-in", environ_base=env)
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
    ok = other.post("/admin/sign-in", environ_base=env,
                    data={"token": "organiser-token-123", "csrf": csrf})  # fmt: skip
    assert ok.status_code == 302


def test_over_https_the_cookies_are_secure(settings, r):  # noqa: F811
    app = create_app(replace(settings, public_url="https://bot.example.org"))
    client = app.test_client()
    resp = sign_in(client, "organiser-token-123", base_url="https://bot.example.org")
    cookie = next(c for c in resp.headers.getlist("Set-Cookie") if c.startswith("pd_session="))
    assert "Secure" in cookie


@pytest.mark.parametrize("evil", ["https://evil.example/admin", "//evil.example/", "/elsewhere"])
def test_after_sign_in_only_our_own_pages(app, evil):
    resp = sign_in(app.test_client(), "organiser-token-123", evil)
    assert resp.headers["Location"] == "/admin/"


def test_sign_out_needs_the_session_token_and_ends_the_session(app, r):
    client = app.test_client()
    sign_in(client, "organiser-token-123")
    forged = client.post("/admin/sign-out")  # another site's form cannot sign us out
    assert forged.status_code == 400 and "did not come from this site" in forged.text
    assert client.get("/admin/").status_code == 200
    csrf = page_csrf(client)
    out = client.post("/admin/sign-out", data={"csrf": csrf})
    assert out.status_code == 302 and out.headers["Location"] == "/admin/sign-in"
    assert r.keys("pd:session:*") == []
    assert client.get("/admin/").status_code == 302


def test_a_viewer_signs_in_and_reads_but_cannot_change_through_the_api(app):
    client = app.test_client()
    assert sign_in(client, VIEWER_TOKEN).status_code == 302
    assert "Priya (viewer)" in client.get("/admin/").text
    api = app.test_client()
    viewer = {"Authorization": f"Bearer {VIEWER_TOKEN}"}
    assert api.get("/admin/api/summary", headers=viewer).status_code == 200
    refused = api.post("/admin/api/targets/import", data=TARGETS, headers=viewer)
    assert refused.status_code == 403 and "viewer" in refused.get_json()["error"]


def test_the_board_lists_short_rooms_first_with_their_numbers(app, r):
    from bot.store import Store

    s = Store(r)
    add_supporters(s, [f"sms:+4477009000{n:02d}" for n in range(8)],
                   pledge=Pledge("b", ("morning",)))  # fmt: skip
    for n in range(3):  # three of them have checked in, one is on the way, one a no-show
        s.arrivals.check_in(f"sms:+4477009000{n:02d}", "b", ("morning",), 1000)
    s.arrivals.mark("sms:+447700900003", "b", ("morning",), "onway", 1000)
    s.arrivals.mark("sms:+447700900004", "b", ("morning",), "noshow", 1000)
    for n, km in ((1, 1.0), (2, 2.0)):  # two wait for Hall A; a place is held for one
        s.standby.join(f"telegram:{n}", [("a", "morning", km)])
    s.standby.offer("a", "morning", 4, 2**31, 0)
    client = app.test_client()
    sign_in(client, "organiser-token-123")
    page = client.get("/admin/").text
    morning = page[
        page.index('id="shift-morning"') : page.index(
            "</section>", page.index('id="shift-morning"')
        )
    ]
    rows = re.findall(r"<td>(Hall [ABC])</td>", morning)
    assert rows == ["Hall A", "Hall B", "Hall C"]  # Hendon is the target; A is 3 short
    assert "1 / 4" in morning and "short: 3 short · 1 held for standby · 1 waiting" in morning
    assert "8 / 10 · 3 here · 1 on the way · 1 no-show" in morning
    assert "filling: 2 short" in morning
    assert "(not a target)" in morning  # Hall C, Islington North
    assert "9 of 20 places pledged" in morning
    assert "Workers alive: 0" in page and "Warning:" in page  # no worker in this test


def test_the_board_filters_sorts_and_refreshes_its_part(app, r):
    from bot.store import Store

    add_supporters(Store(r), [f"sms:+4477009001{n:02d}" for n in range(3)],
                   pledge=Pledge("c", ("morning",)))  # fmt: skip
    client = app.test_client()
    sign_in(client, "organiser-token-123")
    evening = client.get("/admin/?shift=evening").text
    assert 'id="shift-evening"' in evening and 'id="shift-morning"' not in evening
    assert '<option value="evening" selected>' in evening
    hendon = client.get("/admin/?seat=Hendon&shift=morning").text
    assert re.findall(r"<td>(Hall [ABC])</td>", hendon) == ["Hall B", "Hall A"]  # 10, 4 short
    by_name = client.get("/admin/?sort=name&shift=morning").text
    assert re.findall(r"<td>(Hall [ABC])</td>", by_name) == ["Hall A", "Hall B", "Hall C"]
    nothing = client.get("/admin/?seat=Nowhere").text
    assert "No rooms match." in nothing
    odd = client.get("/admin/?sort=<script>&shift=nope")  # unknown choices: the defaults
    assert odd.status_code == 200 and "<script>" not in odd.text.split("<main>")[1].split(
        "live.js")[0]  # fmt: skip
    part = client.get("/admin/?shift=morning", headers={"X-Partial": "1"})
    assert part.status_code == 200 and "<html" not in part.text
    assert "Workers alive" in part.text and "3 / 6" in part.text  # Hall C's pledges
    # The chart's running totals, in words as well as lines.
    assert "3 supporters (3 this hour); 3 pledges (3 this hour)." in part.text
    assert part.text.count("<polyline") == 2


def test_what_people_and_organisers_wrote_is_shown_as_text_not_markup(app, r, settings):  # noqa: F811
    hostile = ROOMS.replace("Hall C", "<script>alert(1)</script>")
    client = app.test_client()
    assert client.post("/admin/api/rooms/import", data=hostile, headers=AUTH).status_code == 200
    sign_in(client, "organiser-token-123")
    page = client.get("/admin/").text
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_a_deep_link_survives_signing_in(app):
    client = app.test_client()
    asked = client.get("/admin/?shift=morning&sort=name")
    form = client.get(asked.headers["Location"])
    assert 'name="next" value="/admin/?shift=morning&amp;sort=name"' in form.text
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
    data = {"token": "organiser-token-123", "csrf": csrf, "next": "/admin/?shift=morning&sort=name"}
    resp = client.post("/admin/sign-in", data=data)
    assert resp.headers["Location"] == "/admin/?shift=morning&sort=name"


def upload(client, text: str, name: str = "rooms.csv"):
    csrf = page_csrf(client)
    data = {"csrf": csrf, "file": (io.BytesIO(text.encode()), name)}
    return client.post("/admin/rooms/check", data=data, content_type="multipart/form-data")


def test_a_rooms_file_is_previewed_then_applied(app, r):
    from bot.store import Store

    add_supporters(Store(r), ["sms:+447700900201"], pledge=Pledge("a", ("morning",)))
    client = app.test_client()
    sign_in(client, "organiser-token-123")
    before = client.get("/admin/rooms.csv")
    assert before.headers["Content-Disposition"] == "attachment; filename=rooms.csv"
    rows = before.text.splitlines()
    assert rows[0] == ("id,name,address,postcode,constituency,latitude,longitude,"
                       "capacity_morning,capacity_afternoon,capacity_evening,contact,"
                       "step_free,bring,parking,notes")  # fmt: skip
    assert rows[1].startswith("a,Hall A,1 St,N7 6AA,Hendon,51.59,-0.22,4,4,4,")
    same = upload(client, before.text).text  # the download loads back as it was
    assert "Added (0)" in same and "Updated (0)" in same and "Removed (0)" in same
    # Hall A removed (one person pledged there), Hall B bigger, Hall D new.
    edited = [rows[0], rows[2].replace(",10,10,2,", ",12,12,2,"), rows[3],
              "d,Hall D,4 St,N7 6AE,Hendon,51.57,-0.2,5,5,5,"]  # fmt: skip
    preview = upload(client, "\n".join(edited) + "\n")
    assert preview.status_code == 200
    text = preview.text
    assert "Added (1): d" in text and "Updated (1): b" in text and "Removed (1): a" in text
    assert "who would be moved: 1" in text and "room a is being removed with 1 people" in text
    assert len(Store(r).rooms.load().rooms) == 3 and "d" not in Store(r).rooms.load().rooms
    uid = re.search(r'name="upload" value="([^"]+)"', text).group(1)
    csrf = page_csrf(client)
    refused = client.post("/admin/rooms/apply", data={"csrf": csrf, "upload": uid})
    assert refused.status_code == 409 and "tick the box" in refused.text  # people pledged
    done = client.post("/admin/rooms/apply", data={"csrf": csrf, "upload": uid, "move": "yes"})
    assert done.status_code == 302
    page = client.get(done.headers["Location"]).text
    assert "3 rooms loaded: 1 added, 1 updated, 1 removed, 1 people moved" in page
    assert set(Store(r).rooms.load().rooms) == {"b", "c", "d"}
    again = client.post("/admin/rooms/apply", data={"csrf": csrf, "upload": uid, "move": "yes"})
    assert again.status_code == 410 and "upload it again" in again.text


def test_a_bad_row_shows_its_row_and_column_and_changes_nothing(app, r):
    from bot.store import Store

    client = app.test_client()
    sign_in(client, "organiser-token-123")
    bad = ROOMS.replace("b,Hall B,2 St,N7 6AB,Hendon,51.58,-0.21,10,2",
                        "b,,2 St,N7 6AB,Hendon,51.58,-0.21,ten,2")  # fmt: skip
    resp = upload(client, bad, "my rooms.csv")
    assert resp.status_code == 400 and "my rooms.csv was not loaded: nothing changed" in resp.text
    assert "row 3, column name" in resp.text and "row 3, column capacity" in resp.text
    assert 'name="upload"' not in resp.text  # nothing to apply
    assert set(Store(r).rooms.load().rooms) == {"a", "b", "c"}


def test_a_viewer_can_download_the_rooms_but_not_change_them(app):
    client = app.test_client()
    sign_in(client, VIEWER_TOKEN)
    page = client.get("/admin/rooms").text
    assert "you can download the rooms, not change them" in page and "Check the file" not in page
    assert client.get("/admin/rooms.csv").status_code == 200
    resp = upload(client, ROOMS)
    assert resp.status_code == 403 and "Priya is a viewer" in resp.text
    targets = check_targets(client, TARGETS.encode(), "targets.csv", kind="targets")
    assert targets.status_code == 403


RESULTS = Path(__file__).parent / "data" / "results-small.csv"


def check_targets(client, data: bytes, name: str, **form):
    body = {"csrf": page_csrf(client), "file": (io.BytesIO(data), name), **form}
    return client.post("/admin/targets/check", data=body, content_type="multipart/form-data")


def test_targets_are_previewed_then_applied_from_a_file_or_the_results(app, r):
    from bot.store import Store

    client = app.test_client()
    sign_in(client, "organiser-token-123")
    both = b"constituency,priority\nHendon,1\nIslington North,2\n"
    preview = check_targets(client, both, "targets.csv", kind="targets")
    assert preview.status_code == 200
    assert "2 target seats from targets.csv" in preview.text
    assert "Hendon (priority 1)" in preview.text and "Islington North (priority 2)" in preview.text
    assert set(Store(r).rooms.load().targets) == {"E14001279"}  # only Hendon, as before
    uid = re.search(r'name="upload" value="([^"]+)"', preview.text).group(1)
    applied = client.post("/admin/targets/apply", data={"csrf": page_csrf(client), "upload": uid})
    assert applied.status_code == 302
    assert "2 target seats loaded" in client.get(applied.headers["Location"]).text
    assert len(Store(r).rooms.load().targets) == 2
    # From the results file: the party and the majority chosen on the page.
    chosen = check_targets(client, RESULTS.read_bytes(), "results.csv", kind="results",
                           party="Lab", max_majority_pct="5")  # fmt: skip
    assert chosen.status_code == 200 and "results.csv (Lab &lt;= 5%)" in chosen.text
    assert "Aldershot (priority 1)" in chosen.text and "Hendon (priority 4)" in chosen.text
    assert "room c (Islington North) is not in a target seat" in chosen.text
    wrong = check_targets(client, RESULTS.read_bytes(), "results.csv", kind="results",
                          party="Whigs", max_majority_pct="ten")  # fmt: skip
    assert wrong.status_code == 400 and "give the largest majority as a number" in wrong.text
    nobody = check_targets(client, RESULTS.read_bytes(), "results.csv", kind="results",
                           party="Whigs", max_majority_pct="5")  # fmt: skip
    assert nobody.status_code == 400  # (the quotes are HTML's)
    assert "no party &#39;Whigs&#39; in the results file" in nobody.text
    bad = check_targets(client, b"constituency,priority\nHendon,first\n", "t.csv", kind="targets")
    assert bad.status_code == 400 and "row 2, column priority" in bad.text
    assert len(Store(r).rooms.load().targets) == 2  # nothing changed


def test_with_redis_away_the_pages_say_so_in_a_page_and_still_have_their_style(settings):  # noqa: F811
    away = replace(settings, redis_url=f"redis://127.0.0.1:{free_port()}/0")
    client = create_app(away).test_client()
    client.set_cookie("pd_session", "an organiser signed in before Redis went")
    page = client.get("/admin/")
    assert page.status_code == 503 and page.mimetype == "text/html"
    assert "The bot&#39;s database (Redis) is not answering" in page.text
    assert client.get("/admin/static/admin.css").status_code == 200
    client.delete_cookie("pd_session")
    signing_in = sign_in(client, "organiser-token-123")  # the form itself needs no Redis
    assert signing_in.status_code == 503 and "(Redis) is not answering" in signing_in.text


def test_the_board_and_the_api_list_the_rooms_that_asked_for_people_and_how_it_went(app, r):
    from bot.store import Store

    s = Store(r)
    client = app.test_client()
    sign_in(client, "organiser-token-123")
    assert "No room has needed to ask yet." in client.get("/admin/").text
    start = 1_872_000_000  # 2029-04-27 17:00 BST
    assert s.backfill.ask("a", "evening", 3, ["sms:+1", "sms:+2", "sms:+3"], start, 600) == [
        "sms:+1", "sms:+2", "sms:+3"
    ]  # fmt: skip
    s.backfill.answered("sms:+1", "a", "evening", "took")
    s.backfill.answered("sms:+2", "a", "evening", "declined")
    wave = s.backfill.ask("b", "morning", 1, ["whatsapp:+4"], start + 60, 600, outside_window=2)
    assert wave == ["whatsapp:+4"]
    s.backfill.answered("whatsapp:+4", "b", "morning", "took")
    assert s.backfill.covered([("b", "morning"), ("c", "morning")], start + 900) == 1
    page = client.get("/admin/", headers={"X-Partial": "1"}).text
    rows = page[page.index('class="backfills"') : page.index("By seat")]
    assert re.findall(r"<td>(Hall [ABC])</td>", rows) == ["Hall B", "Hall A"]  # newest first
    assert "covered at 17:15" in rows and "asking: 3 short" in rows
    assert "3 in 1 wave" in rows and "1 coming · 0 too late · 1 can't" in rows
    assert "(2 on WhatsApp not asked: outside their 24 h)" in rows
    got = client.get("/admin/api/backfills", headers=AUTH).json["backfills"]
    assert [(b["room"], b["shift"], b["status"], b["asked"], b["took"]) for b in got] == [
        ("b", "morning", "covered", 1, 1), ("a", "evening", "asking", 3, 1)
    ]  # fmt: skip
    assert got[1]["started"] == "17:00" and got[1]["declined"] == 1


def test_the_board_says_how_many_whatsapp_messages_were_not_sent_outside_the_24_hours(app, r):
    client = app.test_client()
    sign_in(client, "organiser-token-123")
    assert "outside the person's 24 hours" not in client.get("/admin/").text
    r.hset("pd:pulse:counts", "sends:whatsapp:outside_window", 7)
    page = " ".join(client.get("/admin/", headers={"X-Partial": "1"}).text.split())
    assert "not sent on WhatsApp, outside the person's 24 hours (reminders, chases, the " \
           "polling-day message): 7" in page  # fmt: skip
