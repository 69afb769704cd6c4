"""Applying a turn's effects: in EFFECT_ORDER, each once, even when a turn is replayed.

The order of a turn (workers/turns.py) is: effects, then the save (conversation and its
replies in the outbox, in one step), then sending from the outbox, then removing the
message from the inbox. A worker killed anywhere replays the message; the conversation
remembers the message it saved, so a replay after the save only sends what is left. A
replay before the save runs the handler again on the old conversation, so every effect
must be safe to apply twice:

  Release, SetStopped, Erase   idempotent by nature (a second time finds nothing to do)
  PassHold                     a second time finds no hold
  JoinStandby                  the same lists again
  CheckIn, OnTheWay            nothing overwrites "here"; the same status again
  LeftRoom                     a second time finds nothing to forget
  NoShow                       the shift's place is freed once (a second time finds none)
  Forget                       drops timed events; a second time finds none
  FirstContact                 the credit is remembered by the message (store/referrals)
  StartBroadcast               created with the message's id (store/broadcasts.started_by)
  ScheduleReminders            event ids derive from the person and pledge: the same events
  BackfillAnswer               their answer is kept with their ask: the same answer again
  RelayReply                   the same reply kept twice (shown twice on the room's page)

Places freed (Release, Erase, PassHold, NoShow) go at once to the next person on standby
(workers/standby.py). An effect may add replies (the sharer's new total, the broadcast's
id): they are sent with the turn's own.
"""

from __future__ import annotations

from bot.broadcasts import Audience
from bot.model.message import Inbound, Outbound
from bot.model.turn import (
    BackfillAnswer,
    CheckIn,
    Effect,
    Erase,
    FirstContact,
    Forget,
    JoinStandby,
    LeftRoom,
    NoShow,
    OnTheWay,
    PassHold,
    RelayReply,
    Release,
    ScheduleReminders,
    SetStopped,
    StartBroadcast,
    in_order,
)
from bot.store.arrivals import HERE, NO_SHOW, ON_THE_WAY
from bot.store.broadcasts import Broadcasts
from handlers import say
from workers import faults, reminders, standby
from workers.runtime import Runtime


def apply_all(rt: Runtime, effects: list[Effect], msg: Inbound, message: str) -> list[Outbound]:
    """Apply every effect in order; the replies they add. ``message``: the message's digest."""
    extra: list[Outbound] = []
    for effect in in_order(effects):
        extra += apply(rt, effect, msg, message)
        faults.point(rt.store, f"effect:{type(effect).__name__}")
    return extra


def apply(rt: Runtime, effect: Effect, msg: Inbound, message: str) -> list[Outbound]:
    """Apply one effect (see the module docstring for why each is safe twice)."""
    store = rt.store
    match effect:
        case Release(address):
            freed = store.places.release(address)
            store.arrivals.forget(address, freed)  # no longer expected, so not "here" either
            standby.fill(rt, freed + store.standby.leave(address))
        case PassHold(address, room_id, shift):
            if freed := store.standby.drop(address, room_id, shift):
                standby.fill(rt, [freed])
        case SetStopped(address, stopped):
            store.suppression.set_stopped(address, stopped)
        case Forget(address):
            store.timed.forget(address)  # reminders, held-back replies
            store.people.clear_outbox(address)  # nothing queued before a STOP goes after it
        case Erase(address):
            standby.fill(rt, store.erase(address))  # timed events and the outbox go too
        case FirstContact(address, sharer):
            count = store.referrals.first_contact(address, sharer, message)
            if sharer and count is not None:
                return [say.referral_credit(sharer, count)]
        case StartBroadcast(text):
            bid, count = start_broadcast(rt, text, message)
            return [say.broadcast_sent(msg.address, bid, count)]
        case ScheduleReminders(address, pledge):
            reminders.schedule(rt, address, pledge)
        case CheckIn(address, room_id, shifts, at):
            store.arrivals.mark(address, room_id, shifts, HERE, at)
        case OnTheWay(address, room_id, shifts, at):
            store.arrivals.mark(address, room_id, shifts, ON_THE_WAY, at)
        case NoShow(address, room_id, shift, at):
            freed = store.places.release_shift(address, room_id, shift)
            store.arrivals.mark(address, room_id, [shift], NO_SHOW, at)
            if freed:
                standby.fill(rt, [(room_id, shift)])
        case LeftRoom(address, room_id, shifts):
            store.arrivals.forget(address, [(room_id, s) for s in shifts])
            for shift in shifts:  # a room that said it had too many sees the move
                store.coordinators.moved(room_id, shift)
        case RelayReply(address, room_id, name, text, at):
            store.coordinators.reply(room_id, address, name, text, at)
        case BackfillAnswer(address, room_id, shift, outcome):
            store.backfill.answered(address, room_id, shift, outcome)
        case JoinStandby(address, lists):
            store.standby.join(address, lists)
            standby.fill(rt, [(room, shift) for room, shift, _ in lists])  # freed meanwhile
    return []


def start_broadcast(rt: Runtime, text: str, message: str) -> tuple[int, int]:
    """Start the broadcast an organiser's YES asked for, once: (id, recipients)."""
    bc = Broadcasts(rt.store)
    if (bid := bc.started_by(message)) is not None:
        return bid, int(bc.meta(bid)["total"])  # a replayed YES: the one it started
    directory, limits = rt.world.directory, rt.settings.campaign.rate_limits
    recipients, no_consent = bc.select(Audience(), directory, limits)
    bid = bc.create(text, Audience(), recipients, no_consent, launch=True, message=message)
    return bid, len(recipients)
