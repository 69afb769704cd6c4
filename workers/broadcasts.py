"""Sending a broadcast: small jobs, each one slice of recipients, paced and ledgered.

Each ``step`` job claims a slice (a lease in Redis), queues its successor straight away
(so a killed worker never ends the chain), and sends the slice one recipient at a time
(so a killed worker leaves at most one send in doubt) through the shared pacer, taking
next whoever's channel has room: a channel at its limit does not hold up the others.
Steps are short, so a worker goes back to people's turns
between them: replies always go first. A slice whose worker died is taken over when its
lease expires, by a step the clock asks for (``look_after``): so a broadcast goes on
even when every job carrying it was lost (a Redis outage in the middle of one). See
bot/store/broadcasts.py for the one ambiguous case.
"""

from __future__ import annotations

import logging
import os
import time

from rq import Queue

from bot import daytime
from bot.broadcasts import render
from bot.channels import capabilities
from bot.model.message import Outbound, SendResult
from bot.store.broadcasts import Broadcasts
from workers.queues import BROADCAST, JOB_TTLS
from workers.runtime import Runtime, runtime

log = logging.getLogger(__name__)
LEASE = float(os.environ.get("BROADCAST_LEASE_SECONDS", "30"))
RETRIES = 3
RETRY_WAIT = 30.0  # seconds a refused send waits for the channel before it counts as failed
STEP_SECONDS = 1.0  # how long one job may send before letting people's turns go first
CHECK_EVERY = 10  # recipients between looks at the lease and for a cancel...
CHECK_SECONDS = 0.5  # ...or seconds, when the pacer holds sending back
MAX_SLEEP = 0.25  # seconds: a cancel is seen soon even while paced
LOOK_EVERY = LEASE / 2  # seconds between looks for broadcasts nobody is sending
_next_look = 0.0  # this process's next look (so the clock's tick rarely asks Redis)


def look_after(rt: Runtime, at_once: bool = False) -> int:
    """Ask for a fresh step for every broadcast still to be sent, once every LOOK_EVERY s
    across all workers (``at_once``: now, as after an outage); how many. A step finds
    nothing to do while every slice is leased, and takes over a slice whose lease ran out."""
    global _next_look
    if not at_once and time.monotonic() < _next_look:
        return 0
    _next_look = time.monotonic() + LOOK_EVERY
    bc = Broadcasts(rt.store)
    if not at_once and not bc.mark_look(int(LOOK_EVERY)):
        return 0  # another worker looked a moment ago
    live = bc.live()
    q = Queue(BROADCAST, connection=rt.redis)
    for bid in live:
        q.enqueue(step, bid, **JOB_TTLS)
    return len(live)


def step(bid: int, k: int | None = None, token: str = "") -> int:
    """RQ job: send (part of) one slice of a broadcast; how many recipients it handled.

    Without ``k`` it claims a fresh slice; with ``k`` (and its lease ``token``) it carries
    on with one it already had, unless the lease ran out and another worker took it.
    After STEP_SECONDS it queues its own continuation and returns, so the worker can
    answer people in between: a reply never waits for a whole slice at a slow rate.
    """
    rt = runtime()
    bc = Broadcasts(rt.store)
    if not bc.is_live(bid):
        return 0
    q = Queue(BROADCAST, connection=rt.redis)
    if k is None:
        claim = bc.claim_slice(bid, LEASE)
        if claim is None:
            # Every slice is done or leased. A leased one may belong to a dead worker (or
            # a job lost in an outage): the clock's look_after takes it once its lease
            # has run out.
            return 0
        k, token = claim
        q.enqueue(step, bid, **JOB_TTLS)  # the next slice, even if this worker dies
    text = render(bc.meta(bid)["text"], rt.settings.campaign)
    addresses = bc.recipients(bid, k)
    facts = bc.facts(bid, addresses)  # one round trip for the whole slice
    todo = [a for a in addresses if facts[a]["state"] in (None, "sending")]
    started = checked_at = time.monotonic()
    handled, checked_at_n = 0, -CHECK_EVERY  # look at once
    free_at: dict[str, float] = {}  # channel -> when the pacer could next admit a send
    while todo:
        now = time.monotonic()
        if handled - checked_at_n >= CHECK_EVERY or now - checked_at >= CHECK_SECONDS:
            checked_at, checked_at_n = now, handled
            if not bc.is_live(bid):
                return handled  # cancelled: leave the rest unsent
            if not bc.keep_lease(bid, k, token, LEASE):
                return handled  # our lease ran out: whoever took the slice over carries on
        if now - started > STEP_SECONDS:
            q.enqueue(step, bid, k, token, **JOB_TTLS)
            log.info("broadcast %s slice %s: %d sent or settled, more to come", bid, k, handled)
            return handled
        # The first person whose channel has room: one channel at its limit does not
        # hold up the others (the list mixes channels by rate; see by_send_time).
        blocked = {c: t for c, t in free_at.items() if t > now}
        address = next((a for a in todo if _channel(a) not in blocked), None)
        if address is None:
            time.sleep(min(min(blocked.values()) - now, MAX_SLEEP))
            continue
        wait = send_one(rt, bc, bid, address, text, facts[address])
        if wait:
            free_at[_channel(address)] = now + wait
            continue
        todo.remove(address)
        handled += 1
    bc.slice_done(bid, k)
    log.info("broadcast %s slice %s: %d sent or settled, slice done", bid, k, handled)
    return handled


