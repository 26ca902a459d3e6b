"""Issue 13's metrics: the sweeper's repairs and findings, operator retries and the Digital
Post certificate's expiry in seconds (for the alert rules in deploy/prometheus)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from notifier.operations.sweeper import REPAIRS, last_report
from notifier.store import Store


def ops_metrics(store: Store, now: datetime, certificate_seconds: float | None
                ) -> Iterator[Metric]:
    stats = store.stats()
    repaired = CounterMetricFamily(
        "notifier_sweeper_repaired", "Stranded letters or callbacks the sweeper put back "
        "(due: scheduled without a due entry; lease: queued/sending without a lease)",
        labels=["what"])
    for what in REPAIRS:
        repaired.add_metric([what], stats.get(f"swept|{what}", 0.0))
    yield repaired
    yield CounterMetricFamily("notifier_letters_retried",
                              "Dead letters an operator retried under their own id",
                              value=stats.get("retried_dead", 0.0))
    report = last_report(store)
    unrepaired = GaugeMetricFamily(
        "notifier_sweeper_unrepaired",
        "Stranded items the last sweep could not repair (see the operations page)")
    unrepaired.add_metric([], float(len(report["unrepaired"])) if report else 0.0)
    yield unrepaired
    if report:
        age = (now - datetime.fromisoformat(report["at"])).total_seconds()
        yield GaugeMetricFamily("notifier_sweeper_last_run_age_seconds",
                                "Seconds since the last sweep", value=max(age, 0.0))
    if report and isinstance(report.get("seconds"), int | float):  # older reports lack it
        # Grows with the letters kept; past a tenth of the interval, sweeps are spaced out.
        yield GaugeMetricFamily("notifier_sweeper_last_run_duration_seconds",
                                "How long the last sweep took", value=float(report["seconds"]))
    if certificate_seconds is not None:
        yield GaugeMetricFamily(
            "notifier_gateway_certificate_expiry_seconds",
            "Seconds until the Digital Post (SF1601) function certificate expires",
            value=certificate_seconds)
