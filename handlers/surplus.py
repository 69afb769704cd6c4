"""FULL: a supporter at a room with more people than it needs is offered the nearest target
room that is short for the shift under way (and those straight after), measured from the
room they are at. YES moves their place there (handlers/offer.py confirms it: one atomic
move), so the place they leave can go to someone on standby.
"""

from __future__ import annotations

from bot.campaign import arrival
from bot.model.person import Conversation, State
from bot.model.turn import Turn, World
from handlers import offer, say


def full(conv: Conversation, world: World, intro: str = "") -> Turn:
    """Offer the nearest short room, or say kindly why not (not the day, none short).
    ``intro``: what comes before the offer (by default, thanks for telling us)."""
    c = world.campaign
    assert conv.pledge is not None
    room = world.directory.rooms[conv.pledge.room_id]
    came = arrival(c.polling_day, c.timezone, c.shifts, conv.pledge.shifts, world.now())
    if not came.shifts:
        return Turn(conv, [say.say(conv, "surplus_not_now")])
    near = world.directory.choose(room.location, came.shifts, world.places_left, c.tie_km)
    offers = tuple(o for o in near if o.room_id != room.id and o.km <= c.max_distance_km)
    if not offers:
        return Turn(conv, [say.say(conv, "surplus_none", room=room.name)])
    conv = conv.evolve(state=State.OFFER, offers=offers, offer_index=0)
    intro = intro or say.text(conv, "surplus_intro", room=room.name)
    return Turn(conv, [offer.current(conv, world, intro)])
