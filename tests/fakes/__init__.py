"""Fake Telegram Bot API, Twilio, postcodes.io and Democracy Club servers for tests
(127.0.0.1, keep-alive)."""

from .democracy_club import FakeDemocracyClub
from .postcodes_io import FakePostcodesIo
from .server import FakeServer, Recorded
from .telegram import FakeTelegram
from .twilio import TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, FakeTwilio, sign

__all__ = [
    "TEST_ACCOUNT_SID",
    "TEST_AUTH_TOKEN",
    "FakeDemocracyClub",
    "FakePostcodesIo",
    "FakeServer",
    "FakeTelegram",
    "FakeTwilio",
    "Recorded",
    "sign",
]
