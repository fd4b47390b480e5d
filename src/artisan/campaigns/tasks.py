"""Celery tasks of the campaigns domain and their beat entries."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from artisan.campaigns.scheduler import advance_schedules
from artisan.config import Settings
from artisan.core.task_queue import Periodic, task_runtime

ADVANCE_SCHEDULES_TASK = "artisan.campaigns.advance_schedules"


def periodic(settings: Settings) -> list[Periodic]:
    """Following campaign schedules, every CAMPAIGN_SCHEDULE_INTERVAL_SECONDS."""
    every = settings.campaign_schedule_interval_seconds
    return [
        Periodic("campaigns-advance-schedules", ADVANCE_SCHEDULES_TASK, every, expires=every * 2)
    ]


@shared_task(name=ADVANCE_SCHEDULES_TASK, bind=True, ignore_result=True)
def advance_schedules_task(task: Any) -> int:
    """Start scheduled campaigns whose start time came; complete those whose end passed."""
    # The process's sessions emit the campaign events through the queue (see worker.py).
    runtime = task_runtime(task)
    return runtime.run(advance_schedules(runtime.database))
