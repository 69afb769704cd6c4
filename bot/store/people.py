"""People: each one's conversation, the indexes broadcasts draw on, and their outbox.

A turn is saved in one step (SAVE_TURN): the conversation (which remembers the message
it handled), the people and consent indexes, the consent evidence in the suppression
record, and its replies appended to the person's outbox. Replies are sent from the outbox
and leave it one by one as each goes, so a turn replayed after a crash sends exactly what
was not yet sent.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import redis

from bot.model.person import Consent, Conversation
from bot.store import keys

SAVE_TURN = """
-- KEYS: 1 conv:<address>, 2 people, 3 supporters, 4 consented, 5 consent, 6 outbox:<address>
-- ARGV: 1 conversation JSON, 2 '1' if new person, 3 consent evidence ('' : unchanged),
--       4 address, 5 channel, 6 one-way id, 7... replies to send (appended after any
--       still waiting, so they go in order)
redis.call('SET', KEYS[1], ARGV[1])
if ARGV[2] == '1' and redis.call('SADD', KEYS[2], ARGV[4]) == 1 then
  redis.call('HINCRBY', KEYS[3], ARGV[5], 1)
end
if ARGV[3] ~= '' then
  if string.sub(ARGV[3], 1, 1) == '1' then
    redis.call('SADD', KEYS[4], ARGV[4])
  else
    redis.call('SREM', KEYS[4], ARGV[4])
  end
  redis.call('HSET', KEYS[5], ARGV[6], ARGV[3])
end
if #ARGV > 6 then redis.call('RPUSH', KEYS[6], unpack(ARGV, 7)) end
return 1
"""

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
        self._mark_unreachable = r.register_script(MARK_UNREACHABLE)
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
    ) -> None:
        """Store the conversation and queue its ``replies`` (Outbound JSON) in the outbox;
        a new person joins the people index, and a consent answer updates the set
        broadcasts draw on and the evidence in the suppression record (which outlives
        DELETE). All at once."""
        a, p = conv.address, self.p
        k = [keys.CONV(p, address=a), keys.PEOPLE(p), keys.SUPPORTERS(p), keys.CONSENTED(p),
             keys.CONSENT(p), keys.OUTBOX(p, address=a)]  # fmt: skip
        evidence = (
            f"{int(consent.granted)}|{consent.at}|{consent.channel}|{consent.version}"
            if consent
            else ""
        )
        args = [conv.to_json(), "1" if new_person else "0", evidence, a, conv.channel,
                keys.hid(self.secret, a), *replies]  # fmt: skip
        self._save_turn(keys=k, args=args)

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
        """Add messages to someone's outbox (a reminder), after any still waiting."""
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
        self._mark_unreachable(keys=k, args=[address, f"{reason}@{int(time.time())}"])

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

    def by_channel(self) -> dict[str, int]:
        """How many people have a conversation, per channel."""
        raw = self.r.hgetall(keys.SUPPORTERS(self.p))
        return {k.decode(): int(v) for k, v in raw.items()}
