"""Celery tasks of the audit domain."""

from __future__ import annotations

import asyncio

from celery import shared_task

from artisan.audit.maintenance import AuditMaintenance
from artisan.config import get_settings
from artisan.worker import AUDIT_PRUNE_TASK


async def _prune() -> int:
    maintenance = AuditMaintenance(get_settings())
    try:
        return sum(result.pruned for result in await maintenance.prune())
    finally:
        await maintenance.dispose()


@shared_task(name=AUDIT_PRUNE_TASK, ignore_result=True)
def prune_task() -> int:
    """Apply each tenant's audit retention, leaving signed checkpoints (daily)."""
    return asyncio.run(_prune())
