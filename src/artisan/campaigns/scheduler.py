"""Campaign schedules: start scheduled campaigns at their start time, complete them at their end.

A beat job runs `advance_schedules` with a Celery worker; without Redis, `artisan serve` runs the
same function in a loop of its own.
"""

from __future__ import annotations

import asyncio

import structlog

from artisan.campaigns.lifecycle import due_by_schedule, follow_schedule
from artisan.core.background import BackgroundLoop
from artisan.core.db import Database

log = structlog.get_logger(__name__)


async def advance_schedules(database: Database) -> int:
    """Move every campaign its schedule says is due (one transaction each); how many moved."""
    async with database.transaction(bypass_rls=True) as session:
        due = await due_by_schedule(session)
    moved = 0
    for campaign_id in due:
        # One campaign that cannot move (a bug, a lock) must not hold back the others.
        try:
            async with database.transaction(bypass_rls=True) as session:
                if await follow_schedule(session, campaign_id) is not None:
                    moved += 1
        except Exception:
            log.exception("campaign_schedule_failed", campaign_id=str(campaign_id))
    if moved:
        log.info("campaign_schedules_advanced", moved=moved)
    return moved


class InProcessScheduler(BackgroundLoop):
    """`advance_schedules` every interval on the running loop (the embedded platform)."""

    name = "campaign-schedules"

    def __init__(self, database: Database, interval_seconds: float) -> None:
        super().__init__()
        self.database = database
        self.interval_seconds = interval_seconds

    async def _run(self) -> None:
        while True:
            try:
                await advance_schedules(self.database)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("campaign_scheduler_failed")
            await asyncio.sleep(self.interval_seconds)
