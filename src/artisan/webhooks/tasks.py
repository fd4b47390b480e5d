"""Celery tasks of the webhooks domain; each runs the async delivery code on a per-process loop."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Coroutine
from typing import Any, TypeVar

import redis
import structlog
from celery import shared_task

from artisan.config import Settings, get_settings
from artisan.core.db import Database
from artisan.core.heap import settle_heap
from artisan.webhooks.emit import WebhookContext, install_webhooks
from artisan.webhooks.engine import DeliveryEngine
from artisan.webhooks.metrics import MetricCounts, flush_to_redis
from artisan.webhooks.runtime import CeleryDispatcher, purge_payloads, sweep
from artisan.webhooks.sender_pool import deliver_batch, drain

log = structlog.get_logger(__name__)
T = TypeVar("T")
# Long enough to empty a backlog in big batches, short enough to keep the beat jobs flowing.
DRAIN_BUDGET_SECONDS = 10.0
# Young-generation collections every 20,000 net allocations instead of 700: a draining worker
# holds a thousand requests in flight, and rescanning them every few hundred allocations is waste.
GC_YOUNG_THRESHOLD = 20_000


class WorkerRuntime:
    """A worker process's event loop, database pool, HTTP session and metric counts."""

    def __init__(self, settings: Settings) -> None:
        from artisan.worker import app as celery_app

        self.settings = settings
        self.loop = asyncio.Runner()
        self.database = Database(settings)
        self.dispatcher = CeleryDispatcher(celery_app, settings.webhook_batch_size)
        install_webhooks(
            self.database,
            WebhookContext(
                self.dispatcher,
                settings.webhook_max_payload_bytes,
                len(settings.webhook_retry_delays),
            ),
        )
        self.counts = MetricCounts()
        self.engine = DeliveryEngine(
            settings,
            self.database,
            counts=self.counts,
        )
        self.redis = redis.Redis.from_url(settings.redis_url) if settings.redis_url else None

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on this process's loop."""
        return self.loop.run(coro)

    def flush_metrics(self) -> None:
        """Publish this process's counts to the shared Redis hash."""
        if self.redis is not None:
            try:
                flush_to_redis(self.redis, self.counts)
            except redis.RedisError:
                log.warning("metrics_flush_failed")


# One runtime per worker process (a forked child builds its own: pools and loops don't survive
# a fork).
_runtimes: dict[int, WorkerRuntime] = {}


def runtime() -> WorkerRuntime:
    """This process's runtime, built on first use."""
    pid = os.getpid()
    if pid not in _runtimes:
        _runtimes[pid] = WorkerRuntime(get_settings())
        settle_heap(GC_YOUNG_THRESHOLD)
    return _runtimes[pid]


def record_task_outcome(task: str, outcome: str) -> None:
    """Count a finished task and publish the counts."""
    if not task.startswith("artisan."):
        return
    current = runtime()
    current.counts.observe_task(task, outcome)
    current.flush_metrics()


@shared_task(name="artisan.webhooks.deliver", acks_late=True)
def deliver(delivery_ids: list[str]) -> int:
    """Send the given deliveries that are still due and not leased by another worker."""
    current = runtime()
    ids = [uuid.UUID(i) for i in delivery_ids]
    return current.run(_deliver_then_drain(current.engine, ids))


async def _deliver_then_drain(engine: DeliveryEngine, ids: list[uuid.UUID]) -> int:
    # The queue message is a wake-up call: after its own deliveries the worker takes whatever
    # else is due in full batches, so a busy queue costs one round trip per batch, not per
    # message (the tasks of deliveries taken here find nothing left to claim).
    sent = await deliver_batch(engine, ids)
    return sent + await drain(engine, budget_seconds=DRAIN_BUDGET_SECONDS)


@shared_task(name="artisan.webhooks.sweep", acks_late=True)
def sweep_task() -> int:
    """Queue again the due deliveries whose queue message was lost (crash, Redis flush)."""
    current = runtime()
    return current.run(sweep(current.database, current.settings, current.dispatcher))


@shared_task(name="artisan.webhooks.purge_payloads", acks_late=True)
def purge_payloads_task() -> int:
    """Purge the payloads of finished messages past the retention period."""
    current = runtime()
    return current.run(purge_payloads(current.database, current.settings))
