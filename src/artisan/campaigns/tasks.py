"""Celery tasks of the campaigns domain."""

from __future__ import annotations

from celery import shared_task

from artisan.campaigns.scheduler import advance_schedules
from artisan.webhooks.tasks import runtime
from artisan.worker import CAMPAIGN_SCHEDULE_TASK


@shared_task(name=CAMPAIGN_SCHEDULE_TASK, ignore_result=True)
def advance_schedules_task() -> int:
    """Start scheduled campaigns whose start time came; complete those whose end passed."""
    # The worker process's runtime: its sessions emit webhooks through the queue.
    current = runtime()
    return current.run(advance_schedules(current.database))
