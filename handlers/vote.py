"""As the polls open on polling day: everyone pledged is asked whether they have voted, told
when polls are open and that photo ID is needed, where their polling station is (or how to
find it), and when their shift leaves them time to vote. VOTED is thanked (handlers/done.py).

A ``vote`` system event (workers/reminders.py schedules it with a pledge's reminders, each
person at their own point of the hour after the polls open), sent only while that pledge
stands and they have not said STOP.
"""

from __future__ import annotations

import json

from bot.campaign import POLLS_CLOSE, POLLS_OPEN, Campaign
from bot.model.message import Button, Inbound, Outbound
from bot.model.person import Conversation, Pledge, State
from bot.model.turn import Turn, World
from handlers import say

TIME_TO_VOTE = 60  # minutes before or after the shifts that leave time to vote


def vote(conv: Conversation, msg: Inbound, world: World) -> Turn:
    """Have you voted? With where, and when around their shift."""
    about = json.loads(msg.payload or "{}")
    pledge = Pledge(str(about.get("room", "")), tuple(about.get("shifts", ())))
    if conv.state is State.STOPPED or conv.pledge != pledge or world.was_stopped(conv.address):
        return Turn(conv)  # plans changed, or they said STOP
    station = world.polling_station(conv.postcode) if conv.postcode else None
    if station:
        where = say.text(conv, "vote_station", station=station)
    else:
        where = say.text(conv, "vote_finder", url=say.where_to_vote(conv.postcode))
    text = say.text(conv, "vote", where=where, when=when_to_vote(conv, world.campaign, pledge))
    voted = Button(say.text(conv, "voted_button"), "voted")
    return Turn(conv, [Outbound(conv.address, text, (voted,))])


def when_to_vote(conv: Conversation, c: Campaign, pledge: Pledge) -> str:
    """Before their first shift, after their last, or on the way."""
    mine = [s for s in c.shifts if s.id in pledge.shifts]
    if not mine:
        return ""
    start, end = min(s.start for s in mine), max(s.end for s in mine)
    minutes = lambda t: t.hour * 60 + t.minute  # noqa: E731
    if minutes(start) - minutes(POLLS_OPEN) >= TIME_TO_VOTE:
        return say.text(conv, "vote_before", start=f"{start:%H:%M}")
    if minutes(POLLS_CLOSE) - minutes(end) >= TIME_TO_VOTE:
        return say.text(conv, "vote_after", end=f"{end:%H:%M}")
    return say.text(conv, "vote_during", start=f"{start:%H:%M}", end=f"{end:%H:%M}")
