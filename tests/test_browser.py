"""The organiser pages in a real browser: Playwright driving Debian's chromium (no browser
download) against the real web and worker processes and the fake platforms. Each test saves
a screenshot of the pages it saw in var/screenshots/ (the test artifacts).

Skipped, saying why, where Playwright or chromium is not installed; `make test` installs
chromium where apt-get can.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.model.person import Pledge
from bot.redis_server import RedisServer
from bot.store import Store
from tests.harness import ADMIN_TOKEN, ID_SECRET, Bot
from tests.people import add_supporters

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None:
    pytest.skip(
        "Debian's chromium is not installed (make test installs it where apt-get can)",
        allow_module_level=True,
    )

SHOTS = Path(__file__).resolve().parent.parent / "var" / "screenshots"
# As this machine needs them: no sandbox as root, and nothing reaching for Google's hosts.
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


VIEWER_TOKEN = "viewer-token-in-the-browser"
VIEWER = hashlib.sha256(VIEWER_TOKEN.encode()).hexdigest()
FANS = [f"telegram:{800_000 + i}" for i in range(40)] + ["sms:+447700900501"]


@pytest.fixture(scope="module")
def bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bot]:
    logins = f"organiser_logins: [{{name: Priya, role: viewer, token_sha256: {VIEWER}}}]\n"
    system = Bot(tmp_path_factory.mktemp("browser"), config_extra=logins)
    try:
        system.start(workers=1)
        store = Store(system.r, secret=ID_SECRET)
        add_supporters(store, FANS[:30], pledge=Pledge("safe", ("morning",)))
        add_supporters(store, FANS[30:])
        yield system
    finally:
        system.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, request):
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    yield page
    shot(page, request.node.name)
    context.close()


def shot(page, name: str) -> None:
    """Save a screenshot of the page as it is now (the fixture saves the last one too)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def sign_in(page, bot: Bot, token: str = ADMIN_TOKEN) -> None:
    page.goto(bot.url + "/admin/")
    assert page.url.startswith(bot.url + "/admin/sign-in")  # signed out: the form, no data
    page.fill("#token", token)
    page.click("button[type=submit]")


def test_sign_in_and_see_the_shortest_room_first_with_its_numbers(bot, page):
    page.goto(bot.url + "/admin/")
    assert "Hall" not in page.content() and page.locator("#token").is_visible()
    page.fill("#token", "not the token")
    page.click("button[type=submit]")
    assert "That token was not recognised." in page.content()
    page.fill("#token", ADMIN_TOKEN)
    page.click("button[type=submit]")
    page.wait_for_url(bot.url + "/admin/")
    morning = page.locator("#shift-morning tbody tr")
    # Archway (a target seat, 5 places, none pledged) is the shortest target room.
    assert morning.nth(0).locator("td").nth(0).inner_text() == "Archway Centre"
    assert (
        "0 / 5" in morning.nth(0).inner_text() and "short: 5 short" in morning.nth(0).inner_text()
    )
    assert "Workers alive: 1" in page.locator(".pulse").inner_text()


def test_a_filter_changes_the_board_without_a_reload(bot, page):
    sign_in(page, bot)
    page.wait_for_url(bot.url + "/admin/")
    page.evaluate("window.marker = 'still here'")  # gone if the page reloads
    page.select_option("select[name=shift]", "evening")
    page.wait_for_function("!document.querySelector('#shift-morning')")
    assert page.locator("#shift-evening").is_visible()
    assert page.evaluate("window.marker") == "still here"
    assert page.url.endswith("/admin/?shift=evening&sort=short")


def test_on_a_phone_the_board_fits_and_signing_out_ends_it(bot, browser, request):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    sign_in(page, bot)
    page.wait_for_url(bot.url + "/admin/")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 400, f"the board is {width} px wide on a 390 px phone"
    shot(page, request.node.name)
    for path in ("/admin/broadcasts", "/admin/rooms"):  # the other pages fit as well
        page.goto(bot.url + path)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 400, f"{path} is {width} px wide on a 390 px phone"
        shot(page, f"phone-{path.rsplit('/', 1)[1]}")
    page.click("text=Sign out")
    page.wait_for_url(bot.url + "/admin/sign-in")
    page.goto(bot.url + "/admin/")
    assert page.url.startswith(bot.url + "/admin/sign-in")
    context.close()


