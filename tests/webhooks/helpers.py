"""Driving deliveries in tests: emit in a committed transaction, run the engine until done."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from artisan.webhooks.emit import emit_event
from artisan.webhooks.engine import DeliveryEngine
from artisan.webhooks.sender_pool import deliver_batch


async def emit(app: FastAPI, tenant_id: uuid.UUID, event_type: str, **payload: Any) -> uuid.UUID:
    """Emit one event in its own committed transaction; the message id."""
    async with app.state.database.transaction(tenant_id=tenant_id) as session:
        message = await emit_event(session, tenant_id, event_type, payload)
    assert message is not None
    return message.id


def campaign(name: str = "Spring") -> dict[str, Any]:
    """A campaign.* payload."""
    return {
        "campaign_id": str(uuid.uuid4()),
        "name": name,
        "status": "active",
        "occurred_at": datetime.now(UTC).isoformat(),
    }


async def run_until(
    engine: DeliveryEngine, done: Callable[[], bool] | None = None, *, within: float = 15.0
) -> None:
    """Run delivery batches (as a worker would) until `done()` or nothing is pending any more."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        await deliver_batch(engine)
        if done is not None and done():
            return
        if done is None and not await pending(engine):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("deliveries did not finish in time")


async def pending(engine: DeliveryEngine) -> int:
    """Deliveries still pending (any tenant)."""
    async with engine.database.transaction(bypass_rls=True) as session:
        result = await session.execute(
            text(
                "SELECT count(*) FROM webhook_deliveries d JOIN webhook_endpoints e "
                "ON e.id = d.endpoint_id WHERE d.status = 'pending' AND e.enabled"
            )
        )
        return int(result.scalar_one())


async def rows(admin_engine: AsyncEngine, sql: str, **params: Any) -> list[Any]:
    """Rows of a query as the superuser."""
    async with admin_engine.connect() as conn:
        return list((await conn.execute(text(sql), params)).all())
