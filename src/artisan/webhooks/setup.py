"""Wiring webhooks into the API process: who sends, and the metrics on /metrics."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from artisan.config import Settings
from artisan.core.db import Database
from artisan.core.task_queue import make_celery
from artisan.webhooks.emit import Dispatcher, WebhookContext, install_webhooks
from artisan.webhooks.engine import DeliveryEngine
from artisan.webhooks.metrics import CELERY_QUEUE, read_shared_counts, render
from artisan.webhooks.runtime import InProcessRunner
from artisan.webhooks.tasks import CeleryDispatcher


def setup_webhooks(settings: Settings, database: Database) -> InProcessRunner | None:
    """Install the dispatcher on the database's sessions; the in-process runner when it is used."""
    mode = settings.webhook_runner
    if mode == "auto":
        mode = "celery" if settings.broker_url else "inprocess"
    runner: InProcessRunner | None = None
    dispatcher: Dispatcher | None = None
    if mode == "celery":
        # A producer-only app: it sends the deliver task by name and runs no task itself.
        producer = make_celery(settings, set_as_current=False)
        dispatcher = CeleryDispatcher(producer, settings.webhook_batch_size)
    elif mode == "inprocess":
        runner = InProcessRunner(DeliveryEngine(settings, database), settings)
        dispatcher = runner
    install_webhooks(
        database,
        WebhookContext(
            dispatcher, settings.webhook_max_payload_bytes, len(settings.webhook_retry_delays)
        ),
    )
    return runner


async def webhook_metrics(app_state: Any) -> bytes:
    """Webhook and task metrics: this process's, every worker's (via Redis), backlog and queue."""
    runner: InProcessRunner | None = getattr(app_state, "webhook_runner", None)
    redis = getattr(app_state, "redis", None)
    counts = await read_shared_counts(redis) if redis is not None else None
    if counts is None:
        from artisan.webhooks.metrics import MetricCounts

        counts = MetricCounts()
    if runner is not None:
        counts.merge(runner.engine.counts)
    gauges: dict[str, tuple[str, float]] = {}
    database: Database = app_state.database
    try:
        async with database.transaction(bypass_rls=True) as session:
            due = (
                await session.execute(
                    text(
                        "SELECT count(*) FROM webhook_deliveries "
                        "WHERE status = 'pending' AND next_attempt_at <= now()"
                    )
                )
            ).scalar_one()
        gauges["webhook_deliveries_due"] = ("Deliveries due now and not yet delivered", float(due))
    except Exception:  # noqa: S110 - metrics must render even when the database is down
        pass
    if redis is not None:
        try:
            depth = await redis.llen(CELERY_QUEUE)
            gauges["celery_queue_depth"] = ("Tasks waiting in the Celery queue", float(depth))
        except Exception:  # noqa: S110 - same
            pass
    return render(counts, gauges)
