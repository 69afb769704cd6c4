"""ASK_LOCATION: a postcode in any form, or a location pin."""

from __future__ import annotations

from bot.geo import GeocoderUnavailable, find_postcode
from bot.model.message import Inbound, Location
from bot.model.person import Conversation, State
from bot.model.turn import Turn, World
from handlers import say


def ask_location(conv: Conversation, msg: Inbound, world: World) -> Turn:
    """Take a postcode or pin and move on to shifts; otherwise explain and ask again."""
    if msg.location:
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
        if loc is None:
            problem = say.text(conv, "postcode_unknown", postcode=match.postcode)
        else:
            return located(conv.evolve(location=loc, postcode=match.postcode), world)
    elif match.kind == "outcode":
        problem = say.text(conv, "postcode_outcode", outcode=match.postcode)
    elif match.kind == "malformed":
        problem = say.text(conv, "postcode_malformed", token=match.postcode)
    else:
        problem = say.text(conv, "postcode_none")
    return Turn(conv, [say.ask_location(conv, problem)])


def located(conv: Conversation, world: World) -> Turn:
    """We know where they are: ask when they are free."""
    conv = conv.evolve(state=State.ASK_SHIFTS)
    return Turn(conv, [say.ask_shifts(conv, world.campaign, say.text(conv, "location_ok"))])