def _channel(address: str) -> str:
    return address.split(":", 1)[0]


def skip_reason(rt: Runtime, address: str, fact: dict, template: str) -> str | None:
    """Why this person must not get the broadcast, if so (STOP is checked at the claim)."""
    if not fact["consent"]:
        return "no_consent"
    channel = _channel(address)
    if fact["unreachable"] or rt.sender(channel) is None:
        return "unreachable"
    if not _in_window(channel, fact) and not (template and capabilities(channel).templates):
        return "outside_window"
    return None


def _in_window(channel: str, fact: dict) -> bool:
    """Free-form text may still reach them (their channel's reply window is open)."""
    return capabilities(channel).in_window(fact["lastin"], daytime.now())


def send_one(rt: Runtime, bc: Broadcasts, bid: int, address: str, text: str, fact: dict) -> float:
    """Send to one recipient at most once, recording what happened in the ledger; or, when
    the pacer has no room on their channel yet, the seconds to wait (nothing done)."""
    if fact["state"] == "sending":
        # Claimed by a worker that died: it may or may not have gone. Never resend.
        bc.settle(bid, address, "ambiguous", "ambiguous", "from-sending")
        return 0.0
    template = rt.settings.campaign.broadcast_template
    reason = skip_reason(rt, address, fact, template)
    if reason:
        bc.settle(bid, address, f"skipped:{reason}", f"skipped:{reason}", "claim")
        return 0.0
    channel, chat = address.split(":", 1)
    out = Outbound(address, text)
    if not _in_window(channel, fact):
        out = Outbound(address, text, template=template)
    if wait := rt.pacer.try_acquire(channel, chat):
        return wait
    if bc.settle(bid, address, "sending", "", "claim") != 1:
        return 0.0  # someone else has it, or they have just said STOP
    result = _send(rt, out)
    if result.ok:
        bc.settle(bid, address, "sent", "sent", "from-sending")
    elif result.maybe_sent:
        # A timeout or server error after the request went out: it may have been
        # delivered, so resending could repeat it. Counted, never resent.
        bc.settle(bid, address, "ambiguous", "ambiguous", "from-sending")
    elif result.needs_template and not template:
        bc.settle(bid, address, "skipped:outside_window", "skipped:outside_window", "from-sending")
    elif result.unreachable:
        rt.store.people.mark_unreachable(address, result.unreachable)
        bc.settle(bid, address, f"failed:{result.unreachable}", "failed", "from-sending")
    else:
        log.warning("broadcast %s: %s send failed: %s", bid, channel, result.error)
        bc.settle(bid, address, "failed:error", "failed", "from-sending")
    return 0.0


def _send(rt: Runtime, out: Outbound) -> SendResult:
    """Send with a few short retries for temporary trouble; switch to the template if the
    platform says the person's reply window has closed."""
    sender = rt.sender(out.channel)
    assert sender is not None
    template = rt.settings.campaign.broadcast_template
    result = SendResult(False, error="not sent")
    for attempt in range(1, RETRIES + 1):
        result = sender.send(out)
        if result.needs_template and template and not out.template:
            out = Outbound(out.address, out.text, template=template)
            continue
        if result.throttled:  # over the platform's limit: the whole channel waits it out
            rt.pacer.pause(out.channel, result.retry_after or 1.0)
        if not result.throttled or attempt == RETRIES:
            return result
        # Again once the pause is over and the replies waiting then have gone first.
        if not rt.pacer.acquire(out.channel, out.recipient, timeout=RETRY_WAIT):
            return result
    return result
