"""Fake Telegram Bot API, Twilio and postcodes.io servers for tests (127.0.0.1, keep-alive)."""

from .postcodes_io import FakePostcodesIo
from .server import FakeServer, Recorded
from .telegram import FakeTelegram
from .twilio import TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, FakeTwilio, sign

__all__ = [
    "TEST_ACCOUNT_SID",
    "TEST_AUTH_TOKEN",
    "FakePostcodesIo",
    "FakeServer",
    "FakeTelegram",
    "FakeTwilio",
    "Recorded",
    "sign",
]
