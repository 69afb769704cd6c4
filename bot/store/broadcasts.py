"""Broadcast records, recipient lists and ledgers: each (broadcast, recipient) once.

A recipient is claimed in the ledger ("sending") before the platform is called and marked
"sent" after. A worker killed between the platform accepting a message and that mark
leaves "sending" behind; whoever takes over the slice cannot know whether it went, so it
does not resend: it marks it "ambiguous" and counts it (at most one per killed worker).
Someone erased while a broadcast runs is blanked from its list and never written back.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from bot.broadcasts import SKIP_REASONS, Audience, by_send_time
from bot.rooms import Directory
from bot.store import jobs, keys
from bot.store.erase import ERASED

if TYPE_CHECKING:
    from bot.store import Store

SLICE = 50  # recipients per unit of work: about a second of sending at typical limits
LIVE = (b"queued", b"sending")  # statuses of a broadcast still to be sent
LEDGER_TTL = keys.BC_TO.ttl  # recipient lists and ledgers name people: not kept for long

CLAIM = """
-- KEYS: 1 bc:<id>:next, 2 bc:<id>:done, 3 bc:<id>
-- ARGV: 1 slices, 2 lease seconds, 3 the lease key without its slice number, 4 lease token,
--       5 time now
-- Claim the next slice: a fresh one while any are left, then any unfinished slice whose
-- lease has expired (its worker died). -1: nothing to claim right now.
local status = redis.call('HGET', KEYS[3], 'status')
if status ~= 'queued' and status ~= 'sending' then return -1 end
local n = tonumber(ARGV[1])
local k = redis.call('INCR', KEYS[1]) - 1
if k >= n then
  k = -1
  for i = 0, n - 1 do
    if redis.call('SISMEMBER', KEYS[2], i) == 0
        and redis.call('SET', ARGV[3] .. i, ARGV[4], 'NX', 'EX', ARGV[2]) then
      k = i
      break
    end
  end
  if k < 0 then return -1 end
else
  redis.call('SET', ARGV[3] .. k, ARGV[4], 'EX', ARGV[2])
end
if status == 'queued' then
  redis.call('HSET', KEYS[3], 'status', 'sending', 'started_at', ARGV[5])
end
return k
"""

KEEP_LEASE = """
-- KEYS: 1 bc:<id>:lease:<k>. ARGV: 1 lease token, 2 seconds. Extend it only while ours.
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('EXPIRE', KEYS[1], ARGV[2]) end
return 0
"""

SETTLE = """
-- KEYS: 1 bc:<id>:ledger, 2 bc:<id>:counts, 3 stopped, 4 people
-- ARGV: 1 address, 2 new state, 3 mode (claim, from-sending), 4 counter to bump ('' : none),
--       5 one-way id (claim only)
-- Record a state for one recipient, once: the counters move only with the ledger.
-- 'claim': no state yet; 'from-sending': only a claimed recipient moves on. Someone erased
-- since the list was made (no longer in people) is never written back: 3.
if redis.call('SISMEMBER', KEYS[4], ARGV[1]) == 0 then return 3 end
local old = redis.call('HGET', KEYS[1], ARGV[1])
if ARGV[3] == 'claim' then
  if old then return 0 end
  -- A STOP is checked here, at the last moment before sending, in the same step.
  if redis.call('SISMEMBER', KEYS[3], ARGV[5]) == 1 then
    redis.call('HSET', KEYS[1], ARGV[1], 'skipped:opted_out')
    redis.call('HINCRBY', KEYS[2], 'skipped:opted_out', 1)
    return 2
  end
