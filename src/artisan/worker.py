"""The Celery app and the beat schedule: `celery -A artisan.worker worker|beat` works."""

from __future__ import annotations

from typing import Any

from celery import Celery
from celery.schedules import crontab
from celery.signals import setup_logging, task_postrun

from artisan.config import Settings, get_settings

SWEEP_TASK = "artisan.webhooks.sweep"
PURGE_TASK = "artisan.webhooks.purge_payloads"
API_KEY_USAGE_TASK = "artisan.api_keys.flush_usage"
AUDIT_PRUNE_TASK = "artisan.audit.prune"
CAMPAIGN_SCHEDULE_TASK = "artisan.campaigns.advance_schedules"


def make_celery(settings: Settings) -> Celery:
    """A Celery app for `settings`: late ack, prefetch 1, a visibility timeout past any batch."""
    celery = Celery(
        "artisan",
        broker=settings.broker_url or "memory://",
        include=[
            "artisan.webhooks.tasks",
            "artisan.api_keys.tasks",
            "artisan.audit.tasks",
            "artisan.campaigns.tasks",
        ],
    )
    celery.conf.update(
        task_acks_late=True,
        # A task whose worker died is put back on the queue instead of being acknowledged.
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        broker_transport_options={"visibility_timeout": settings.celery_visibility_timeout},
        broker_connection_retry_on_startup=True,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        worker_hijack_root_logger=False,
        timezone="UTC",
        # Every periodic job of the platform lives here.
        beat_schedule={
            "webhooks-sweep": {
                "task": SWEEP_TASK,
                "schedule": settings.webhook_sweep_interval_seconds,
                "options": {"expires": max(settings.webhook_sweep_interval_seconds * 5, 10)},
            },
            "webhooks-purge-payloads": {"task": PURGE_TASK, "schedule": 3600.0},
            "api-keys-flush-usage": {
                "task": API_KEY_USAGE_TASK,
                "schedule": settings.api_key_usage_flush_seconds,
                "options": {"expires": settings.api_key_usage_flush_seconds * 2},
            },
            "audit-prune": {"task": AUDIT_PRUNE_TASK, "schedule": crontab(hour=3, minute=17)},
            "campaigns-advance-schedules": {
                "task": CAMPAIGN_SCHEDULE_TASK,
                "schedule": settings.campaign_schedule_interval_seconds,
                "options": {"expires": settings.campaign_schedule_interval_seconds * 2},
            },
        },
    )
    return celery


app = make_celery(get_settings())


@task_postrun.connect
def _count_task_outcome(
    sender: Any = None, task: Any = None, state: str | None = None, **_: Any
) -> None:
    """Count every finished task by name and outcome for /metrics."""
    from artisan.webhooks.tasks import record_task_outcome

    name = getattr(task, "name", None) or getattr(sender, "name", "unknown")
    record_task_outcome(str(name), (state or "unknown").lower())


@setup_logging.connect
def _configure_logging(loglevel: int | str | None = None, **_: Any) -> None:
    """Workers and beat log like the API: LOG_LEVEL and JSON_LOGS apply (not Celery's defaults).

    Celery's own lines (start-up, `ready.`, task failures) keep the `--loglevel` they were given.
    """
    import logging

    from artisan.core.logging import configure_logging

    settings = get_settings()
    configure_logging(settings.log_level, json=settings.json_logs)
    if loglevel:
        logging.getLogger("celery").setLevel(loglevel)
