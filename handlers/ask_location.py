"""ASK_LOCATION: a postcode in any form, or a location pin."""

from __future__ import annotations

from bot.geo import NORTHERN_IRELAND, GeocoderUnavailable, example_postcode, find_postcode, where
from bot.model.message import Inbound, Location
from bot.model.person import Conversation, State
from bot.model.turn import Turn, World
from handlers import say


def ask_location(conv: Conversation, msg: Inbound, world: World) -> Turn:
    """Take a postcode or pin and move on to shifts; otherwise explain and ask again."""
    if msg.location:
        place = where(msg.location)
        if place != "uk":
            return Turn(conv, [say.ask_location(conv, say.text(conv, f"location_{place}"))])
        # A pin is more precise than the journey needs: keep it to ~100 m.
        loc = Location(round(msg.location.latitude, 3), round(msg.location.longitude, 3))
        return located(conv.evolve(location=loc, postcode=None), world)
    if msg.unsupported:
        return Turn(conv, [say.ask_location(conv, say.text(conv, "unsupported"))])
    match = find_postcode(msg.text)
    if match.kind == "full":
        assert match.postcode
        try:
            loc = world.geocode(match.postcode)
        except GeocoderUnavailable:
            return Turn(conv, [say.say(conv, "geocoder_down")])
        if loc is not None:
            return located(conv.evolve(location=loc, postcode=match.postcode), world)
        if match.postcode.startswith(NORTHERN_IRELAND) and match.postcode[2].isdigit():
            # Honest either way: no rooms there, or rooms there and a pin will find them.
            rooms_there = any(r.seat.startswith("N") for r in world.directory.rooms.values())
            key = "postcode_northern_ireland_pin" if rooms_there else "postcode_northern_ireland"
            problem = say.text(conv, key, postcode=match.postcode)
        else:
            problem = say.text(conv, "postcode_unknown", postcode=match.postcode)
    elif match.kind == "outcode":
        assert match.postcode
        example = example_postcode(match.postcode) or f"{match.postcode} 1AA"
        problem = say.text(conv, "postcode_outcode", outcode=match.postcode, example=example)
    elif match.kind == "malformed":
        problem = say.text(conv, "postcode_malformed", token=match.postcode)
    else:
        problem = say.text(conv, "postcode_none")
    return Turn(conv, [say.ask_location(conv, problem)])


def located(conv: Conversation, world: World) -> Turn:
    """We know where they are: say back what we understood, and ask when they are free."""
    conv = conv.evolve(state=State.ASK_SHIFTS)
    if conv.postcode is None:
        understood = say.text(conv, "location_ok_pin")
    elif seat := world.seat_of(conv.postcode):
        understood = say.text(conv, "location_ok_seat", postcode=conv.postcode, seat=seat)
    else:
        understood = say.text(conv, "location_ok", postcode=conv.postcode)
    return Turn(conv, [say.ask_shifts(conv, world.campaign, understood)])
