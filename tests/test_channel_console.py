"""Console channel (``make run``'s terminal chat): sending only. Outbound → what the terminal
reads from its Redis list → SendResult."""

from __future__ import annotations

import pytest

from bot.channels import capabilities, enabled
from bot.channels.console import ConsoleChannel, outbox_key
from bot.model.message import Button, Outbound, SendResult
from tests.world import web_settings

PICK = (Button("Yes", "yes"),)

# (Outbound, what is queued for the terminal, SendResult)
OUTBOUND = [
    pytest.param(Outbound("console:local", "hi"), Outbound("console:local", "hi"), id="text"),
    pytest.param(
        Outbound("console:local", "1. Yes", PICK, request_location=True),
        Outbound("console:local", "1. Yes"),  # the text lists the choices: buttons left out
        id="buttons-and-location-button-left-out",
    ),
]


@pytest.mark.parametrize("out, queued", OUTBOUND)
def test_outbound_is_queued_for_the_terminal(r, out, queued):
    (sender,) = ConsoleChannel("pd").senders(r).values()
    assert sender.send(out) == SendResult(True)
    queue = r.lrange(outbox_key("pd", "console:local"), 0, -1)
    assert [Outbound.from_json(x) for x in queue] == [queued]
    assert sender.ack("x").ok and sender.warm_up().ok  # hooks it does not need: no-ops


def test_always_on_without_a_webhook():
    channel = enabled(web_settings("redis://x", "s"))["console"]
    assert not channel.receiving
    assert capabilities("console") == capabilities("no-such-channel")  # plain text only
