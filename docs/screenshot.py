"""Take the README's screenshot of the staffing board: ``.venv/bin/python docs/screenshot.py``.

The sample rooms and targets from config.yaml, 1,200 made-up supporters (a third of them
pledged, more to the target seats) joined over the last day, one worker beating, served
in this process on a Redis of its own and photographed by Debian's chromium (as the
browser tests are) into docs/staffing-board.png.
"""

from __future__ import annotations

import random
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import redis
from playwright.sync_api import sync_playwright
from werkzeug.serving import make_server

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot import organising  # noqa: E402
from bot.app import create_app  # noqa: E402
from bot.config import Settings, load_campaign  # noqa: E402
from bot.geo import make_geocoder  # noqa: E402
from bot.model.person import Pledge  # noqa: E402
from bot.redis_server import RedisServer, free_port  # noqa: E402
from bot.store import Store, keys  # noqa: E402
from tests.people import add_supporters  # noqa: E402

TOKEN = "screenshot-token"
OUT = ROOT / "docs" / "staffing-board.png"


def populate(store: Store, r: redis.Redis, rng: random.Random) -> None:
    """Supporters, pledges and the day's timeline, as a busy afternoon might leave them."""
    d = organising.directory(store)
    rooms = list(d.rooms.values())
    targets = [room for room in rooms if room.seat in d.targets]
    shifts = ("morning", "afternoon", "evening")
    for i in range(1200):
        address = f"telegram:{900_000 + i}"
        if rng.random() < 0.35:
            room = rng.choice(targets if rng.random() < 0.8 else rooms)
            pledge = Pledge(room.id, (rng.choice(shifts),))
            add_supporters(store, [address], pledge=pledge)
        else:
            add_supporters(store, [address])
    hour = int(time.time() // 3600)
    joined = [rng.randint(10, 90) for _ in range(24)]
    r.hset(keys.TIMELINE(store.p), mapping={
        **{f"joined|{hour - h}": n for h, n in enumerate(joined)},
        **{f"pledged|{hour - h}": n // 3 for h, n in enumerate(joined)},
    })  # fmt: skip
    store.pulse.beat("worker-1", True, {})


def main() -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        sys.exit("needs Debian's chromium (apt-get install chromium)")
    campaign = load_campaign(ROOT / "config.yaml")
    with tempfile.TemporaryDirectory() as tmp, RedisServer(Path(tmp)) as server:
        r = redis.Redis.from_url(server.url)
        store = Store(r)
        geocoder = make_geocoder("offline", ROOT / "var" / "geo", "")  # rooms by postcode
        organising.seed_from_config(store, campaign, geocoder)
        populate(store, r, random.Random(2017))
        settings = Settings(campaign=campaign, redis_url=server.url, admin_token=TOKEN,
                            var_dir=ROOT / "var")  # fmt: skip
        port = free_port()
        web = make_server("127.0.0.1", port, create_app(settings), threaded=True)
        threading.Thread(target=web.serve_forever, daemon=True).start()
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1100, "height": 1250})
            page.goto(f"http://127.0.0.1:{port}/admin/")
            page.fill("#token", TOKEN)
            page.click("button[type=submit]")
            page.wait_for_url(f"http://127.0.0.1:{port}/admin/")
            page.screenshot(path=str(OUT))
            browser.close()
        web.shutdown()
    print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
