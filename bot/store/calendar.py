"""Which polling day the data in Redis belongs to, so that a date edited in config.yaml can
never purge supporters or recruit for a day that has gone (see ``guard``)."""

from __future__ import annotations

from datetime import date

import redis

from bot.store import keys


class Calendar:
    """The polling day recorded with the data."""

    def __init__(self, r: redis.Redis, prefix: str) -> None:
        self.r, self.p = r, prefix

    def polling_day(self) -> date | None:
        """The day the supporters in Redis signed up for; None before the first start."""
        raw = self.r.get(keys.POLLING_DAY(self.p))
        return date.fromisoformat(raw.decode()) if raw else None

    def set_polling_day(self, day: date) -> None:
        """Record the day (the first start, or an organiser moving the campaign)."""
        self.r.set(keys.POLLING_DAY(self.p), day.isoformat())

    def supporters(self) -> int:
        """How many people the data holds (their conversations)."""
        return int(self.r.scard(keys.PEOPLE(self.p)))
