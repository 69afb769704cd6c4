"""FULL: a supporter at a room with more people than it needs is offered the nearest target
room that is short for the shift under way (and those straight after), measured from the
room they are at. YES moves their place there (handlers/offer.py confirms it: one atomic
move), so the place they leave can go to someone on standby.

A person keeps one pledge (one room), so a later shift they pledged at this room, after a
gap, moves too when a short room has a place for it; when none has, the offer says that
taking it gives that shift up.
"""

from __future__ import annotations

from bot.backfill import shifts_over
from bot.campaign import arrival
from bot.model.person import Conversation, State
from bot.model.turn import Turn, World
from bot.rooms import Offer, Room
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
    over = shifts_over(c.polling_day, c.timezone, c.shifts, world.now())
    later = tuple(s for s in conv.pledge.shifts if s not in came.shifts and s not in over)
    whole = tuple(s for s in c.shift_ids if s in came.shifts or s in later)
    # Their whole day there if a short room has places for all of it, else the shifts
    # under way now, else the one under way alone.
    for shifts in dict.fromkeys((whole, came.shifts, came.shifts[:1])):
        if offers := _short_near(world, room, shifts):
            break
    else:
        return Turn(conv, [say.say(conv, "surplus_none", room=room.name)])
    conv = conv.evolve(state=State.OFFER, offers=offers, offer_index=0)
    intro = intro or say.text(conv, "surplus_intro", room=room.name)
    if given_up := tuple(s for s in whole if s not in shifts):  # one room a day: left behind
        phrase = say.shift_phrase(c, given_up)
        intro += "\n" + say.text(conv, "surplus_gives_up", shift_phrase=phrase, room=room.name)
    return Turn(conv, [offer.current(conv, world, intro)])


def _short_near(world: World, room: Room, shifts: tuple[str, ...]) -> tuple[Offer, ...]:
    """Other target rooms short for all of ``shifts`` (not just some), nearest the room
    first."""
    c = world.campaign
    near = world.directory.choose(room.location, shifts, world.places_left, c.tie_km)
    fits = (o for o in near if o.shifts == shifts and o.room_id != room.id)
    return tuple(o for o in fits if o.km <= c.max_distance_km)
