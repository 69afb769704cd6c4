"""The broadcast pages under /admin/broadcasts: compose with a live dry run, review and
confirm naming the count, then watch progress (and cancel); the past broadcasts.

The same checks as the JSON API (bot/admin/api.py): the text (bot/broadcasts.text_problem)
and the audience (Audience.parse). Viewers may compose and look; only admins send or cancel.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, abort, g, redirect, render_template, request

from bot import daytime, organising
from bot.admin import auth, sending
from bot.broadcasts import MAX_TEXT, Audience, AudienceError, render, text_problem
from bot.config import Settings
from bot.rooms import Directory
from bot.store import Store
from bot.store.broadcasts import Broadcasts

PAST = 20  # broadcasts listed under the composer
FIELDS = ("text", "constituency", "room", "shift", "channel", "pledged")


@dataclass(frozen=True)
class DryRun:
    """Who a composed broadcast would reach, and how each channel would show it."""

    text: str
    audience: Audience
    recipients: list[str]
    no_consent: int
    channels: list[sending.ChannelPreview]
    words: str


class Refused(Exception):
    """A composed broadcast that cannot go as it is; the message says why."""


def add_routes(bp: Blueprint, settings: Settings, store: Store) -> None:
    """The broadcast pages, on the organiser pages' blueprint (signed in, CSRF checked)."""
    campaign = settings.campaign
    shifts = {s.id: s.label for s in campaign.shifts}

    def dry_run(form: Any, draft: bool = False, ordered: bool = False) -> DryRun:
        """``draft``: the text may still be empty (the audience is being chosen first);
        ``ordered``: the recipients in sending order (to send, not only to count)."""
        text = form.get("text", "")
        if (text or not draft) and (problem := text_problem(text)):
            raise Refused(problem.replace("text: ", "The message: ", 1))
        directory = organising.directory(store)
        try:
            audience = Audience.parse(sending.audience_from_form(form), campaign, directory)
        except AudienceError as exc:
            raise Refused(str(exc)) from None
        bc = Broadcasts(store)
        recipients, no_consent = bc.select(audience, directory, campaign.rate_limits, ordered)
        last_inbound = bc.last_inbound(sending.windowed(recipients))
        shown = render(text.strip(), campaign) if text else ""
        channels = sending.by_channel(recipients, last_inbound, shown,
                                      campaign.broadcast_template, daytime.now())  # fmt: skip
        words = sending.describe(audience.as_dict(), shifts, _room_names(directory))
        return DryRun(text.strip(), audience, recipients, no_consent, channels, words)

    def compose(status: int = 200, error: str = "", **shown: Any) -> Any:
        directory = organising.directory(store)
        bc = Broadcasts(store)
        rooms = _room_names(directory)
        past = []
        for bid in bc.recent(PAST):
            if (st := bc.status(bid)) is not None:
                words = sending.describe(st["audience"], shifts, rooms)
                past.append((st, sending.progress(st, time.time()), words))
        page = render_template(
            "broadcasts.html", campaign=campaign, session=g.session, shifts=shifts,
            rooms=sorted(rooms.items(), key=lambda kv: kv[1]), max_text=MAX_TEXT,
            seats=sorted({r.constituency for r in directory.rooms.values()}), past=past,
            form={k: request.values.get(k, "") for k in FIELDS}, error=error, **shown,
        )  # fmt: skip
        return page, status

    @bp.get("/broadcasts")
    def broadcasts() -> Any:
        return compose()

    @bp.post("/broadcasts/preview")
    def broadcast_preview() -> Any:
        """The dry run as the composer's fields change (the part of the page it fills)."""
        try:
            run = dry_run(request.form, draft=True)
        except Refused as exc:
            return render_template("broadcast_preview.html", error=str(exc)), 400
        return render_template("broadcast_preview.html", run=run)

    @bp.post("/broadcasts/edit")
    def broadcast_edit() -> Any:
        return compose()  # the composer, filled in as the review page had it

    @bp.post("/broadcasts/review")
    def broadcast_review() -> Any:
        try:
            run = dry_run(request.form)
        except Refused as exc:
            return compose(400, str(exc))
        return review(run)

    def review(run: DryRun, status: int = 200, note: str = "") -> Any:
        page = render_template("broadcast_review.html", campaign=campaign, session=g.session,
                               run=run, form=request.form, note=note)  # fmt: skip
        return page, status

    @bp.post("/broadcasts/send")
    def broadcast_send() -> Any:
        auth.require_admin(g.session)
        try:
            run = dry_run(request.form, ordered=True)
        except Refused as exc:
            return compose(400, str(exc))
        count = len(run.recipients)
        if not count:
            return review(run, 409, "Nobody in this audience agreed to updates: nothing sent.")
        confirmed = request.form.get("count", "")
        if not confirmed.isdigit():
            return review(run, 409, "Check the broadcast and its count before sending it.")
        if _grew(int(confirmed), count):
            changed = f"The audience has grown since you checked it, to {count:,} people"
            return review(run, 409, f"{changed}: check it again before sending.")
        bc = Broadcasts(store)
        bid = bc.create(run.text, run.audience, run.recipients, run.no_consent, launch=True)
        return redirect(f"/admin/broadcasts/{bid}")

    @bp.get("/broadcasts/<int:bid>")
    def broadcast(bid: int) -> Any:
        status = Broadcasts(store).status(bid)
        if status is None:
            abort(404, f"There is no broadcast {bid}.")
        rooms = _room_names(organising.directory(store))
        page = "broadcast_part.html" if request.headers.get("X-Partial") else "broadcast.html"
        return render_template(
            page, campaign=campaign, session=g.session, b=status,
            p=sending.progress(status, time.time()),
            words=sending.describe(status["audience"], shifts, rooms),
            again="/admin/broadcasts?" + urlencode(sending.as_form(status)),
        )  # fmt: skip

    @bp.post("/broadcasts/<int:bid>/cancel")
    def broadcast_cancel(bid: int) -> Any:
        auth.require_admin(g.session)
        bc = Broadcasts(store)
        if not bc.meta(bid):
            abort(404, f"There is no broadcast {bid}.")
        bc.cancel(bid)  # already ended: nothing to do, and the page says how it ended
        return redirect(f"/admin/broadcasts/{bid}")


def _room_names(directory: Directory) -> dict[str, str]:
    return {r.id: r.name for r in directory.rooms.values()}


def _grew(confirmed: int, now: int) -> bool:
    """The audience grew by more than the organiser would shrug at since they confirmed
    (people join all day: a few more is expected; a tenth more is a different broadcast)."""
    return now > confirmed + max(10, confirmed // 10)
