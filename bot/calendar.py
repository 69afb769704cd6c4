"""The calendar cannot destroy data: what a worker (and ``make run``) checks before it
starts, against the polling day recorded with the data in Redis.

- The first start records config.yaml's polling day with the data.
- config.yaml naming another day while Redis holds supporters is refused: moving a
  campaign is ``pollday polling-day DATE`` (its reminders and purge move with it), never a
  side effect of an edit, which would schedule the purge from the wrong day.
- A polling day in the past is refused, unless the data was collected for that same day:
  then the scheduled purge (``retention_days`` later) is the intended end.
"""

from __future__ import annotations

import logging
from datetime import date

from bot.campaign import Campaign
from bot.config import ConfigError
from bot.store import Store

log = logging.getLogger(__name__)


def guard(store: Store, campaign: Campaign, today: date) -> None:
    """Refuse (ConfigError, naming the file, field and value) a start that the polling day
    in config.yaml would make destroy data or recruit for a day that has gone."""
    day, where = campaign.polling_day, f"{campaign.source}: polling_day: {campaign.polling_day}"
    recorded = store.calendar.polling_day()
    people = store.calendar.supporters()
    if day < today and not (recorded == day and people):
        raise ConfigError(
            f"{where} is in the past (today is {today}): set the coming polling day. "
            "Nothing was changed."
        )
    if recorded is not None and recorded != day and people:
        raise ConfigError(
            f"{where}, but the {people} supporters in Redis signed up for polling day "
            f"{recorded}. To move them to {day} (their reminders and the purge move too), run: "
            f"pollday polling-day {day}. To go back, set polling_day: {recorded}."
        )
    if recorded != day:
        store.calendar.set_polling_day(day)
    if day < today:
        log.warning("polling day %s has passed: the purge runs as scheduled", day)
