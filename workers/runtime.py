"""Everything a worker process builds once: settings, Redis, rooms, geocoder, senders."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import cache

import redis

from bot.channels import Sender, enabled
from bot.config import ConfigError, Settings, load_settings
from bot.geo import Geocoder, make_geocoder
from bot.organising import seed_from_config
from bot.pacing import Pacer
from bot.polling_stations import PollingStations
from bot.postcode_seats import postcode_seats
from bot.store import Store
from bot.store.directory import DirectoryCache
from bot.world import LiveWorld

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    """Per-process state of a worker."""

    settings: Settings
    redis: redis.Redis
    store: Store
    world: LiveWorld
    pacer: Pacer
    senders: dict[str, Sender] = field(default_factory=dict)

    def sender(self, channel: str) -> Sender | None:
        """The sender for a channel, or None when that channel is off."""
        return self.senders.get(channel)


def build(settings: Settings) -> Runtime:
    """Connect, load rooms and targets (raising on a bad file), and make the senders."""
    r = redis.Redis.from_url(settings.redis_url)
    store = Store(r, settings.key_prefix, settings.id_secret)
    c = settings.campaign
    geocoder: Geocoder = make_geocoder(
        settings.geocoder, settings.var_dir / "geo", settings.postcodes_io_url
    )
    if seed_from_config(store, c, geocoder):
        log.info("rooms and targets seeded from %s and %s", c.rooms_csv, c.targets_csv)
    if store.index():
        log.info("the indexes for backfill and coordinators were built from stored data")
    cache = DirectoryCache(store.rooms)
    directory = cache.get()
    senders: dict[str, Sender] = {}
    for channel in enabled(settings).values():
        senders.update(channel.senders(r))
    log.info(
        "worker ready: %d rooms (%d not in a target seat), channels %s",
        len(directory.rooms),
        len(directory.unmatched()),
        ", ".join(sorted(senders)),
    )
    try:
        seats = postcode_seats(geocoder, c.postcode_seats_file)
    except ValueError as exc:
        raise ConfigError(f"{c.source}: postcode_seats: {exc}") from None
    stations = None
    if settings.democracy_club_api_key:
        stations = PollingStations(settings.democracy_club_api_key, settings.democracy_club_api_url)
    world = LiveWorld(store, c, cache, geocoder, seats, stations)
    pacer = Pacer(r, c.rate_limits, settings.key_prefix, secret=store.secret)
    return Runtime(settings, r, store, world, pacer, senders)


@cache
def runtime() -> Runtime:
    """This process's Runtime, built on first use from the environment."""
    return build(load_settings())
