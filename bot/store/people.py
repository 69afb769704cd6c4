"""People: each one's conversation, the indexes broadcasts draw on, and their outbox.

A turn is saved in one step (SAVE_TURN): the conversation (which remembers the message
it handled), the people and consent indexes, the consent evidence in the suppression
record, and its replies appended to the person's outbox. Replies are sent from the outbox
and leave it one by one as each goes, so a turn replayed after a crash sends exactly what
was not yet sent.

A STOP or DELETE is recorded the moment it arrives (the STOP in the suppression record,
the DELETE by leaving the people index), while the messages queued ahead of it still take
their turns. Their replies are then *held*: they stay in the outbox, where the STOP's turn
clears them and the DELETE's erases them, so nothing is sent after either arrives.
"""

from __future__ import annotations

from collections.abc import Sequence

import redis

from bot import daytime
from bot.model.person import Consent, Conversation, State
from bot.store import keys

# Whether a person's replies must wait for a STOP or DELETE queued behind (see above).
HELD = """
local function held(stopped, people, hid, address, is_stopped)
  if is_stopped == '1' then return false end
  return redis.call('SISMEMBER', stopped, hid) == 1
    or redis.call('SISMEMBER', people, address) == 0
end
"""

SAVE_TURN = (
    """
-- KEYS: 1 conv:<address>, 2 people, 3 supporters, 4 consented, 5 consent, 6 outbox:<address>,
--       7 stopped, 8 timeline, 9 nearby
-- ARGV: 1 conversation JSON, 2 '1' if new person, 3 consent evidence ('' : unchanged),
--       4 address, 5 channel, 6 one-way id, 7 '1' if the conversation is STOPPED,
--       8 this hour (unix), 9 'longitude latitude' if they may be asked to help nearby
--       ('' : not), 10... replies to send (appended after any still waiting, so they go in
--       order)
-- Returns 1, or 2 when the replies are held: a STOP or DELETE came after this message.
"""
    + HELD
    + """
redis.call('SET', KEYS[1], ARGV[1])
if ARGV[2] == '1' and redis.call('SADD', KEYS[2], ARGV[4]) == 1 then
  redis.call('HINCRBY', KEYS[3], ARGV[5], 1)
  redis.call('HINCRBY', KEYS[8], 'joined|' .. ARGV[8], 1)
end
if ARGV[3] ~= '' then
  if string.sub(ARGV[3], 1, 1) == '1' then
    redis.call('SADD', KEYS[4], ARGV[4])
  else
    redis.call('SREM', KEYS[4], ARGV[4])
  end
  redis.call('HSET', KEYS[5], ARGV[6], ARGV[3])
end
if ARGV[9] ~= '' then
  local lon, lat = string.match(ARGV[9], '^(%S+) (%S+)$')
  redis.call('GEOADD', KEYS[9], lon, lat, ARGV[4])
else
  redis.call('ZREM', KEYS[9], ARGV[4])
end
if #ARGV > 9 then redis.call('RPUSH', KEYS[6], unpack(ARGV, 10)) end
if held(KEYS[7], KEYS[2], ARGV[6], ARGV[4], ARGV[7]) then return 2 end
return 1
"""
)

HOLDING = (
    """
-- KEYS: 1 stopped, 2 people. ARGV: 1 one-way id, 2 address, 3 '1' if STOPPED.
-- 1 if this person's replies are held (see SAVE_TURN), else 0.
"""
    + HELD
    + """
return held(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3]) and 1 or 0
"""
)

MARK_UNREACHABLE = """
-- KEYS: 1 unreachable, 2 people. ARGV: 1 address, 2 reason@time.
-- Only for someone we keep a conversation for: an erased person is not written back.
if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 1 then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  return 1
end
return 0
"""


OUTBOX_DONE = """
-- KEYS: 1 outbox:<address>. ARGV: 1 the reply just sent. Drop it if it is still first.
if redis.call('LINDEX', KEYS[1], 0) == ARGV[1] then redis.call('LPOP', KEYS[1]) return 1 end
return 0
"""


