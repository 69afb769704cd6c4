"""Building replies from the message catalogue: wording lives in messages/, layout here."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any
from urllib.parse import quote

from bot.campaign import Campaign
from bot.model.message import Button, Outbound
from bot.model.person import Conversation
from bot.model.turn import World
from bot.rooms import Offer, Room
from messages import t

KM_PER_MILE = 1.609344


def say(conv: Conversation, key: str, *buttons: Button, **values: Any) -> Outbound:
    """One plain-text reply to the person in ``conv``, in their channel's wording."""
    return Outbound(conv.address, t(key, conv.channel, **values), buttons=tuple(buttons))


def text(conv: Conversation, key: str, **values: Any) -> str:
    """Catalogue text in the person's channel wording, for composing a longer reply."""
    return t(key, conv.channel, **values)


def stamp(world: World) -> int:
    """The time now for a record, in unix seconds."""
    return int(world.now().timestamp())


def day(d: date) -> str:
    """``Thursday 3 May``, in the catalogue's words (not the machine's locale)."""
    weekday, month = t("weekdays").split()[d.weekday()], t("months").split()[d.month - 1]
    return t("date", weekday=weekday, day=d.day, month=month)


def shift_phrase(campaign: Campaign, shift_ids: Sequence[str]) -> str:
    """``Morning 07:00–12:00 and Evening 17:00–22:00``."""
    return listing([f"{s.label} {s.times}" for s in (campaign.shift(i) for i in shift_ids)])


def listing(parts: Sequence[str]) -> str:
    """``A``, ``A and B``, ``A, B and C``."""
    if len(parts) <= 1:
        return "".join(parts)
    return t("list_last", rest=", ".join(parts[:-1]), last=parts[-1])


def clock(campaign: Campaign, at: float) -> str:
    """A unix time as the campaign's local clock time, ``14:05``."""
    return datetime.fromtimestamp(at, campaign.timezone).strftime("%H:%M")


def pledge_values(campaign: Campaign, room: Room, shift_ids: Sequence[str]) -> dict[str, str]:
    """What the confirmation, status and reminder messages say about a pledge."""
    facts = room_facts(room)
    return {
        "room": room.name,
        "address": room.address,
        "postcode": room.postcode,
        "constituency": room.seat_name,
        "shift_phrase": shift_phrase(campaign, shift_ids),
        "polling_day": day(campaign.polling_day),
        "map_url": map_url(room),
        "facts": "\n\n" + "\n".join(facts) if facts else "",  # a paragraph after the text
    }


def room_facts(room: Room) -> list[str]:
    """What the organisers said a volunteer should know about the room, a line each."""
    lines = []
    if room.step_free is not None:
        lines.append(t("fact_step_free_yes" if room.step_free else "fact_step_free_no"))
    for key, value in (("bring", room.bring), ("parking", room.parking), ("notes", room.notes)):
        if value:
            lines.append(t(f"fact_{key}", text=value))
    return lines


def why_here(conv: Conversation, campaign: Campaign, room: Room, o: Offer) -> str:
    """The line saying why this room: its seat is a target, how many it needs, how far."""
    if len(o.left) == 1:
        n, label = o.left[0], campaign.shift(o.shifts[0]).label
        people = text(conv, "person" if n == 1 else "people")
        needed = text(conv, "offer_needs_one", n=n, people=people, shift=label)
    elif o.left:
        each = ", ".join(text(conv, "offer_needs_shift", n=n, shift=campaign.shift(s).label)
                         for s, n in zip(o.shifts, o.left, strict=True))  # fmt: skip
        needed = text(conv, "offer_needs_many", each=each)
    else:  # an offer ranked before places left were kept with it
        needed = text(conv, "offer_needs_some")
    return text(conv, "offer_why", constituency=room.seat_name, needed=needed,
                distance=distance(o.km))  # fmt: skip


def distance(km: float) -> str:
    """How far, as people say it: "350 m" under a kilometre (to 10 m), else "2.4 km (1.5
    miles)"."""
    if km < 0.995:
        return f"{max(10, round(km * 100) * 10)} m"
    return f"{km:.1f} km ({km / KM_PER_MILE:.1f} miles)"


def where_to_vote(postcode: str | None) -> str:
    """Democracy Club's polling station finder, opened at the postcode when we have one."""
    if not postcode:
        return "https://wheredoivote.co.uk/"
    return f"https://wheredoivote.co.uk/postcode/{quote(postcode.replace(' ', ''), safe='')}/"


def map_url(room: Room) -> str:
    """A map link that opens on any phone."""
    loc = room.location
    return (
        f"https://www.google.com/maps/search/?api=1&query={loc.latitude:.5f}%2C{loc.longitude:.5f}"
    )


def ask_location(conv: Conversation, prefix: str = "") -> Outbound:
    """The location question, after ``prefix``, offering a share-location button (a channel
    without one leaves it out; the catalogue words the question for each channel)."""
    body = text(conv, "ask_location")
    return Outbound(conv.address, f"{prefix}\n\n{body}" if prefix else body, request_location=True)


def ask_shifts(conv: Conversation, campaign: Campaign, prefix: str = "") -> Outbound:
    """The availability question: a numbered list, and a button per shift where buttons show."""
    lines = "\n".join(
        text(conv, "shift_line", n=n, label=s.label, times=s.times)
        for n, s in enumerate(campaign.shifts, start=1)
    )
    body = text(conv, "ask_shifts", polling_day=day(campaign.polling_day), shift_list=lines)
    buttons = [Button(f"{s.label} {s.times}", f"shift:{s.id}") for s in campaign.shifts]
    buttons.append(Button(text(conv, "all_day_button"), "shift:all"))
    return Outbound(conv.address, f"{prefix}\n\n{body}" if prefix else body, tuple(buttons))


def offer(conv: Conversation, campaign: Campaign, room: Room, o: Offer, intro: str) -> Outbound:
    """A room offer: where, how far, which shifts, a map, and YES / NEXT."""
    lines = "\n".join(
        text(conv, "offer_shift_line", label=s.label, times=s.times)
        for s in (campaign.shift(i) for i in o.shifts)
    )
    body = text(
        conv,
        "offer",
        intro=intro,
        room=room.name,
        address=room.address,
        postcode=room.postcode,
        why=why_here(conv, campaign, room, o),
        shift_lines=lines,
        facts="".join(f"\n{line}" for line in room_facts(room)),
        map_url=map_url(room),
    )
    buttons = (
        Button(text(conv, "yes_button"), "yes"),
        Button(text(conv, "next_button"), "next"),
    )
    return Outbound(conv.address, body, buttons)


def no_rooms(conv: Conversation, campaign: Campaign, rooms: Sequence[Room]) -> Outbound:
    """Every room is full for their times: other times, or (when there are rooms to wait
    for) standby, with a button for it."""
    if not rooms:
        return ask_shifts(conv, campaign, text(conv, "no_rooms"))
    names = listing([r.name for r in rooms])
    ask = ask_shifts(conv, campaign, text(conv, "no_rooms_standby", rooms=names))
    wait = Button(text(conv, "standby_button"), "standby")
    return Outbound(conv.address, ask.text, (wait, *ask.buttons))


def referral_credit(sharer: str, count: int) -> Outbound:
    """Told to a sharer when someone they brought in arrives: their new total."""
    return Outbound(sharer, t("referral_credit", sharer.split(":", 1)[0], count=count))


def broadcast_sent(address: str, bid: int, count: int) -> Outbound:
    """Told to the organiser whose YES started a broadcast."""
    return Outbound(address, t("broadcast_sent", address.split(":", 1)[0], id=bid, count=count))
