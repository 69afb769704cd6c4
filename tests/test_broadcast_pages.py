"""The broadcast pages on a real Redis: compose with a dry run, review naming the count,
send, watch progress, cancel; viewers look but cannot send."""

from __future__ import annotations

import re
import time
from dataclasses import replace

import pytest

from bot.app import create_app
from bot.model.person import Pledge
from bot.store import Store
from tests.people import add_supporters
from tests.test_admin import AUTH, campaign, settings, store  # noqa: F401
from tests.test_admin_pages import VIEWER_TOKEN, app, page_csrf, sign_in  # noqa: F401

IMPRINT = "Promoted by A. Agent on behalf of the Labour Party, 1 Example Street, London N1 1AA."
DAY = 24 * 3600
PARTIAL = {"X-Partial": "1"}


@pytest.fixture
def people(r):
    """Five supporters on three channels; one did not agree to updates."""
    s, now = Store(r), time.time()
    add_supporters(s, ["sms:+447700900001"], pledge=Pledge("a", ("morning",)))
    add_supporters(s, ["telegram:1"], pledge=Pledge("b", ("evening",)))
    add_supporters(s, ["whatsapp:+447700900003"], last_inbound=now - 2 * DAY)
    add_supporters(s, ["whatsapp:+447700900004"], last_inbound=now - 60)
    add_supporters(s, ["sms:+447700900005"], consent=False)
    return s


def organiser(app, token: str = "organiser-token-123"):  # noqa: F811
    client = app.test_client()
    assert sign_in(client, token).status_code == 302
    return client, page_csrf(client)


def dry_run(client, csrf: str, **fields):
    return client.post("/admin/broadcasts/preview", data={"csrf": csrf, **fields}, headers=PARTIAL)


def count(html: str) -> int:
    return int(re.search(r'data-count="(\d+)"', html).group(1))


def test_the_dry_run_counts_the_audience_and_shows_the_message_per_channel(app, people, r):  # noqa: F811
    client, csrf = organiser(app)
    resp = dry_run(client, csrf, text="Polls open at 7!")
    assert resp.status_code == 200 and "<html" not in resp.text
    assert count(resp.text) == 4 and "4</strong>\n  people would get it: Everyone." in resp.text
    assert "1 more in this audience did not agree to updates" in resp.text
    channels = re.findall(r"<h3>(\w+): (\d+)</h3>", resp.text)
    assert channels == [("WhatsApp", "2"), ("SMS", "1"), ("Telegram", "1")]
    assert resp.text.count(f"Polls open at 7!\n\n{IMPRINT}") == 3  # as each channel shows it
    assert "1 of them last wrote over 24 hours ago and will be skipped" in resp.text
    assert "102 characters: 1 SMS part each (GSM-7)" in resp.text
    assert r.keys("pd:bc:*") == []  # a dry run stores nothing
    # Each filter changes the count, as the composer's fields change.
    for fields, expected in [
        ({"channel": "sms"}, 1),
        ({"pledged": "yes"}, 2),
        ({"pledged": "no"}, 2),
        ({"shift": "evening"}, 1),
        ({"room": "a"}, 1),
        ({"constituency": "Hendon"}, 2),
        ({"constituency": "Islington North"}, 0),
    ]:
        assert count(dry_run(client, csrf, text="Hi", **fields).text) == expected, fields
    words = dry_run(client, csrf, text="Hi", shift="evening", channel="telegram").text
    assert "People who have pledged, for the Evening shift, on Telegram." in words
    # Before any text: the count already, and no message to show.
    empty = dry_run(client, csrf, text="")
    assert count(empty.text) == 4 and "<pre" not in empty.text
    bad = dry_run(client, csrf, text="Hi", room="nowhere")
    assert bad.status_code == 400 and "audience.room: no room &#39;nowhere&#39;" in bad.text
    blank = dry_run(client, csrf, text="\u200b \u200b")
    assert blank.status_code == 400 and "The message: nothing visible" in blank.text


def test_with_a_template_whatsapp_outside_24_hours_is_shown_the_template(settings, r, people):  # noqa: F811
    templated = replace(settings.campaign, broadcast_template="HX0123456789abcdef")
    app = create_app(replace(settings, campaign=templated))  # noqa: F811
    client, csrf = organiser(app)
    html = dry_run(client, csrf, text="Polls open at 7!", channel="whatsapp").text
    assert count(html) == 2
    assert ("1 of them last wrote over 24 hours ago: they get the approved template "
            "HX0123456789abcdef, with this message as its variable") in html  # fmt: skip


