"""OFFER: show the best room for the chosen shifts; YES reserves a place, NEXT moves on."""

from __future__ import annotations

from bot.backfill import shifts_over
from bot.model.message import Inbound, Outbound
from bot.model.person import Conversation, Pledge, State
from bot.model.turn import LeftRoom, Release, ScheduleReminders, Turn, World
from handlers import ask_consent, say
from handlers.answers import asks_to_stay, read_offer


def first_offer(conv: Conversation, world: World, intro: str = "") -> Turn:
    """Rank rooms afresh and offer the best; if every room is full, ask for other times."""
    c = world.campaign
    assert conv.location is not None
    offers = tuple(world.directory.choose(conv.location, conv.shifts, world.places_left, c.tie_km))
    if not offers:  # other times, or wait on standby (handlers/standby.py)
        conv = conv.evolve(state=State.ASK_SHIFTS, offers=(), offer_index=0)
        near = world.directory.standby_rooms(
            conv.location, conv.shifts, c.standby_rooms, c.max_distance_km
        )
        rooms = [world.directory.rooms[o.room_id] for o in near]
        return Turn(conv, [say.no_rooms(conv, c, rooms)])
    conv = conv.evolve(state=State.OFFER, offers=offers, offer_index=0)
    if offers[0].km > c.max_distance_km:
        intro = say.text(conv, "offer_intro_far", max_km=f"{c.max_distance_km:g}")
    return Turn(conv, [current(conv, world, intro or say.text(conv, "offer_intro"))])


def current(conv: Conversation, world: World, intro: str) -> Outbound:
    """The offer on the table, with an introduction."""
    o = conv.offer
    assert o is not None
    return say.offer(conv, world.campaign, world.directory.rooms[o.room_id], o, intro)


def offer(conv: Conversation, msg: Inbound, world: World) -> Turn:
    """YES (or 1) confirms, NEXT (or 2) shows the next option, anything else re-asks."""
    if any(o.room_id not in world.directory.rooms for o in conv.offers):
        return first_offer(conv, world)  # an import removed a room on the list: rank afresh
    if conv.pledge and (msg.payload == "stay" or asks_to_stay(msg.text)):
        # Offered a move from a full room (handlers/surplus.py), they stay where they are.
        stay = conv.pledge.room_id
        conv = conv.evolve(state=State.DONE, offers=(), offer_index=0)
        name = world.directory.rooms[stay].name if stay in world.directory.rooms else ""
        return Turn(conv, [say.say(conv, "surplus_stay", room=name)])
    meant = msg.payload if msg.payload in ("yes", "next") else read_offer(msg.text)
    if meant == "yes":
        return confirm(conv, world)
    if meant in ("far", "times"):
        # Nearer rooms, or this one, may need people at other times: ask which.
        conv = conv.evolve(state=State.ASK_SHIFTS, offers=(), offer_index=0)
        intro = say.text(conv, "offer_too_far" if meant == "far" else "offer_other_times")
        return Turn(conv, [say.ask_shifts(conv, world.campaign, intro)])
    if meant == "next":
        index = conv.offer_index + 1
        if index >= len(conv.offers):
            conv = conv.evolve(offer_index=0)
            return Turn(conv, [current(conv, world, say.text(conv, "offer_intro_wrapped"))])
        conv = conv.evolve(offer_index=index)
        return Turn(conv, [current(conv, world, say.text(conv, "offer_intro_next"))])
    room = world.directory.rooms[conv.offer.room_id] if conv.offer else None
    return Turn(conv, [say.say(conv, "offer_unclear", room=room.name if room else "")])


def confirm(conv: Conversation, world: World) -> Turn:
    """Reserve the offered place atomically; if someone beat them to it, offer the next."""
    o = conv.offer
    assert o is not None
    pledge = Pledge(o.room_id, o.shifts)
    room = world.directory.rooms[o.room_id]
    if not world.reserve(conv.address, pledge):
        return first_offer(conv, world, say.text(conv, "offer_intro_taken", room=room.name))
    turn = confirmed(conv, world, pledge)
    if (old := conv.pledge) and old.room_id != pledge.room_id:  # moved: not there any more
        c = world.campaign
        over = shifts_over(c.polling_day, c.timezone, c.shifts, world.now())
        if leaving := tuple(s for s in old.shifts if s not in over):  # done ones stand
            turn.effects.append(LeftRoom(conv.address, old.room_id, leaving))
    return turn


def confirmed(conv: Conversation, world: World, pledge: Pledge) -> Turn:
    """The place is theirs: confirm it, schedule its reminders, ask about updates once."""
    room = world.directory.rooms[pledge.room_id]
    conv = conv.evolve(pledge=pledge, offers=(), offer_index=0)
    values = say.pledge_values(world.campaign, room, pledge.shifts)
    confirmed = say.say(conv, "confirmed", **values)
    remind = [ScheduleReminders(conv.address, pledge)]
    if conv.consent is not None:  # asked once already, before a CHANGE
        return Turn(conv.evolve(state=State.DONE), [confirmed], remind)
    replies = [confirmed, ask_consent.ask_consent(conv)]
    return Turn(conv.evolve(state=State.ASK_CONSENT), replies, remind)


def room_closed(conv: Conversation, msg: Inbound, world: World) -> Turn:
    """An organiser removed the room this person was pledged to: say so, offer another."""
    if not conv.pledge or conv.pledge.room_id != msg.payload:
        return Turn(conv)  # they had already moved on
    shifts = conv.pledge.shifts
    conv = conv.evolve(pledge=None, shifts=shifts)
    if conv.state is State.STOPPED or conv.location is None:
        return Turn(conv, [], [Release(conv.address)])
    turn = first_offer(conv, world, say.text(conv, "room_closed", room=msg.text))
    turn.effects.insert(0, Release(conv.address))
    return turn
