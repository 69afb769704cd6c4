"""Channels: one file per platform, each implementing ``Channel`` (bot/channels/base.py) whole.

A platform's file holds everything the bot knows about it: the webhook's check (``verify``),
its payloads (``parse`` → ``Inbound``), its answer to the webhook, its senders (``Outbound``
→ platform API → ``SendResult``, platform error codes mapped to neutral meaning), and what
each of its address channels can do (``Capabilities``: buttons, a location button,
templates, a reply window). The web app and the workers loop over :func:`enabled`; nothing
outside this folder names a platform's error code or limit.

Adding a platform means one file here (a ``Channel`` subclass, deciding from ``Settings``
whether it is on), its name in ``PLATFORMS`` below, and its test file of two tables,
``tests/test_channel_<name>.py``: recorded payloads (tests/payloads/) → HTTP status →
``Inbound``s, and ``Outbound`` → the exact request its fake platform (tests/fakes/)
receives → ``SendResult``, one row per error it maps.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.channels.base import Capabilities, Channel, ParseError, Received, Sender, Webhook
from bot.channels.console import ConsoleChannel
from bot.channels.telegram import TelegramChannel
from bot.channels.twilio import TwilioChannel

if TYPE_CHECKING:
    from bot.config import Settings

__all__ = [
    "PLATFORMS",
    "Capabilities",
    "Channel",
    "ParseError",
    "Received",
    "Sender",
    "Webhook",
    "capabilities",
    "enabled",
]

PLATFORMS: tuple[type[Channel], ...] = (TelegramChannel, TwilioChannel, ConsoleChannel)
_CAPABILITIES = {name: caps for p in PLATFORMS for name, caps in p.capabilities.items()}
_PLAIN = Capabilities()


def enabled(settings: Settings) -> dict[str, Channel]:
    """The platforms that are on in ``settings``, by name."""
    on = (platform.from_settings(settings) for platform in PLATFORMS)
    return {channel.name: channel for channel in on if channel is not None}


def capabilities(address_channel: str) -> Capabilities:
    """What an address channel (``telegram``, ``whatsapp``...) can do; plain text if unknown."""
    return _CAPABILITIES.get(address_channel, _PLAIN)