elseif old ~= 'sending' then
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if ARGV[4] ~= '' then redis.call('HINCRBY', KEYS[2], ARGV[4], 1) end
return 1
"""


class Broadcasts:
    """Broadcast records, recipient lists and ledgers in Redis."""

    def __init__(self, store: Store) -> None:
        self.store, self.r, self.p = store, store.r, store.p
        self._claim = self.r.register_script(CLAIM)
        self._keep_lease = self.r.register_script(KEEP_LEASE)
        self._settle = self.r.register_script(SETTLE)

    def select(
        self,
        audience: Audience,
        directory: Directory,
        limits: Mapping[str, float] | None = None,
        ordered: bool = True,
    ) -> tuple[list[str], int]:
        """(people in the audience who agreed to updates, in sending order; how many more
        did not agree). ``limits`` are the channels' rates (see :func:`by_send_time`);
        ``ordered=False``: in no particular order (a dry run, which only counts them)."""
        if audience.needs_pledges and audience.pledged is not False:
            # Only people who pledged can be in it: look through the pledges, not everyone.
            pledges = self.store.places.pledges()
            chosen = [a for a, p in pledges.items() if audience.matches(a, p, directory)]
            yes = self.store.people.agreed(chosen)
            no_consent = len(chosen) - len(yes)  # (a pledge without a conversation: none)
        else:
            agreed, others = self.store.people.by_consent()
            pledges = self.store.places.pledges() if audience.needs_pledges else {}
            yes = [a for a in agreed if audience.matches(a, pledges.get(a), directory)]
            no_consent = sum(audience.matches(a, pledges.get(a), directory) for a in others)
        return (by_send_time(sorted(yes), limits or {}) if ordered else yes), no_consent

    def create(
        self,
        text: str,
        audience: Audience,
        recipients: list[str],
        no_consent: int,
        launch: bool = False,
        message: str = "",
        parallel: int = 2,
    ) -> int:
        """Store a new broadcast ready to send; its id. ``launch`` also asks the workers for
        its first sending steps (each step queues the next; see workers/broadcasts.py), in
        the same transaction. ``message``: the organiser's YES that started it, so a turn
        replayed after a crash finds this broadcast (``started_by``) instead of a second."""
        bid = int(self.r.incr(keys.BC_SEQ(self.p)))
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(
            keys.BC(self.p, bid=bid),
            mapping={
                "text": text,
                "audience": json.dumps(audience.as_dict()),
                "status": "queued" if recipients else "done",
                "total": len(recipients),
                "no_consent": no_consent,  # counted as skipped at the start, not in total
                "slices": -(-len(recipients) // SLICE),
                "created_at": time.time(),
            },
        )
        if recipients:
            pipe.rpush(keys.BC_TO(self.p, bid=bid), *recipients)
        if no_consent:
            pipe.hset(keys.BC_COUNTS(self.p, bid=bid), "skipped:no_consent", no_consent)
        if message:
            pipe.set(keys.BC_BY_MESSAGE(self.p, msg=message), bid, ex=keys.BC_BY_MESSAGE.ttl)
        if launch and recipients:
            step = jobs.request("workers.broadcasts.step", bid, queue="broadcast")
            pipe.rpush(keys.JOBS(self.p), *[step] * parallel)
        pipe.execute()
        return bid

    def started_by(self, message: str) -> int | None:
        """The broadcast an organiser's YES (this message) already started, if any."""
        raw = self.r.get(keys.BC_BY_MESSAGE(self.p, msg=message))
        return int(raw) if raw else None

    def meta(self, bid: int | str) -> dict[str, str]:
        """The broadcast's record ({} if there is none)."""
        return {k.decode(): v.decode() for k, v in self.r.hgetall(keys.BC(self.p, bid=bid)).items()}

    def counts(self, bid: int | str) -> dict[str, int]:
        """Recipients handled so far, by outcome (sent, failed, ambiguous, skipped:<why>)."""
        raw = self.r.hgetall(keys.BC_COUNTS(self.p, bid=bid))
        return {k.decode(): int(v) for k, v in raw.items()}

    def recent(self, n: int) -> list[int]:
        """The ids of the last ``n`` broadcasts, newest first."""
        last = int(self.r.get(keys.BC_SEQ(self.p)) or 0)
        return list(range(last, max(0, last - n), -1))

    def live(self, n: int = 50) -> list[int]:
        """The broadcasts still to be sent, among the last ``n``."""
        ids = self.recent(n)
        pipe = self.r.pipeline(transaction=False)
        for bid in ids:
            pipe.hget(keys.BC(self.p, bid=bid), "status")
        return [b for b, s in zip(ids, pipe.execute(), strict=True) if s in LIVE]

    def mark_look(self, ttl: int) -> bool:
        """Claim this look for broadcasts nobody is sending (one per ``ttl`` seconds across
        all workers); False if another worker looked more recently."""
        return bool(self.r.set(keys.BC_LOOK(self.p), "1", nx=True, ex=max(1, ttl)))

    def status(self, bid: int | str) -> dict[str, Any] | None:
        """What an organiser sees: progress, skips by reason, times."""
        meta = self.meta(bid)
        if not meta:
            return None
        counts = self.counts(bid)
        when = lambda k: float(meta[k]) if k in meta else None  # noqa: E731
        # Everyone the workers have dealt with (those who had not agreed at the start were
        # counted as skipped then, and are not in the total).
        handled = sum(counts.values()) - int(meta.get("no_consent", 0))
        return {
            "id": int(bid),
            "status": meta["status"],
            "text": meta["text"],
            "audience": json.loads(meta["audience"]),
            "total": int(meta["total"]),
            "handled": handled,
            "sent": counts.get("sent", 0),
            "failed": counts.get("failed", 0),
            "ambiguous": counts.get("ambiguous", 0),
            "skipped": {r: counts.get(f"skipped:{r}", 0) for r in SKIP_REASONS},
            "created_at": when("created_at"),
            "started_at": when("started_at"),
            "finished_at": when("finished_at"),
        }

    def cancel(self, bid: int | str) -> bool:
        """Stop sending; False if there is no such broadcast or it had already ended."""
        meta = self.meta(bid)
        if not meta or meta["status"] in ("done", "cancelled"):
            return False
        self.r.hset(
            keys.BC(self.p, bid=bid), mapping={"status": "cancelled", "finished_at": time.time()}
        )
        self._expire_lists(bid)
        return True

    def is_live(self, bid: int | str) -> bool:
        """Still to be sent (not cancelled, not finished)."""
        return self.r.hget(keys.BC(self.p, bid=bid), "status") in LIVE

    def claim_slice(self, bid: int | str, lease: float) -> tuple[int, str] | None:
        """A slice of recipients to send, with the lease token; None if none is free."""
        slices = int(self.r.hget(keys.BC(self.p, bid=bid), "slices") or 0)
        token = secrets.token_hex(6)
        k = int(
            self._claim(
                keys=[
                    keys.BC_NEXT(self.p, bid=bid),
                    keys.BC_DONE(self.p, bid=bid),
                    keys.BC(self.p, bid=bid),
                ],
                args=[
                    slices,
                    max(1, int(lease)),
                    keys.BC_LEASE(self.p, bid=bid, slice=""),
                    token,
                    time.time(),
                ],
            )
        )
        return None if k < 0 else (k, token)

    def recipients(self, bid: int | str, k: int) -> list[str]:
        """The addresses in slice k (erased people's blanked places left out)."""
        raw = self.r.lrange(keys.BC_TO(self.p, bid=bid), k * SLICE, (k + 1) * SLICE - 1)
        return [a.decode() for a in raw if a != ERASED.encode()]

    def keep_lease(self, bid: int | str, k: int, token: str, lease: float) -> bool:
        """Still working on slice k; False if the lease ran out and someone else has it."""
        key = keys.BC_LEASE(self.p, bid=bid, slice=k)
        return bool(self._keep_lease(keys=[key], args=[token, max(1, int(lease))]))

    def slice_done(self, bid: int | str, k: int) -> bool:
        """Mark slice k finished; True when that finished the whole broadcast."""
        pipe = self.r.pipeline()
        pipe.sadd(keys.BC_DONE(self.p, bid=bid), k)
        pipe.delete(keys.BC_LEASE(self.p, bid=bid, slice=k))
        pipe.scard(keys.BC_DONE(self.p, bid=bid))
        pipe.hget(keys.BC(self.p, bid=bid), "slices")
        _, _, done, slices = pipe.execute()
        if done < int(slices or 0):
            return False
        self.finish(bid)
        return True

    def finish(self, bid: int | str) -> None:
        """Mark the broadcast done and let its recipient list and ledger expire."""
        if self.is_live(bid):
            self.r.hset(
                keys.BC(self.p, bid=bid), mapping={"status": "done", "finished_at": time.time()}
            )
        self._expire_lists(bid)

    def _expire_lists(self, bid: int | str) -> None:
        for key in (keys.BC_TO, keys.BC_LEDGER):
            self.r.expire(key(self.p, bid=bid), LEDGER_TTL)

    def state(self, bid: int | str, address: str) -> str | None:
        """Where this recipient is in the ledger."""
        raw = self.r.hget(keys.BC_LEDGER(self.p, bid=bid), address)
        return raw.decode() if raw else None

    def settle(self, bid: int | str, address: str, state: str, counter: str, mode: str) -> int:
        """Move one recipient to ``state`` and bump ``counter``, if ``mode`` allows:
        'claim' (no state yet, and not stopped: 2 if they said STOP, recorded as such) or
        'from-sending' (only a claimed recipient). 0 when not allowed; 3 when they were
        erased since the list was made (nothing written)."""
        k = [keys.BC_LEDGER(self.p, bid=bid), keys.BC_COUNTS(self.p, bid=bid),
             keys.STOPPED(self.p), keys.PEOPLE(self.p)]  # fmt: skip
        args = [address, state, mode, counter, self.store.suppression.hid(address)]
        return int(self._settle(keys=k, args=args))

    def facts(self, bid: int | str, addresses: list[str]) -> dict[str, dict]:
        """What sending needs to know about a slice of recipients, in one round trip:
        ledger state, consent, unreachable, last message time."""
        pipe = self.r.pipeline(transaction=False)
        pipe.hmget(keys.BC_LEDGER(self.p, bid=bid), addresses)
        pipe.smismember(keys.CONSENTED(self.p), addresses)
        pipe.hmget(keys.UNREACHABLE(self.p), addresses)
        pipe.hmget(keys.LASTIN(self.p), addresses)
        states, consented, unreachable, lastin = pipe.execute()
        return {
            a: {
                "state": s.decode() if s else None,
                "consent": bool(c),
                "unreachable": bool(u),
                "lastin": float(t) if t else None,
            }
            for a, s, c, u, t in zip(addresses, states, consented, unreachable, lastin, strict=True)
        }

    def last_inbound(self, addresses: list[str]) -> dict[str, float | None]:
        """When each of these people last wrote (None: never, or erased)."""
        raw = self.r.hmget(keys.LASTIN(self.p), addresses) if addresses else []
        return {a: float(t) if t else None for a, t in zip(addresses, raw, strict=True)}

    def ledger(self, bid: int | str) -> Mapping[str, str]:
        """Every recipient's state (for tests and audits)."""
        raw = self.r.hgetall(keys.BC_LEDGER(self.p, bid=bid))
        return {k.decode(): v.decode() for k, v in raw.items()}