def test_a_rooms_file_with_a_bad_row_shows_the_row_and_changes_nothing(bot, page, tmp_path):
    sign_in(page, bot)
    page.wait_for_url(bot.url + "/admin/")
    page.click("text=Rooms")
    page.wait_for_url(bot.url + "/admin/rooms")
    bad = tmp_path / "rooms.csv"
    bad.write_text("id,name,address,postcode,constituency,capacity\nx,,1 St,N7 6AA,Hendon,ten\n")
    page.set_input_files("input[name=file]", str(bad))
    page.click("text=Check the file")
    alert = page.locator(".warning")
    assert "rooms.csv was not loaded: nothing changed" in alert.inner_text()
    assert "row 2, column name" in alert.inner_text()
    assert "Apply these changes" not in page.content()
    shot(page, "rooms-with-a-row-error")
    page.goto(bot.url + "/admin/")
    assert page.locator("#shift-morning tbody tr").count() == 4  # the same four rooms


def compose(page, bot: Bot, token: str = ADMIN_TOKEN) -> None:
    sign_in(page, bot, token)
    page.wait_for_url(bot.url + "/admin/")
    page.click("nav >> text=Broadcasts")
    page.wait_for_url(bot.url + "/admin/broadcasts")


def count(page, expected: int) -> None:
    """Wait for the dry run's count to read ``expected``."""
    page.wait_for_function(
        f"document.querySelector('#count')?.dataset.count === '{expected}'", timeout=10_000
    )


def test_a_filter_changes_the_dry_run_count(bot, page):
    compose(page, bot)
    count(page, len(FANS))  # everyone who agreed, before a word is written
    page.fill("#text", "Polls close at 10pm: one last push!")
    page.wait_for_function("document.querySelector('#preview pre.message') !== null")
    assert "Promoted by" in page.locator("#preview pre.message").first.inner_text()
    page.select_option("select[name=pledged]", "yes")
    count(page, 30)
    page.select_option("select[name=channel]", "sms")
    count(page, 0)
    page.select_option("select[name=pledged]", "")
    count(page, 1)
    assert "1 SMS part each (GSM-7)" in page.locator("#preview").inner_text()
    shot(page, "broadcast-composer")


def test_send_a_broadcast_and_watch_its_progress_reach_100(bot, page):
    compose(page, bot)
    page.fill("#text", "Thank you! Polls are open until 10pm.")
    page.select_option("select[name=pledged]", "yes")
    count(page, 30)
    page.click("text=Check before sending")
    page.wait_for_url(bot.url + "/admin/broadcasts/review")
    shot(page, "broadcast-review")
    assert page.locator("#send").inner_text() == "Send to 30 people now"
    page.click("#send")
    page.wait_for_url(f"{bot.url}/admin/broadcasts/*")
    page.wait_for_function(
        "document.querySelector('#percent')?.textContent === '100%'", timeout=30_000
    )
    assert page.locator("#state").inner_text() == "Finished"
    assert page.locator("#sent").inner_text() == "30"
    shot(page, "broadcast-progress")
    sent = [m for m in bot.telegram.sent() if m["text"].startswith("Thank you! Polls")]
    assert sorted(int(m["chat_id"]) for m in sent) == list(range(800_000, 800_030))
    page.click("nav >> text=Broadcasts")
    assert "done: 30 sent of 30" in page.locator("table.past").inner_text()


def test_a_viewer_sees_the_count_but_cannot_send(bot, page):
    before = bot.r.get("pd:bc:seq")
    compose(page, bot, VIEWER_TOKEN)
    page.fill("#text", "From a viewer")
    count(page, len(FANS))
    page.click("text=Check before sending")
    page.wait_for_url(bot.url + "/admin/broadcasts/review")
    assert "viewers cannot send broadcasts" in page.content()
    assert page.locator("#send").count() == 0
    assert bot.r.get("pd:bc:seq") == before  # nothing was sent


def test_signed_out_every_page_goes_to_sign_in(bot, page):
    for path in ("/admin/", "/admin/rooms", "/admin/broadcasts", "/admin/broadcasts/1"):
        page.goto(bot.url + path)
        assert page.url.startswith(bot.url + "/admin/sign-in?next="), path
        assert "Hall" not in page.content() and "Archway" not in page.content()
    shot(page, "sign-in")


def test_a_board_that_cannot_refresh_says_so_until_it_can(bot, page):
    """Last in this file: it stops the module's Redis, and starts it again."""
    sign_in(page, bot)
    page.wait_for_url(bot.url + "/admin/")
    assert page.locator("#stale").is_hidden()
    old = bot.redis_server
    old.stop()
    try:
        page.wait_for_selector("#stale", state="visible", timeout=25_000)  # a 15 s refresh
        assert "cannot reach its database (Redis)" in page.locator("#stale").inner_text()
        assert page.locator("#shift-morning").is_visible()  # the last figures stay
        shot(page, "board-not-up-to-date")
    finally:
        bot.redis_server = RedisServer(old.data_dir, port=old.port).start()
    page.wait_for_selector("#stale", state="hidden", timeout=25_000)
