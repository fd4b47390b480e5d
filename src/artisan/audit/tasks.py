"""Celery tasks of the audit domain and their beat entries."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from celery.schedules import crontab

from artisan.audit.maintenance import AuditMaintenance
from artisan.config import Settings
from artisan.core.task_queue import Periodic, task_runtime

PRUNE_TASK = "artisan.audit.prune"


def periodic(settings: Settings) -> list[Periodic]:
    """Retention pruning, daily at a quiet hour."""
    return [Periodic("audit-prune", PRUNE_TASK, crontab(hour=3, minute=17))]


@shared_task(name=PRUNE_TASK, bind=True, ignore_result=True)
def prune_task(task: Any) -> int:
    """Apply each tenant's audit retention, leaving signed checkpoints (daily)."""
    runtime = task_runtime(task)
    maintenance = runtime.part(
        AuditMaintenance,
        lambda: AuditMaintenance(runtime.settings),
        close=AuditMaintenance.dispose,
    )
    return runtime.run(_prune_every_tenant(maintenance))


async def _prune_every_tenant(maintenance: AuditMaintenance) -> int:
    return sum(result.pruned for result in await maintenance.prune())
