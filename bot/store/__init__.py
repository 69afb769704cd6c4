"""Everything the app keeps in Redis: one module per concept, every key declared in keys.py.

``Store`` gathers them for one Redis connection, key prefix and ``ID_SECRET``:

  inbox        queued messages, the ready lists, the per-person lock (inbox.py)
  people       conversations, the people and consent indexes, the outbox (people.py)
  places       places taken and pledges (places.py)
  arrivals     who has checked in at their room, per shift (arrivals.py)
  backfill     who is near, and each room short of people on the day (backfill.py)
  coordinators room links, relayed messages and replies, too many (coordinators.py)
  standby      standby lists, and freed places held for someone on one (standby.py)
  referrals    codes and counts (referrals.py)
  suppression  STOP and seen, by one-way id: outlives DELETE (suppression.py)
  rooms        committee rooms and target seats: the directory (directory.py)
  jobs         work asked of the workers without RQ (jobs.py)
  timed        reminders and held-back replies, into the inbox when due (timed.py)
  calendar     the polling day the data belongs to (calendar.py)
  pulse        worker heartbeats, counts, how long people wait (pulse.py)
  sessions     organisers signed in to the organiser pages (sessions.py)
  broadcasts   records, recipient lists, ledgers (broadcasts.py; ``Broadcasts(store)``)

DELETE (``Store.erase``) and the purge (``Store.purge``) walk keys.py (erase.py).
"""

from __future__ import annotations

import redis

from bot.store import keys
from bot.store.arrivals import Arrivals
from bot.store.backfill import Backfill
from bot.store.calendar import Calendar
from bot.store.coordinators import Coordinators
from bot.store.directory import Rooms
from bot.store.erase import Eraser
from bot.store.inbox import Inbox
from bot.store.jobs import Jobs
from bot.store.people import People
from bot.store.places import Places
from bot.store.pulse import Pulse
from bot.store.referrals import Referrals
from bot.store.sessions import Sessions
from bot.store.standby import Standby
from bot.store.suppression import Suppression
from bot.store.timed import Timed

INDEX_VERSION = "1"  # bump when a new index must be built from what is stored
CLAIM_INDEX = """
-- KEYS: 1 indexed. ARGV: 1 the version. 1: build it now (claimed for ten minutes, so one
-- killed half way is built again by the next to start); 0: built, or being built.
local got = redis.call('GET', KEYS[1])
if got == ARGV[1] or got == 'building' then return 0 end
redis.call('SET', KEYS[1], 'building', 'EX', 600)
return 1
"""


class Store:
    """The app's Redis, by concept."""

    def __init__(self, r: redis.Redis, prefix: str = "pd", secret: str | bytes = "") -> None:
        key = secret.encode() if isinstance(secret, str) else secret
        self.r, self.p, self.secret = r, prefix, key
        self.inbox = Inbox(r, prefix, key)
        self.people = People(r, prefix, key)
        self.places = Places(r, prefix)
        self.standby = Standby(r, prefix)
        self.arrivals = Arrivals(r, prefix)
        self.backfill = Backfill(r, prefix, key)
        self.coordinators = Coordinators(r, prefix)
        self.referrals = Referrals(r, prefix, key)
        self.suppression = Suppression(r, prefix, key)
        self.rooms = Rooms(r, prefix)
        self.jobs = Jobs(r, prefix)
        self.timed = Timed(r, prefix)
        self.calendar = Calendar(r, prefix)
        self.pulse = Pulse(r, prefix)
        self.sessions = Sessions(r, prefix, key)
        self._claim_index = r.register_script(CLAIM_INDEX)
        self._eraser = Eraser(r, prefix, key, self.referrals.places)

    def erase(self, address: str) -> list[tuple[str, str]]:
        """Delete everything about an address except its suppression record: their places
        (and any held for them) are given back first, then every declared key is walked.
        The (room, shift) places freed, for the next person on standby."""
        freed = self.places.release(address) + self.standby.leave(address)
        self._eraser.erase(address)
        return freed

    def leaving(self, address: str) -> None:
        """DELETE has just arrived (the web records it): from now on nothing is sent to
        them, while the messages queued ahead of it take their turns and its own turn
        erases the rest."""
        self._eraser.leave(address)

    def index(self) -> bool:
        """Build, from what is stored, the indexes that every save and pledge now keeps
        (who is near, for backfill; who is at each room, for its coordinator), once per
        Redis for data written before they were kept; True if it was built now."""
        if not self._claim_index(keys=[keys.INDEXED(self.p)], args=[INDEX_VERSION]):
            return False  # built, or another worker is building it
        self.people.index_nearby()
        self.places.index_rosters()
        self.r.set(keys.INDEXED(self.p), INDEX_VERSION)  # last: one killed half way redoes it
        return True

    def purge_plan(self) -> dict[str, int]:
        """What the purge would remove, by key pattern."""
        return self._eraser.plan()

    def purge(self) -> dict[str, int]:
        """Remove all personal data (every key declared ``purge``), keeping the suppression
        records, the rooms and targets, and totals that name no one."""
        return self._eraser.purge()
