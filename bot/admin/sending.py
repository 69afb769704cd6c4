"""What the broadcast pages show: a dry run by channel, as each channel will show the
message; a broadcast's progress with its rate and finish; an audience in words. Pure: the
pages read Redis (bot/store/broadcasts.py) and hand the figures here."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.broadcasts import SKIP_REASONS
from bot.channels import capabilities
from bot.channels.twilio import sms_parts

LABELS = {"telegram": "Telegram", "whatsapp": "WhatsApp", "sms": "SMS", "console": "Local chat"}
SKIPPED = {  # why someone was not sent the broadcast, in words
    "opted_out": "said STOP",
    "no_consent": "did not agree to updates",
    "unreachable": "cannot be reached (blocked the bot, or the number is invalid)",
    "outside_window": "outside WhatsApp's 24-hour window, with no template set",
}
assert set(SKIPPED) == set(SKIP_REASONS)


@dataclass(frozen=True)
class ChannelPreview:
    """The message as one channel's recipients will see it."""

    channel: str
    label: str
    people: int
    text: str
    notes: tuple[str, ...]


def by_channel(
    recipients: list[str],
    last_inbound: Mapping[str, float | None],
    text: str,
    template: str,
    now: float,
) -> list[ChannelPreview]:
    """Each channel in the audience, the largest first (then by name). ``text``: the
    message as sent (with the imprint); ``last_inbound``: when each of them on a channel
    with a reply window last wrote, None if never (every one of :func:`windowed`);
    ``template``: the WhatsApp template sent to those outside it ('' if none)."""
    counts = Counter(a.partition(":")[0] for a in recipients)
    outside: Counter[str] = Counter()
    for address, when in last_inbound.items():
        channel = address.partition(":")[0]
        if not capabilities(channel).in_window(when, now):
            outside[channel] += 1
    previews = []
    for channel, people in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        label, caps, notes = LABELS.get(channel, channel), capabilities(channel), []
        if outside[channel] and caps.reply_window is not None:
            late = (
                f"{outside[channel]} of them last wrote over {caps.reply_window / 3600:g} hours ago"
            )
            if template and caps.templates:
                notes.append(f"{late}: they get the approved template {template}, with this "
                             "message as its variable")  # fmt: skip
            else:
                notes.append(f"{late} and will be skipped: {label} then allows only an approved "
                             "template (broadcast_template in config.yaml)")  # fmt: skip
        if channel == "sms" and text:
            parts, encoding = sms_parts(text)
            notes.append(f"{len(text)} characters: {parts} SMS part{'s' * (parts > 1)} each "
                         f"({encoding})")  # fmt: skip
        previews.append(ChannelPreview(channel, label, people, text, tuple(notes)))
    return previews


def windowed(recipients: list[str]) -> list[str]:
    """Those on a channel that reaches people only within a while of their last message
    (whose last messages :func:`by_channel` needs)."""
    channels = {a.partition(":")[0] for a in recipients}
    timed = tuple(f"{c}:" for c in channels if capabilities(c).reply_window is not None)
    return [a for a in recipients if a.startswith(timed)] if timed else []


@dataclass(frozen=True)
class Progress:
    """How far a broadcast has got, for the progress view."""

    status: str
    total: int
    handled: int
    percent: int
    rate: float | None  # recipients handled a second
    eta: float | None  # seconds until the last is handled, while it runs
    skipped: tuple[tuple[str, int], ...]  # (reason in words, how many), those with any

    @property
    def live(self) -> bool:
        return self.status in ("queued", "sending")


def progress(status: Mapping[str, Any], now: float) -> Progress:
    """Progress from a broadcast's status (Broadcasts.status) at time ``now``."""
    total, handled = status["total"], min(status["total"], status["handled"])
    percent = 100 if not total or status["status"] == "done" else 100 * handled // total
    started, finished = status["started_at"], status["finished_at"]
    elapsed = ((finished or now) - started) if started else 0.0
    rate = handled / elapsed if handled and elapsed > 0 else None
    live = status["status"] in ("queued", "sending")
    eta = (total - handled) / rate if live and rate else None
    skipped = tuple((SKIPPED[r], n) for r, n in status["skipped"].items() if n)
    return Progress(status["status"], total, handled, percent, rate, eta, skipped)


def describe(
    audience: Mapping[str, Any], shifts: Mapping[str, str], rooms: Mapping[str, str]
) -> str:
    """An audience in words, for organisers: "People who have pledged, for the Morning shift, on
    SMS". A room, seat or shift means people pledged there."""
    pledged = audience.get("pledged")
    if pledged is None and any(audience.get(k) for k in ("room", "constituency", "shift")):
        pledged = True
    who = {True: "People who have pledged", False: "People who have not pledged yet"}
    words = [who.get(pledged, "Everyone")]
    if shift := audience.get("shift"):
        words.append(f"for the {shifts.get(shift, shift)} shift")
    if room := audience.get("room"):
        words.append(f"at {rooms.get(room, room)}")
    if seat := audience.get("constituency"):
        words.append(f"in {seat}")
    if channel := audience.get("channel"):
        words.append(f"on {LABELS.get(channel, channel)}")
    return ", ".join(words)


def audience_from_form(form: Mapping[str, str]) -> dict[str, Any]:
    """The audience a composer's fields ask for, as the API takes it (Audience.parse)."""
    chosen: dict[str, Any] = {
        k: form[k] for k in ("constituency", "room", "shift", "channel") if form.get(k)
    }
    if form.get("pledged") in ("yes", "no"):
        chosen["pledged"] = form["pledged"] == "yes"
    return chosen


def as_form(status: Mapping[str, Any]) -> dict[str, str]:
    """A past broadcast's text and audience as the composer's fields (to send it again)."""
    form = {"text": status["text"], **status["audience"]}
    if "pledged" in form:
        form["pledged"] = "yes" if form["pledged"] else "no"
    return form
