"""The organiser pages in a real browser: Playwright driving Debian's chromium (no browser
download) against the real web and worker processes and the fake platforms. Each test saves
a screenshot of the pages it saw in var/screenshots/ (the test artifacts).

Skipped, saying why, where Playwright or chromium is not installed; `make test` installs
chromium where apt-get can.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import ADMIN_TOKEN, Bot

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


@pytest.fixture(scope="module")
def bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bot]:
    system = Bot(tmp_path_factory.mktemp("browser"))
    try:
        system.start(workers=1)
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
