"""Sweeps, payload purges, and the in-process runner that sends inside `artisan serve`."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Sequence

import structlog
from sqlalchemy import text

from artisan.config import Settings
from artisan.core.background import BackgroundLoop
from artisan.core.db import Database, on_commit
from artisan.webhooks.emit import Dispatcher
from artisan.webhooks.engine import DeliveryEngine
from artisan.webhooks.engine_sql import WEBHOOKS_ON, prefer_index_scan
from artisan.webhooks.sender_pool import deliver_batch

log = structlog.get_logger(__name__)

SWEEP_LIMIT = 10_000

_SWEEP_SQL = f"""
WITH lost AS (
    SELECT d.id FROM webhook_deliveries d
    JOIN webhook_endpoints e ON e.id = d.endpoint_id
    JOIN tenants t ON t.id = e.tenant_id
    WHERE d.status = 'pending'
      AND d.next_attempt_at <= now()
      AND (d.lease_until IS NULL OR d.lease_until < now())
      AND (d.enqueued_at IS NULL OR d.enqueued_at < now() - make_interval(secs => :requeue))
      AND e.enabled AND {WEBHOOKS_ON}
    ORDER BY d.next_attempt_at
    LIMIT :limit
    FOR UPDATE OF d SKIP LOCKED
)
UPDATE webhook_deliveries d SET enqueued_at = now() FROM lost WHERE d.id = lost.id
RETURNING d.id
"""  # noqa: S608 - the feature condition is built from the constant flag catalogue

_PURGE_SQL = """
WITH old AS (
    SELECT m.id FROM webhook_messages m
    WHERE m.created_at < now() - make_interval(days => :days)
      AND m.payload IS NOT NULL
      AND NOT EXISTS (
          SELECT 1 FROM webhook_deliveries d WHERE d.message_id = m.id AND d.status = 'pending')
    LIMIT :limit
)
UPDATE webhook_messages m SET payload = NULL, payload_purged_at = now()
FROM old WHERE m.id = old.id
"""


async def sweep(database: Database, settings: Settings, dispatcher: Dispatcher) -> int:
    """Queue again every due delivery that nobody is sending and whose queue message was lost."""
    async with database.transaction(bypass_rls=True) as session:
        await prefer_index_scan(session)
        rows = await session.execute(
            text(_SWEEP_SQL),
            {"requeue": settings.webhook_requeue_after_seconds, "limit": SWEEP_LIMIT},
        )
        ids = [row[0] for row in rows]

        async def _send() -> None:
            await dispatcher.dispatch(ids)

        if ids:
            on_commit(session, _send)
    if ids:
        log.info("webhook_sweep_requeued", count=len(ids))
    return len(ids)


async def purge_payloads(database: Database, settings: Settings, *, limit: int = 5000) -> int:
    """Drop the payloads of finished messages older than the retention period (metadata stays)."""
    total = 0
    while True:
        async with database.transaction(bypass_rls=True) as session:
            result = await session.execute(
                text(_PURGE_SQL), {"days": settings.webhook_payload_retention_days, "limit": limit}
            )
            count = int(getattr(result, "rowcount", 0) or 0)
        total += count
        if count < limit:
            return total


class InProcessRunner(BackgroundLoop):
    """The sender inside `artisan serve` when there is no Redis: the same engine, no queue."""

    name = "webhook-runner"
    PURGE_EVERY_SECONDS = 3600.0

    def __init__(self, engine: DeliveryEngine, settings: Settings) -> None:
        super().__init__()
        self.engine = engine
        self.settings = settings
        self._wake = asyncio.Event()

    async def dispatch(self, delivery_ids: Sequence[uuid.UUID]) -> None:
        """New deliveries are committed: look for work now."""
        self._wake.set()

    async def stop(self) -> None:
        """Stop the loop and close the HTTP session."""
        await super().stop()
        await self.engine.close()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_purge = loop.time() + 60
        while True:
            try:
                self._wake.clear()
                sent = await deliver_batch(self.engine)
                if loop.time() >= next_purge:
                    await purge_payloads(self.engine.database, self.settings)
                    next_purge = loop.time() + self.PURGE_EVERY_SECONDS
                if sent:
                    continue
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("webhook_runner_failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._wake.wait(), self.settings.webhook_sweep_interval_seconds
                )
