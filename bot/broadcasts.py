"""Broadcasts: choosing the audience, and the ledger that makes each send happen once.

Keys (prefix ``pd``):
  pd:bc:seq                 last broadcast id
  pd:bc:<id>                hash: text, audience, status, total, slices, created/started/finished
  pd:bc:<id>:to             list of recipient addresses, fixed when the broadcast is created
  pd:bc:<id>:ledger         hash address -> sending, sent, ambiguous, failed:<x>, skipped:<x>
  pd:bc:<id>:counts         hash sent, failed, ambiguous, skipped:<reason>
  pd:bc:<id>:next           next never-claimed slice
  pd:bc:<id>:done           set of finished slices
  pd:bc:<id>:lease:<k>      held by the worker sending slice k (expires if it dies)

Exactly once per (broadcast, recipient): a recipient is claimed in the ledger ("sending")
before the platform is called and marked "sent" after. A worker killed between the
platform accepting a message and that mark leaves "sending" behind; whoever takes over
the slice cannot know whether it went, so it does not resend: it marks it "ambiguous" and
counts it. That is the one case that is not exact, at most one per killed worker.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from rq import Queue

from bot.config import Campaign
from bot.rooms import Directory, seat_key
from bot.store import Store, person_id
from workers.queues import BROADCAST, JOB_TTLS

MAX_TEXT = 1000  # leaves room for the imprint in one Telegram message or a few SMS parts
SLICE = 50  # recipients per unit of work: about a second of sending at typical limits
SKIP_REASONS = ("opted_out", "no_consent", "unreachable", "outside_window")
AUDIENCE_KEYS = ("constituency", "room", "shift", "channel", "pledged")
LEDGER_TTL = 7 * 24 * 3600  # recipient lists and ledgers name people: not kept for long
UNPACED_RATE = 1000.0  # sends/s assumed for a channel with no limit, to order recipients

# Claim the next slice: a fresh one while any are left, then any unfinished slice whose
# lease has expired (its worker died). -1: nothing to claim right now.
CLAIM = """
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

# Extend a slice's lease only while it is still ours.
KEEP_LEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('EXPIRE', KEYS[1], ARGV[2]) end
return 0
"""

# Record a final state for one recipient, once: the counters move only with the ledger.
SETTLE = """
local old = redis.call('HGET', KEYS[1], ARGV[1])
if ARGV[3] == 'claim' then
  if old then return 0 end
  -- A STOP is checked here, at the last moment before sending, in the same step.
  if ARGV[5] and redis.call('SISMEMBER', KEYS[3], ARGV[5]) == 1 then
    redis.call('HSET', KEYS[1], ARGV[1], 'skipped:opted_out')
    redis.call('HINCRBY', KEYS[2], 'skipped:opted_out', 1)
    return 2
  end
elseif ARGV[3] == 'from-sending' then
  if old ~= 'sending' then return 0 end
elseif old and old ~= 'sending' then
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if ARGV[4] ~= '' then redis.call('HINCRBY', KEYS[2], ARGV[4], 1) end
return 1
"""


class AudienceError(ValueError):
    """An audience an organiser asked for that cannot be right; the message says why."""


@dataclass(frozen=True)
class Audience:
    """Who a broadcast is for; every field optional (None: everyone)."""

    constituency: str | None = None
    room: str | None = None
    shift: str | None = None
    channel: str | None = None
    pledged: bool | None = None

    @classmethod
    def parse(cls, raw: Any, campaign: Campaign, directory: Directory) -> Audience:
        """Validate an audience from JSON."""
        raw = {} if raw is None else raw
        if not isinstance(raw, dict):
            raise AudienceError("audience: expected an object")
        unknown = set(raw) - set(AUDIENCE_KEYS)
        if unknown:
            raise AudienceError(f"audience: unknown key(s) {', '.join(sorted(unknown))}")
        for key in ("constituency", "room", "shift", "channel"):
            value = raw.get(key)
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise AudienceError(f"audience.{key}: expected text")
        seat = raw.get("constituency")
        if seat and seat_key(seat) not in {r.seat for r in directory.rooms.values()}:
            raise AudienceError(
                f"audience.constituency: no committee room in {seat!r} "
                "(name the seat as the rooms file does)"
            )
        if raw.get("pledged") is not None and not isinstance(raw["pledged"], bool):
            raise AudienceError("audience.pledged: expected true or false")
        if raw.get("shift") and raw["shift"] not in campaign.shift_ids:
            raise AudienceError(f"audience.shift: no shift {raw['shift']!r}")
        if raw.get("room") and raw["room"] not in directory.rooms:
            raise AudienceError(f"audience.room: no room {raw['room']!r}")
        if raw.get("channel") and raw["channel"] not in ("telegram", "whatsapp", "sms"):
            raise AudienceError("audience.channel: expected telegram, whatsapp or sms")
        return cls(
            **{k: raw.get(k) for k in ("constituency", "room", "shift", "channel", "pledged")}
        )

    def as_dict(self) -> dict[str, Any]:
        """The fields that were given."""
        return {k: v for k, v in asdict(self).items() if v is not None}

    def matches(
        self, address: str, pledge: tuple[str, tuple[str, ...]] | None, directory: Directory
    ) -> bool:
        """Whether one person is in the audience, given their pledge."""
        if self.channel and not address.startswith(self.channel + ":"):
            return False
        if self.pledged is not None and (pledge is not None) != self.pledged:
            return False
        if not (self.room or self.shift or self.constituency):
            return True
        if pledge is None:
            return False
        room_id, shifts = pledge
        if self.room and room_id != self.room:
            return False
        if self.shift and self.shift not in shifts:
            return False
        room = directory.rooms.get(room_id)
        return not self.constituency or (
            room is not None and room.seat == seat_key(self.constituency)
        )


def render(text: str, campaign: Campaign) -> str:
    """The broadcast as sent: the organiser's text, then the imprint."""
    return f"{text}\n\n{campaign.imprint}" if campaign.imprint else text


