"""/healthz and /metrics: whether the bot can do its job, and what it has done.

Both read Redis (bot/store/pulse.py), so any web process reports every worker: workers beat
every 5 s with what they counted, and a worker not heard from for WORKER_SILENCE seconds is
taken for dead. /metrics is the Prometheus text format, built by prometheus_client from
those counts at each scrape; no label holds personal data (channels, results, broadcast
ids).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from bot.campaign import Campaign
from bot.store import Store
from bot.store.broadcasts import Broadcasts

WORKER_SILENCE = 30.0  # seconds without a heartbeat before a worker counts as gone
RECENT_BROADCASTS = 20  # broadcasts whose progress /metrics shows


def health(store: Store, campaign: Campaign) -> tuple[dict[str, Any], int]:
    """The /healthz answer and its status: 503 when no worker (with the scheduler) has
    been heard from lately, or someone has waited longer than ``max_wait_seconds``."""
    workers = store.pulse.workers(WORKER_SILENCE)
    waiting, oldest = store.pulse.waiting()
    problems = []
    if not workers.alive:
        seen = "never" if workers.last_seen is None else f"{workers.last_seen:.0f} s ago"
        problems.append(f"no worker heard from in {WORKER_SILENCE:.0f} s (last: {seen})")
    elif not workers.scheduler:
        problems.append("no worker runs the scheduler (python -m workers --with-scheduler)")
    if oldest > campaign.max_wait_seconds:
        problems.append(f"someone has waited {oldest:.0f} s for a reply")
    body = {
        "status": "unhealthy" if problems else "ok",
        "redis": "ok",
        "workers": workers.alive,
        "scheduler": workers.scheduler,
        "waiting": waiting,
        "oldest_wait_seconds": round(oldest, 1),
        "problems": problems,
    }
    return body, 503 if problems else 200


class _FromRedis(Collector):
    """Metrics read from Redis at each scrape."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def collect(self) -> Iterator[Metric]:
        counts = self.store.pulse.counts()
        turns = CounterMetricFamily("pollday_turns", "Messages handled by the workers")
        turns.add_metric([], counts.get("turns", 0))
        yield turns
        sends = CounterMetricFamily(
            "pollday_sends", "Replies sent, by channel and result", labels=["channel", "result"]
        )
        for name, n in sorted(counts.items()):
            if name.startswith("sends:"):
                _, channel, result = name.split(":", 2)
                sends.add_metric([channel, result], n)
        yield sends
        waiting, oldest = self.store.pulse.waiting()
        yield GaugeMetricFamily("pollday_waiting_people", "People waiting for a worker", waiting)
        yield GaugeMetricFamily(
            "pollday_oldest_wait_seconds", "How long the first person waiting has waited", oldest
        )
        yield GaugeMetricFamily(
            "pollday_job_requests", "Requests for worker jobs not yet taken",
            self.store.jobs.waiting(),
        )  # fmt: skip
        workers = self.store.pulse.workers(WORKER_SILENCE)
        yield GaugeMetricFamily(
            "pollday_workers_alive", "Worker processes heard from", workers.alive
        )
        yield from self._broadcasts()

    def _broadcasts(self) -> Iterator[Metric]:
        bc = Broadcasts(self.store)
        total = GaugeMetricFamily("pollday_broadcast_recipients", "Recipients", labels=["id"])
        done = GaugeMetricFamily(
            "pollday_broadcast_handled", "Recipients handled, by outcome", labels=["id", "outcome"]
        )
        for bid in bc.recent(RECENT_BROADCASTS):
            meta = bc.meta(bid)
            total.add_metric([str(bid)], int(meta.get("total", 0)))
            for outcome, n in bc.counts(bid).items():
                done.add_metric([str(bid), outcome], n)
        yield total
        yield done


def registry(store: Store) -> CollectorRegistry:
    """A registry whose metrics come from Redis (see the module docstring)."""
    reg = CollectorRegistry(auto_describe=False)
    reg.register(_FromRedis(store))
    return reg
