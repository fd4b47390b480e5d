"""Celery tasks of the webhooks domain, their beat entries, and the worker process's webhook parts."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis
import structlog
from celery import shared_task

from artisan.config import Settings
from artisan.core.heap import settle_heap
from artisan.core.task_queue import Periodic, TaskRuntime, task_runtime
from artisan.webhooks.emit import WebhookContext, install_webhooks
from artisan.webhooks.engine import DeliveryEngine
from artisan.webhooks.metrics import MetricCounts, flush_to_redis
from artisan.webhooks.runtime import purge_payloads, sweep
from artisan.webhooks.sender_pool import deliver_batch, drain

log = structlog.get_logger(__name__)

DELIVER_TASK = "artisan.webhooks.deliver"
SWEEP_TASK = "artisan.webhooks.sweep"
PURGE_TASK = "artisan.webhooks.purge_payloads"
# Long enough to empty a backlog in big batches, short enough to keep the beat jobs flowing.
DRAIN_BUDGET_SECONDS = 10.0
# Young-generation collections every 20,000 net allocations instead of 700: a draining worker
# holds a thousand requests in flight, and rescanning them every few hundred allocations is waste.
GC_YOUNG_THRESHOLD = 20_000


def chunks(ids: Sequence[uuid.UUID], size: int) -> list[list[uuid.UUID]]:
    """`ids` cut into lists of at most `size`."""
    return [list(ids[i : i + size]) for i in range(0, len(ids), size)]


class CeleryDispatcher:
    """Sends the ids of due deliveries to the Celery queue, in batches of the deliver task."""

    def __init__(self, celery_app: Any, batch_size: int) -> None:
        self.celery_app = celery_app
        self.batch_size = batch_size

    def dispatch_sync(self, delivery_ids: Sequence[uuid.UUID]) -> None:
        """Send the tasks from synchronous code."""
        for batch in chunks(delivery_ids, self.batch_size):
            self.celery_app.send_task(DELIVER_TASK, args=[[str(i) for i in batch]])

    async def dispatch(self, delivery_ids: Sequence[uuid.UUID]) -> None:
        """Send the tasks without blocking the event loop."""
        await asyncio.to_thread(self.dispatch_sync, delivery_ids)


def periodic(settings: Settings) -> list[Periodic]:
    """The webhook beat entries: the sweeper of lost queue messages and the payload purge."""
    sweep_every = settings.webhook_sweep_interval_seconds
    return [
        Periodic("webhooks-sweep", SWEEP_TASK, sweep_every, expires=max(sweep_every * 5, 10)),
        Periodic("webhooks-purge-payloads", PURGE_TASK, 3600.0),
    ]


@dataclass(slots=True)
class WebhookWorker:
    """The webhook parts of a worker process: its engine, dispatcher and metric counts."""

    engine: DeliveryEngine
    dispatcher: CeleryDispatcher
    counts: MetricCounts
    redis: redis.Redis | None

    def flush_metrics(self) -> None:
        """Publish this process's counts to the shared Redis hash."""
        if self.redis is not None:
            try:
                flush_to_redis(self.redis, self.counts)
            except redis.RedisError:
                log.warning("metrics_flush_failed")

    async def close(self) -> None:
        """Close the engine's HTTP session and connections."""
        await self.engine.close()
        if self.redis is not None:
            self.redis.close()


def set_up_worker(runtime: TaskRuntime) -> None:
    """Every session of the process emits through the queue; the engine is built once."""
    settings = runtime.settings
    dispatcher = CeleryDispatcher(runtime.celery, settings.webhook_batch_size)
    install_webhooks(
        runtime.database,
        WebhookContext(
            dispatcher, settings.webhook_max_payload_bytes, len(settings.webhook_retry_delays)
        ),
    )
    counts = MetricCounts()
    runtime.provide(
        WebhookWorker(
            engine=DeliveryEngine(settings, runtime.database, counts=counts),
            dispatcher=dispatcher,
            counts=counts,
            redis=redis.Redis.from_url(settings.redis_url) if settings.redis_url else None,
        ),
        close=WebhookWorker.close,
    )
    settle_heap(GC_YOUNG_THRESHOLD)


def record_task_outcome(runtime: TaskRuntime, task: str, outcome: str) -> None:
    """Count a finished task of the platform and publish the process's counts."""
    if not task.startswith("artisan."):
        return
    worker = runtime.part(WebhookWorker)
    worker.counts.observe_task(task, outcome)
    worker.flush_metrics()


@shared_task(name=DELIVER_TASK, bind=True, acks_late=True)
def deliver(task: Any, delivery_ids: list[str]) -> int:
    """Send the given deliveries that are still due and not leased by another worker."""
    runtime = task_runtime(task)
    engine = runtime.part(WebhookWorker).engine
    return runtime.run(_deliver_then_drain(engine, [uuid.UUID(i) for i in delivery_ids]))


async def _deliver_then_drain(engine: DeliveryEngine, ids: list[uuid.UUID]) -> int:
    # The queue message is a wake-up call: after its own deliveries the worker takes whatever
    # else is due in full batches, so a busy queue costs one round trip per batch, not per
    # message (the tasks of deliveries taken here find nothing left to claim).
    sent = await deliver_batch(engine, ids)
    return sent + await drain(engine, budget_seconds=DRAIN_BUDGET_SECONDS)


@shared_task(name=SWEEP_TASK, bind=True, acks_late=True)
def sweep_task(task: Any) -> int:
    """Queue again the due deliveries whose queue message was lost (crash, Redis flush)."""
    runtime = task_runtime(task)
    dispatcher = runtime.part(WebhookWorker).dispatcher
    return runtime.run(sweep(runtime.database, runtime.settings, dispatcher))


@shared_task(name=PURGE_TASK, bind=True, acks_late=True)
def purge_payloads_task(task: Any) -> int:
    """Purge the payloads of finished messages past the retention period."""
    runtime = task_runtime(task)
    return runtime.run(purge_payloads(runtime.database, runtime.settings))