def by_send_time(addresses: list[str], limits: Mapping[str, float]) -> list[str]:
    """The addresses in the order they would go out if every channel sent at its own rate
    at once: the i-th person on a channel limited to L/s is due at i / L seconds. Slices
    then mix channels in proportion to their rates, so every channel is kept busy at its
    limit, instead of WhatsApp waiting behind a long run of Telegram slices."""
    seen: dict[str, int] = {}
    due = []
    for n, address in enumerate(addresses):
        channel = address.split(":", 1)[0]
        i = seen[channel] = seen.get(channel, -1) + 1
        due.append((i / limits.get(channel, UNPACED_RATE), n, address))
    return [address for *_, address in sorted(due)]


class Broadcasts:
    """Broadcast records, recipient lists and ledgers in Redis."""

    def __init__(self, store: Store) -> None:
        self.store, self.r = store, store.r
        self._claim = self.r.register_script(CLAIM)
        self._keep_lease = self.r.register_script(KEEP_LEASE)
        self._settle = self.r.register_script(SETTLE)

    def key(self, bid: int | str, *parts: str) -> str:
        """A key of one broadcast."""
        return self.store.key("bc", str(bid), *parts)

    def select(
        self, audience: Audience, directory: Directory, limits: Mapping[str, float] | None = None
    ) -> tuple[list[str], int]:
        """(people in the audience who agreed to updates, in sending order; how many more
        did not agree). ``limits`` are the channels' rates (see :func:`by_send_time`)."""
        people = {a.decode() for a in self.r.smembers(self.store.key("people"))}
        consented = {a.decode() for a in self.r.smembers(self.store.key("consented"))}
        pledges = self.store.pledges()
        chosen = sorted(a for a in people if audience.matches(a, pledges.get(a), directory))
        yes = [a for a in chosen if a in consented]
        return by_send_time(yes, limits or {}), len(chosen) - len(yes)

    def create(self, text: str, audience: Audience, recipients: list[str], no_consent: int) -> int:
        """Store a new broadcast ready to send; its id."""
        bid = int(self.r.incr(self.store.key("bc", "seq")))
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(
            self.key(bid),
            mapping={
                "text": text,
                "audience": json.dumps(audience.as_dict()),
                "status": "queued" if recipients else "done",
                "total": len(recipients),
                "slices": -(-len(recipients) // SLICE),
                "created_at": time.time(),
            },
        )
        if recipients:
            pipe.rpush(self.key(bid, "to"), *recipients)
        if no_consent:
            pipe.hset(self.key(bid, "counts"), "skipped:no_consent", no_consent)
        pipe.execute()
        return bid

    def launch(self, bid: int, parallel: int = 2) -> None:
        """Queue the first sending steps (each step queues the next; see workers/broadcasts)."""
        q = Queue(BROADCAST, connection=self.r)
        for _ in range(parallel):
            q.enqueue("workers.broadcasts.step", bid, **JOB_TTLS)

    def meta(self, bid: int | str) -> dict[str, str]:
        """The broadcast's record ({} if there is none)."""
        return {k.decode(): v.decode() for k, v in self.r.hgetall(self.key(bid)).items()}

    def status(self, bid: int | str) -> dict[str, Any] | None:
        """What an organiser sees: progress, skips by reason, times."""
        meta = self.meta(bid)
        if not meta:
            return None
        counts = {k.decode(): int(v) for k, v in self.r.hgetall(self.key(bid, "counts")).items()}
        when = lambda k: float(meta[k]) if k in meta else None  # noqa: E731
        return {
            "id": int(bid),
            "status": meta["status"],
            "text": meta["text"],
            "audience": json.loads(meta["audience"]),
            "total": int(meta["total"]),
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
        self.r.hset(self.key(bid), mapping={"status": "cancelled", "finished_at": time.time()})
        self._expire_lists(bid)
        return True

    def is_live(self, bid: int | str) -> bool:
        """Still to be sent (not cancelled, not finished)."""
        return self.r.hget(self.key(bid), "status") in (b"queued", b"sending")

    def claim_slice(self, bid: int | str, lease: float) -> tuple[int, str] | None:
        """A slice of recipients to send, with the lease token; None if none is free."""
        slices = int(self.r.hget(self.key(bid), "slices") or 0)
        token = secrets.token_hex(6)
        k = int(
            self._claim(
                keys=[self.key(bid, "next"), self.key(bid, "done"), self.key(bid)],
                args=[slices, max(1, int(lease)), self.key(bid, "lease:"), token, time.time()],
            )
        )
        return None if k < 0 else (k, token)

    def recipients(self, bid: int | str, k: int) -> list[str]:
        """The addresses in slice k."""
        raw = self.r.lrange(self.key(bid, "to"), k * SLICE, (k + 1) * SLICE - 1)
        return [a.decode() for a in raw]

    def keep_lease(self, bid: int | str, k: int, token: str, lease: float) -> bool:
        """Still working on slice k; False if the lease ran out and someone else has it."""
        key = self.key(bid, f"lease:{k}")
        return bool(self._keep_lease(keys=[key], args=[token, max(1, int(lease))]))

    def slice_done(self, bid: int | str, k: int) -> bool:
        """Mark slice k finished; True when that finished the whole broadcast."""
        pipe = self.r.pipeline()
        pipe.sadd(self.key(bid, "done"), k)
        pipe.delete(self.key(bid, f"lease:{k}"))
        pipe.scard(self.key(bid, "done"))
        pipe.hget(self.key(bid), "slices")
        _, _, done, slices = pipe.execute()
        if done < int(slices or 0):
            return False
        self.finish(bid)
        return True

    def finish(self, bid: int | str) -> None:
        """Mark the broadcast done and let its recipient list and ledger expire."""
        if self.is_live(bid):
            self.r.hset(self.key(bid), mapping={"status": "done", "finished_at": time.time()})
        self._expire_lists(bid)

    def _expire_lists(self, bid: int | str) -> None:
        for part in ("to", "ledger"):
            self.r.expire(self.key(bid, part), LEDGER_TTL)

    def state(self, bid: int | str, address: str) -> str | None:
        """Where this recipient is in the ledger."""
        raw = self.r.hget(self.key(bid, "ledger"), address)
        return raw.decode() if raw else None

    def settle(self, bid: int | str, address: str, state: str, counter: str, mode: str) -> int:
        """Move one recipient to ``state`` and bump ``counter``, if ``mode`` allows:
        'claim' (no state yet, and not stopped: 2 if they said STOP, recorded as such),
        'from-sending' (only from sending), 'final' (not settled). 0 when not allowed."""
        keys = [self.key(bid, "ledger"), self.key(bid, "counts"), self.store.key("stopped")]
        args = [address, state, mode, counter]
        if mode == "claim":
            args.append(person_id(address))
        return int(self._settle(keys=keys, args=args))

    def facts(self, bid: int | str, addresses: list[str]) -> dict[str, dict]:
        """What sending needs to know about a slice of recipients, in one round trip:
        ledger state, consent, unreachable, last message time."""
        pipe = self.r.pipeline(transaction=False)
        pipe.hmget(self.key(bid, "ledger"), addresses)
        pipe.smismember(self.store.key("consented"), addresses)
        pipe.hmget(self.store.key("unreachable"), addresses)
        pipe.hmget(self.store.key("lastin"), addresses)
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

    def ledger(self, bid: int | str) -> Mapping[str, str]:
        """Every recipient's state (for tests and audits)."""
        raw = self.r.hgetall(self.key(bid, "ledger"))
        return {k.decode(): v.decode() for k, v in raw.items()}
