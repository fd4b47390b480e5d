"""Delivery and task metrics, shared across processes through Redis and rendered on /metrics."""

from __future__ import annotations

import contextlib
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 7200)
REDIS_KEY = "artisan:metrics:webhooks"
CELERY_QUEUE = "celery"


@dataclass
class MetricCounts:
    """Counters of one process or of all workers: deliveries by outcome, latency, task outcomes."""

    deliveries: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    latency_buckets: dict[float, float] = field(default_factory=lambda: defaultdict(float))
    latency_sum: float = 0.0
    latency_count: float = 0.0
    tasks: dict[tuple[str, str], float] = field(default_factory=lambda: defaultdict(float))

    def observe_delivery(self, outcome: str, latency: float | None) -> None:
        """Count one attempt outcome and, for a success, its commit-to-receipt latency."""
        self.deliveries[outcome] += 1
        if latency is not None:
            self.latency_sum += latency
            self.latency_count += 1
            # Cumulative buckets: every bound at or above the latency counts it.
            for bound in LATENCY_BUCKETS[bisect_left(LATENCY_BUCKETS, latency) :]:
                self.latency_buckets[bound] += 1

    def observe_task(self, task: str, outcome: str) -> None:
        """Count one finished task by name and outcome."""
        self.tasks[(task, outcome)] += 1

    def as_redis_fields(self) -> dict[str, float]:
        """The counts as increments of the shared Redis hash."""
        fields: dict[str, float] = {f"d|{k}": v for k, v in self.deliveries.items()}
        fields.update({f"b|{k}": v for k, v in self.latency_buckets.items()})
        fields.update({f"t|{t}|{o}": v for (t, o), v in self.tasks.items()})
        if self.latency_count:
            fields["ls"] = self.latency_sum
            fields["lc"] = self.latency_count
        return fields

    def merge_redis_fields(self, raw: dict[Any, Any]) -> None:
        """Add the counts read back from the shared Redis hash."""
        for key, value in raw.items():
            name = key.decode() if isinstance(key, bytes) else str(key)
            amount = float(value)
            kind, _, rest = name.partition("|")
            if kind == "d":
                self.deliveries[rest] += amount
            elif kind == "b":
                self.latency_buckets[float(rest)] += amount
            elif kind == "t":
                task, _, outcome = rest.rpartition("|")
                self.tasks[(task, outcome)] += amount
            elif name == "ls":
                self.latency_sum += amount
            elif name == "lc":
                self.latency_count += amount

    def merge(self, other: MetricCounts) -> None:
        """Add another set of counts."""
        self.merge_redis_fields(other.as_redis_fields())

    def clear(self) -> None:
        """Forget everything (after a flush to Redis)."""
        self.deliveries.clear()
        self.latency_buckets.clear()
        self.tasks.clear()
        self.latency_sum = self.latency_count = 0.0


class _Snapshot:
    """A collector over values gathered before the scrape renders."""

    def __init__(self, counts: MetricCounts, gauges: dict[str, tuple[str, float]]) -> None:
        self.counts = counts
        self.gauges = gauges

    def collect(self) -> Iterator[Metric]:
        deliveries = CounterMetricFamily(
            "webhook_deliveries", "Webhook delivery attempts by outcome", labels=["outcome"]
        )
        for outcome, value in sorted(self.counts.deliveries.items()):
            deliveries.add_metric([outcome], value)
        yield deliveries
        buckets = [(str(b), self.counts.latency_buckets.get(b, 0.0)) for b in LATENCY_BUCKETS]
        buckets.append(("+Inf", self.counts.latency_count))
        yield HistogramMetricFamily(
            "webhook_delivery_latency_seconds",
            "Time from the event's commit to the receiver's 2xx answer",
            buckets=buckets,
            sum_value=self.counts.latency_sum,
        )
        tasks = CounterMetricFamily(
            "celery_task_outcomes",
            "Celery tasks by task name and outcome",
            labels=["task", "outcome"],
        )
        for (task, outcome), value in sorted(self.counts.tasks.items()):
            tasks.add_metric([task, outcome], value)
        yield tasks
        for name, (help_text, value) in self.gauges.items():
            yield GaugeMetricFamily(name, help_text, value=value)


def render(counts: MetricCounts, gauges: dict[str, tuple[str, float]]) -> bytes:
    """The webhook metrics in the Prometheus text format."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(counts, gauges))
    return generate_latest(registry)


async def read_shared_counts(redis: Any) -> MetricCounts:
    """The counts every worker flushed to Redis."""
    counts = MetricCounts()
    with contextlib.suppress(Exception):
        counts.merge_redis_fields(await redis.hgetall(REDIS_KEY))
    return counts


def flush_to_redis(redis: Any, counts: MetricCounts) -> None:
    """Add a worker's counts to the shared hash (synchronous client) and reset them."""
    fields = counts.as_redis_fields()
    if not fields:
        return
    pipe = redis.pipeline(transaction=False)
    for key, value in fields.items():
        pipe.hincrbyfloat(REDIS_KEY, key, value)
    pipe.execute()
    counts.clear()


def outcome_names() -> Iterable[str]:
    """The delivery outcomes counted (documented in the runbook)."""
    return ("succeeded", "retry_scheduled", "failed", "deferred", "lease_lost")
