"""Putting supporters straight into Redis, as if they had talked to the bot."""

from __future__ import annotations

from collections.abc import Iterable

from bot.model.person import Consent, Conversation, Pledge, State
from bot.store import Store, keys


def add_supporters(
    store: Store,
    addresses: Iterable[str],
    consent: bool | None = True,
    pledge: Pledge | None = None,
    caps: tuple[int, ...] = (),
    last_inbound: float | None = None,
) -> list[str]:
    """Supporters at the end of the journey, with the given consent and pledge."""
    added = []
    for address in addresses:
        answer = None
        if consent is not None:
            answer = Consent(consent, 1869732000, address.split(":")[0], "v1")
        state = State.DONE if pledge else State.ASK_LOCATION  # e.g. after CHANGE
        conv = Conversation(address, state, postcode="N7 6AA", pledge=pledge, consent=answer)
        store.people.save(conv, new_person=True, consent=answer)
        if pledge:
            assert store.places.reserve(address, pledge, caps or (1000,) * len(pledge.shifts))
        if last_inbound is not None:
            store.r.hset(keys.LASTIN(store.p), address, f"{last_inbound:.0f}")
        added.append(address)
    return added
