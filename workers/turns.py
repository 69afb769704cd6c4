"""The conversation turn job: drain one address's inbox in order, under a per-address lock.

Messages from one person are handled one at a time and in order, even with several
worker processes: whoever holds the lock drains the inbox, and re-checks it after
unlocking, so a message queued meanwhile is never stranded. Each message is removed
from the inbox only after its turn is saved, so a killed worker loses nothing.
"""

from __future__ import annotations

import logging

import redis

from bot.conversation import handle
from bot.model import Inbound, Outbound
from messages import t
from workers import outbound, reminders
from workers.queues import enqueue_drain
from workers.runtime import Runtime, runtime

log = logging.getLogger(__name__)
BATCH = 50


def drain(address: str) -> int:
    """RQ job: take every queued turn for ``address``; returns how many were handled."""
    rt = runtime()
    store = rt.store
    store.clear_scheduled(address)
    handled = 0
    while True:
        token = store.lock(address)
        if token is None:
            # Another worker is draining and will re-check after unlocking. If it died,
            # its lock expires: look again then so nothing waits for the next message.
            enqueue_drain(rt.redis, address, delay=max(store.lock_ttl_ms(address), 100) / 1000)
            return handled
        try:
            while batch := store.peek_inbox(address, BATCH):
                for raw in batch:
                    safe_turn(rt, raw)
                    store.pop_inbox(address)
                    handled += 1
                store.refresh_lock(address)
        finally:
            store.unlock(address, token)
        if store.inbox_len(address) == 0:
            return handled


def safe_turn(rt: Runtime, raw: bytes) -> None:
    """Take a turn; a bug in it costs this one message (with an apology), never the queue.

    Redis errors propagate: the message stays queued and RQ retries the job later.
    """
    msg = Inbound.from_json(raw)
    try:
        take_turn(rt, msg)
    except redis.RedisError:
        raise
    except Exception:
        log.exception("turn failed on %s; message dropped", msg.channel)
        outbound.deliver(rt, [Outbound(msg.address, t("error", msg.channel))])


def take_turn(rt: Runtime, msg: Inbound) -> None:
    """Load, handle, save, then send: a crash after saving never repeats a pledge."""
    store = rt.store
    if msg.callback_id and (telegram := rt.sender("telegram")):
        telegram.ack(msg.callback_id)  # type: ignore[attr-defined]
    conv = store.load(msg.address)
    store.clear_unreachable(msg.address)
    turn = handle(conv, msg, rt.world)
    if turn.conv is not None:
        store.save(turn.conv)
        if conv is None:
            store.add_person(msg.address)
        if turn.conv.consent and (conv is None or conv.consent != turn.conv.consent):
            store.record_consent(msg.address, turn.conv.consent)
        if turn.conv.pledge and (conv is None or conv.pledge != turn.conv.pledge):
            reminders.schedule(rt, msg.address, turn.conv.pledge)
    elif conv is not None:
        reminders.cancel_all(rt, msg.address)  # erased: the scheduled jobs name them
    replies = [
        out
        for out in turn.replies
        if out.address == msg.address
        or not (store.was_stopped(out.address) or store.unreachable(out.address))
    ]
    outbound.deliver(rt, replies)