class People:
    """Conversations and the per-person indexes."""

    def __init__(self, r: redis.Redis, prefix: str, secret: bytes) -> None:
        self.r, self.p, self.secret = r, prefix, secret
        self._save_turn = r.register_script(SAVE_TURN)
        self._holding = r.register_script(HOLDING)
        self._mark_unreachable = r.register_script(MARK_UNREACHABLE)
        self._index_nearby = r.register_script(INDEX_NEARBY)
        self._outbox_done = r.register_script(OUTBOX_DONE)

    def load(self, address: str, wrote: bool = False) -> Conversation | None:
        """The stored conversation, if any. ``wrote``: the person has just written to us,
        so they can be reached again (cleared in the same round trip)."""
        if not wrote:
            raw = self.r.get(keys.CONV(self.p, address=address))
        else:
            pipe = self.r.pipeline(transaction=False)
            pipe.get(keys.CONV(self.p, address=address))
            pipe.hdel(keys.UNREACHABLE(self.p), address)
            raw = pipe.execute()[0]
        return Conversation.from_json(address, raw) if raw else None

    def save(
        self,
        conv: Conversation,
        new_person: bool = False,
        consent: Consent | None = None,
        replies: Sequence[str] = (),
    ) -> bool:
        """Store the conversation and queue its ``replies`` (Outbound JSON) in the outbox;
        a new person joins the people index, and a consent answer updates the set
        broadcasts draw on and the evidence in the suppression record (which outlives
        DELETE). All at once. True if the outbox may be sent now, False if it is held
        for a STOP or DELETE that arrived after this message."""
        a, p = conv.address, self.p
        k = [keys.CONV(p, address=a), keys.PEOPLE(p), keys.SUPPORTERS(p), keys.CONSENTED(p),
             keys.CONSENT(p), keys.OUTBOX(p, address=a), keys.STOPPED(p),
             keys.TIMELINE(p), keys.NEARBY(p)]  # fmt: skip
        evidence = (
            f"{int(consent.granted)}|{consent.at}|{consent.channel}|{consent.version}"
            if consent
            else ""
        )
        args = [conv.to_json(), "1" if new_person else "0", evidence, a, conv.channel,
                keys.hid(self.secret, a), _stopped(conv), int(daytime.now() // 3600),
                _nearby(conv), *replies]  # fmt: skip
        return int(self._save_turn(keys=k, args=args)) == 1

    def load_many(self, addresses: Sequence[str]) -> list[Conversation | None]:
        """The stored conversations of several people, in order (None: none kept)."""
        if not addresses:
            return []
        raws = self.r.mget([keys.CONV(self.p, address=a) for a in addresses])
        return [Conversation.from_json(a, raw) if raw else None
                for a, raw in zip(addresses, raws, strict=True)]  # fmt: skip

    def names(self, addresses: Sequence[str]) -> list[str]:
        """The first name each gave on their platform ("" when none)."""
        return [c.name if c else "" for c in self.load_many(addresses)]

    def sendable(self, conv: Conversation | None) -> bool:
        """False while this person's replies are held for a STOP or DELETE queued behind
        (see SAVE_TURN); someone with no conversation is never held."""
        if conv is None:
            return True
        k = [keys.STOPPED(self.p), keys.PEOPLE(self.p)]
        args = [keys.hid(self.secret, conv.address), conv.address, _stopped(conv)]
        return not int(self._holding(keys=k, args=args))

    def handled_without_conversation(
        self, address: str, message: str, replies: Sequence[str]
    ) -> None:
        """A turn that keeps no conversation (a stranger's STOP, DELETE): remember the
        message was handled and queue its replies, in one step."""
        pipe = self.r.pipeline(transaction=True)
        pipe.set(keys.HANDLED(self.p, msg=message), 1, ex=keys.HANDLED.ttl)
        if replies:
            pipe.rpush(keys.OUTBOX(self.p, address=address), *replies)
        pipe.execute()

    def was_handled(self, message: str) -> bool:
        """True if a turn without a conversation already took this message."""
        return bool(self.r.exists(keys.HANDLED(self.p, msg=message)))

    def queue(self, address: str, replies: Sequence[str]) -> None:
        """Add messages to someone's outbox, after any still waiting."""
        if replies:
            self.r.rpush(keys.OUTBOX(self.p, address=address), *replies)

    def clear_outbox(self, address: str) -> None:
        """Drop every reply still waiting for this person (they have just said STOP)."""
        self.r.delete(keys.OUTBOX(self.p, address=address))

    def outbox(self, address: str) -> list[bytes]:
        """Replies waiting to be sent to (or on behalf of) this person, in order."""
        return list(self.r.lrange(keys.OUTBOX(self.p, address=address), 0, -1))

    def sent(self, address: str, raw: bytes) -> bool:
        """The first reply in the outbox has gone (or never will): drop it."""
        k = [keys.OUTBOX(self.p, address=address)]
        return bool(self._outbox_done(keys=k, args=[raw]))

    def mark_unreachable(self, address: str, reason: str) -> None:
        """The platform says this person cannot be messaged (blocked, opted out)."""
        k = [keys.UNREACHABLE(self.p), keys.PEOPLE(self.p)]
        self._mark_unreachable(keys=k, args=[address, f"{reason}@{int(daytime.now())}"])

    def index_nearby(self, batch: int = 500) -> int:
        """Put everyone stored into the geo index as a save would (data from before saves
        kept it), each only if their conversation is still as read; how many went in."""
        everyone = sorted(self.everyone())
        placed = 0
        for i in range(0, len(everyone), batch):
            some = everyone[i : i + batch]
            raws = self.r.mget([keys.CONV(self.p, address=a) for a in some])
            k, args = [keys.NEARBY(self.p)], []
            for address, raw in zip(some, raws, strict=True):
                if raw:
                    at = _nearby(Conversation.from_json(address, raw))
                    k.append(keys.CONV(self.p, address=address))
                    args += [address, raw, at]
                    placed += bool(at)
            if args:
                self._index_nearby(keys=k, args=args)
        return placed

    def unreachable(self, address: str) -> str | None:
        """Why this address cannot be reached, if so."""
        raw = self.r.hget(keys.UNREACHABLE(self.p), address)
        return raw.decode() if raw else None

    def has_consent(self, address: str) -> bool:
        """Agreed to polling-day updates."""
        return bool(self.r.sismember(keys.CONSENTED(self.p), address))

    def everyone(self) -> set[str]:
        """Every address with a conversation."""
        return {a.decode() for a in self.r.smembers(keys.PEOPLE(self.p))}

    def consented(self) -> set[str]:
        """Every address that agreed to updates."""
        return {a.decode() for a in self.r.smembers(keys.CONSENTED(self.p))}

    def by_consent(self) -> tuple[list[str], list[str]]:
        """Everyone with a conversation: (those who agreed to updates, those who did not),
        split by Redis rather than by sending both whole sets here."""
        pipe = self.r.pipeline(transaction=False)
        pipe.sinter(keys.PEOPLE(self.p), keys.CONSENTED(self.p))
        pipe.sdiff(keys.PEOPLE(self.p), keys.CONSENTED(self.p))
        agreed, others = pipe.execute()
        return [a.decode() for a in agreed], [a.decode() for a in others]

    def agreed(self, addresses: list[str]) -> list[str]:
        """Those of ``addresses`` who have a conversation and agreed to updates."""
        if not addresses:
            return []
        pipe = self.r.pipeline(transaction=False)
        pipe.smismember(keys.PEOPLE(self.p), addresses)
        pipe.smismember(keys.CONSENTED(self.p), addresses)
        talking, consented = pipe.execute()
        return [a for a, t, c in zip(addresses, talking, consented, strict=True) if t and c]

    def by_channel(self) -> dict[str, int]:
        """How many people have a conversation, per channel."""
        raw = self.r.hgetall(keys.SUPPORTERS(self.p))
        return {k.decode(): int(v) for k, v in raw.items()}


INDEX_NEARBY = """
-- KEYS: 1 nearby, then each person's conv:<address>. ARGV: per person: address, their
-- conversation as read, 'lon lat' ('' : not in the index). Each goes in (or out) only if
-- their conversation is unchanged: a save since has set the index itself, and DELETE
-- erased them.
for i = 2, #KEYS do
  local j = (i - 2) * 3
  if redis.call('GET', KEYS[i]) == ARGV[j + 2] then
    local at = ARGV[j + 3]
    if at == '' then
      redis.call('ZREM', KEYS[1], ARGV[j + 1])
    else
      local lon, lat = string.match(at, '(%S+) (%S+)')
      redis.call('GEOADD', KEYS[1], lon, lat, ARGV[j + 1])
    end
  end
end
"""


def _nearby(conv: Conversation) -> str:
    """Where they may be asked to help from (backfill): only with a yes to updates, a
    point, and no STOP."""
    c, at = conv.consent, conv.location
    if c is None or not c.granted or at is None or conv.state is State.STOPPED:
        return ""
    return f"{at.longitude} {at.latitude}"


def _stopped(conv: Conversation) -> str:
    return "1" if conv.state is State.STOPPED else "0"