def test_review_names_the_count_then_sending_shows_its_progress(app, people, r):  # noqa: F811
    client, csrf = organiser(app)
    fields = {"csrf": csrf, "text": "Polls <b>close</b> at 10pm!", "pledged": "yes"}
    review = client.post("/admin/broadcasts/review", data=fields)
    assert review.status_code == 200
    assert "Send to 2 people now" in review.text
    assert "Polls &lt;b&gt;close&lt;/b&gt; at 10pm!" in review.text  # text, never markup
    assert r.keys("pd:bc:*") == []  # nothing yet
    sent = client.post("/admin/broadcasts/send", data={**fields, "count": "2"})
    assert sent.status_code == 302 and sent.headers["Location"] == "/admin/broadcasts/1"
    status = app.test_client().get("/admin/api/broadcasts/1", headers=AUTH).get_json()
    assert status["total"] == 2 and status["audience"] == {"pledged": True}
    assert status["text"] == "Polls <b>close</b> at 10pm!"
    page = client.get("/admin/broadcasts/1")
    assert page.status_code == 200 and 'data-refresh="2"' in page.text
    assert "Waiting to start" in page.text and "0 of 2" in page.text and ">0%<" in page.text
    assert 'id="cancel"' in page.text and "data-final" not in page.text
    part = client.get("/admin/broadcasts/1", headers=PARTIAL)
    assert "<html" not in part.text and "0 of 2" in part.text
    # The past broadcasts, under the composer.
    listed = client.get("/admin/broadcasts").text
    assert '<a href="/admin/broadcasts/1">#1</a>' in listed
    assert "People who have pledged" in listed and "queued: 0 sent of 2" in listed


def test_sending_to_an_audience_that_grew_or_is_empty_asks_again(app, people, r):  # noqa: F811
    client, csrf = organiser(app)
    # Four were checked; twenty more join before the click (a few more would be fine).
    add_supporters(Store(r), [f"sms:+4477009001{n:02d}" for n in range(20)])
    grown = client.post("/admin/broadcasts/send", data={"csrf": csrf, "text": "Hi", "count": "4"})
    assert grown.status_code == 409 and "grown since you checked it, to 24 people" in grown.text
    assert "Send to 24 people now" in grown.text
    nobody = client.post(
        "/admin/broadcasts/send",
        data={"csrf": csrf, "text": "Hi", "constituency": "Islington North", "count": "0"},
    )
    assert nobody.status_code == 409 and "nothing sent" in nobody.text
    unchecked = client.post("/admin/broadcasts/send", data={"csrf": csrf, "text": "Hi"})
    assert unchecked.status_code == 409 and "Check the broadcast and its count" in unchecked.text
    assert r.keys("pd:bc:*") == []


def test_cancel_stops_it_and_the_page_says_how_it_ended(app, people, r):  # noqa: F811
    client, csrf = organiser(app)
    client.post("/admin/broadcasts/send", data={"csrf": csrf, "text": "Hi", "count": "4"})
    no_csrf = client.post("/admin/broadcasts/1/cancel")
    assert no_csrf.status_code == 400
    done = client.post("/admin/broadcasts/1/cancel", data={"csrf": csrf})
    assert done.status_code == 302
    page = client.get("/admin/broadcasts/1").text
    assert "Cancelled" in page and "data-final" in page and 'id="cancel"' not in page
    assert "cancelled: 0 sent of 4" in client.get("/admin/broadcasts").text
    assert client.get("/admin/broadcasts/99").status_code == 404


def test_a_viewer_can_compose_and_look_but_not_send_or_cancel(app, people, r):  # noqa: F811
    admin, admin_csrf = organiser(app)
    admin.post("/admin/broadcasts/send", data={"csrf": admin_csrf, "text": "Hi", "count": "4"})
    client, csrf = organiser(app, VIEWER_TOKEN)
    assert count(dry_run(client, csrf, text="Hi").text) == 4
    review = client.post("/admin/broadcasts/review", data={"csrf": csrf, "text": "Hi"})
    assert "viewers cannot send broadcasts" in review.text and "Send to" not in review.text
    refused = client.post("/admin/broadcasts/send", data={"csrf": csrf, "text": "Hi", "count": "4"})
    assert refused.status_code == 403 and "viewers may look" in refused.text
    assert client.post("/admin/broadcasts/1/cancel", data={"csrf": csrf}).status_code == 403
    page = client.get("/admin/broadcasts/1")
    assert page.status_code == 200 and 'id="cancel"' not in page.text
    assert Store(r).r.get("pd:bc:seq") == b"1"  # the admin's one, and no other


def test_send_again_fills_the_composer_with_the_old_message_and_audience(app, people):  # noqa: F811
    client, csrf = organiser(app)
    data = {"csrf": csrf, "text": "Doors at 7", "pledged": "no", "channel": "whatsapp"}
    client.post("/admin/broadcasts/send", data={**data, "count": "2"})
    again = re.search(r'<a href="([^"]+)">Send something like it again',
                      client.get("/admin/broadcasts/1").text).group(1)  # fmt: skip
    composer = client.get(again.replace("&amp;", "&")).text
    assert ">Doors at 7</textarea>" in composer
    assert '<option value="no" selected>' in composer
    assert '<option value="whatsapp" selected>' in composer
