"""Prometheus metrics and the health check, read from Redis at request time.

Counters live in Redis (``notifier:stats``, incremented in the same atomic step as the
status change they count), so the API process reports what every worker and dispatcher
did, not only what happened in its own memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import redis
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from notifier.clock import Clock
from notifier.settings import Settings
from notifier.store import LAG_BUCKETS, Store, lag_bucket

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
COUNTERS = {
    "planned": "Letters planned (by rules, ad hoc or as alerts)",
    "suppressed": "Letters planned as suppressed (case on standby), never sent",
    "sent": "Letters handed to their channel",
    "cancelled": "Letters cancelled before sending",
    "dead": "Letters given up on (the caseworker is alerted)",
    "uncertain": "Letters whose request may have reached SF1601 without an answer (issue 12)",
}


class StoreCollector:
    def __init__(self, store: Store, clock: Clock, certificate_days: int | None = None,
                 certificate_seconds: float | None = None) -> None:
        self.store = store
        self.clock = clock
        self.certificate_days = certificate_days
        self.certificate_seconds = certificate_seconds  # issue 13

    def collect(self) -> Iterator[Metric]:
        from notifier.api.ops_metrics import ops_metrics  # issue 13

        stats = self.store.stats()
        yield from _counters(stats)
        yield _lag_histogram(stats)
        yield from _retention(stats)  # issue 14a
        yield from self._gauges()
        yield from ops_metrics(self.store, self.clock.now(), self.certificate_seconds)

    def _gauges(self) -> Iterator[Metric]:
        values: dict[str, tuple[str, float]] = {
            "notifier_due_letters": ("Scheduled letters waiting in the due set",
                                     self.store.due_count()),
            "notifier_inflight_letters": ("Letters claimed and leased, not yet recorded",
                                          self.store.inflight_count()),
            "notifier_queue_depth": ("Messages in the Dramatiq letters queue not yet acked",
                                     self.store.queue_depth()),
        }
        tick = self.store.last_tick_seconds()
        if tick is not None:
            values["notifier_dispatcher_tick_seconds"] = ("Duration of the last dispatcher tick",
                                                          tick)
        age = heartbeat_age(self.store, self.clock)
        if age is not None:
            values["notifier_dispatcher_heartbeat_age_seconds"] = (
                "Seconds since a dispatcher last ticked", age)
        if self.store.callbacks:  # issue 13
            from notifier.records.callbacks import CallbackOutbox

            counts = CallbackOutbox(self.store).counts()
            values["notifier_callbacks_pending"] = (
                "Callbacks to the case system not yet accepted (2xx)", counts["pending"])
            values["notifier_callbacks_dead"] = (
                "Callbacks given up on (alert: replay with notifier callbacks replay)",
                counts["dead"])
        if self.certificate_days is not None:
            values["notifier_gateway_certificate_days_left"] = (
                "Days until the SF1601 function certificate expires (alert below 30)",
                self.certificate_days)
        for name, (doc, value) in values.items():
            yield GaugeMetricFamily(name, doc, value=value)


def _counters(stats: dict[str, float]) -> Iterator[Metric]:
    families = {what: CounterMetricFamily(f"notifier_letters_{what}", doc,
                                          labels=["kind", "channel"])
                for what, doc in COUNTERS.items()}
    for key, value in sorted(stats.items()):
        what, _, rest = key.partition("|")
        kind, _, channel = rest.partition("|")
        if what in families and channel:
            families[what].add_metric([kind, channel], value)
    yield from families.values()


def _retention(stats: dict[str, float]) -> Iterator[Metric]:
    """Issue 14a: closed cases archived (a folder written) and purged from Redis."""
    from notifier.records.retention_store import ARCHIVED_STAT, PURGED_STAT

    yield CounterMetricFamily("notifier_retention_cases_archived",
                              "Closed cases whose archive folder was written",
                              value=stats.get(ARCHIVED_STAT, 0.0))
    yield CounterMetricFamily("notifier_retention_cases_purged",
                              "Archived cases purged from Redis", value=stats.get(PURGED_STAT, 0.0))


def _lag_histogram(stats: dict[str, float]) -> Metric:
    """Cumulative buckets from the per-bucket counts kept in Redis."""
    buckets: list[tuple[str, float]] = []
    running = 0.0
    for bound in (*LAG_BUCKETS, float("inf")):
        running += stats.get(lag_bucket(bound), 0.0)
        buckets.append(("+Inf" if bound == float("inf") else str(bound), running))
    return HistogramMetricFamily(
        "notifier_letter_due_lag_seconds",
        "From a sent letter's planned send time to when it was sent",
        buckets=buckets, sum_value=stats.get("lag_sum", 0.0))


def render_metrics(store: Store, clock: Clock, certificate_days: int | None = None,
                   certificate_seconds: float | None = None) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(store, clock, certificate_days, certificate_seconds))
    return generate_latest(registry)


def heartbeat_age(store: Store, clock: Clock) -> float | None:
    last = store.last_heartbeat()
    return max((clock.now() - last).total_seconds(), 0.0) if last else None


def health(store: Store, clock: Clock, settings: Settings) -> tuple[int, dict[str, Any]]:
    """200 while Redis answers ("degraded" if no dispatcher ticked lately), else 503."""
    try:
        store.redis.ping()
        age = heartbeat_age(store, clock)
        body: dict[str, Any] = {
            "redis": True, "dispatcher_heartbeat_age_seconds": age,
            "queue_depth": store.queue_depth(), "due": store.due_count(),
            "inflight": store.inflight_count(),
        }
    except redis.RedisError:
        return 503, {"status": "down", "redis": False}
    stale = age is None or age > max(10 * settings.dispatch_interval, 30.0)
    return 200, {"status": "degraded" if stale else "ok", **body}
