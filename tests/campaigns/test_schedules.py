"""Campaign schedules: a scheduled campaign starts at its start time and completes at its end."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from artisan.campaigns.lifecycle import follow_schedule
from artisan.campaigns.scheduler import InProcessScheduler, advance_schedules
from artisan.core.db import Database
from tests.campaigns.helpers import make_campaign
from tests.conftest import TEST_REDIS_URL
from tests.factories import Account, signed_in_user


def _at(**delta: float) -> str:
    return (datetime.now(UTC) + timedelta(**delta)).isoformat()


async def _scheduled(client: httpx.AsyncClient, account: Account, **schedule: str) -> str:
    campaign = await make_campaign(client, account.headers, schedule=schedule)
    launched = await client.post(f"/api/campaigns/{campaign['id']}/launch", headers=account.headers)
    assert launched.json()["status"] == "scheduled", launched.text
    return str(campaign["id"])


async def _reschedule(
    client: httpx.AsyncClient, account: Account, campaign_id: str, **schedule: str
) -> None:
    response = await client.patch(
        f"/api/campaigns/{campaign_id}", json={"schedule": schedule}, headers=account.headers
    )
    assert response.status_code == 200, response.text


async def _status(client: httpx.AsyncClient, account: Account, campaign_id: str) -> str:
    response = await client.get(f"/api/campaigns/{campaign_id}", headers=account.headers)
    return str(response.json()["status"])


async def _audit(engine: AsyncEngine, campaign_id: str) -> list[tuple[str, str, dict[str, Any]]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT action, actor_type, metadata FROM audit_log "
                "WHERE targets @> CAST(:target AS jsonb) ORDER BY seq"
            ),
            {"target": f'[{{"type": "campaign", "id": "{campaign_id}"}}]'},
        )
        return [(row[0], row[1], row[2]) for row in rows]


async def _emitted(engine: AsyncEngine, tenant_id: uuid.UUID) -> list[str]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT event_type FROM webhook_messages WHERE tenant_id = :t ORDER BY id"),
            {"t": tenant_id},
        )
        return [row[0] for row in rows]


async def test_start_then_end_move_the_campaign_audited_and_announced(
    app: FastAPI, client: httpx.AsyncClient, admin_engine: AsyncEngine
) -> None:
    admin = await signed_in_user(app, client)
    hook = await client.post(
        f"/api/admin/{admin.tenant_id}/webhooks",
        json={"url": "https://hooks.example.com/c", "event_types": ["campaign.*"]},
        headers=admin.headers,
    )
    assert hook.status_code == 201, hook.text
    database: Database = app.state.database
    campaign_id = await _scheduled(client, admin, start_at=_at(days=1), end_at=_at(days=9))
    waiting = await _scheduled(client, admin, start_at=_at(days=2))

    assert await advance_schedules(database) == 0
    assert await _status(client, admin, campaign_id) == "scheduled"

    await _reschedule(client, admin, campaign_id, start_at=_at(minutes=-1), end_at=_at(days=9))
    assert await advance_schedules(database) == 1
    assert await _status(client, admin, campaign_id) == "active"
    assert await _status(client, admin, waiting) == "scheduled"
    # Nothing more is due: a second run changes nothing.
    assert await advance_schedules(database) == 0

    await _reschedule(client, admin, campaign_id, start_at=_at(days=-1), end_at=_at(seconds=-1))
    assert await advance_schedules(database) == 1
    body = (await client.get(f"/api/campaigns/{campaign_id}", headers=admin.headers)).json()
    assert body["status"] == "completed"
    assert body["completed_at"] is not None

    moves = [entry for entry in await _audit(admin_engine, campaign_id) if entry[1] == "system"]
    assert [(action, meta) for action, _, meta in moves] == [
        ("campaign.started", {"from": "scheduled", "to": "active", "cause": "schedule"}),
        ("campaign.completed", {"from": "active", "to": "completed", "cause": "schedule"}),
    ]
    emitted = await _emitted(admin_engine, admin.tenant_id)
    assert emitted[-2:] == ["campaign.started", "campaign.completed"]


async def test_paused_past_its_end_completes_and_a_window_already_over_does_both(
    app: FastAPI, client: httpx.AsyncClient, admin_engine: AsyncEngine
) -> None:
    admin = await signed_in_user(app, client)
    database: Database = app.state.database
    paused = await make_campaign(client, admin.headers, schedule={"end_at": _at(days=3)})
    for action in ("launch", "pause"):
        moved = await client.post(f"/api/campaigns/{paused['id']}/{action}", headers=admin.headers)
        assert moved.status_code == 200, moved.text
    await _reschedule(client, admin, paused["id"], end_at=_at(seconds=-5))
    over = await _scheduled(client, admin, start_at=_at(days=1), end_at=_at(days=2))
    await _reschedule(client, admin, over, start_at=_at(hours=-2), end_at=_at(hours=-1))

    assert await advance_schedules(database) == 2
    assert await _status(client, admin, paused["id"]) == "completed"
    assert await _status(client, admin, over) == "completed"
    actions = [action for action, actor, _ in await _audit(admin_engine, over) if actor == "system"]
    assert actions == ["campaign.started", "campaign.completed"]


async def test_every_tenant_is_followed_and_nothing_crosses_over(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    first = await signed_in_user(app, client)
    second = await signed_in_user(app, client)
    database: Database = app.state.database
    mine = await _scheduled(client, first, start_at=_at(days=1))
    theirs = await _scheduled(client, second, start_at=_at(days=1))
    await _reschedule(client, first, mine, start_at=_at(seconds=-1))
    await _reschedule(client, second, theirs, start_at=_at(seconds=-1))
    assert await advance_schedules(database) == 2
    assert await _status(client, first, mine) == "active"
    assert await _status(client, second, theirs) == "active"
    # Each tenant still sees only its own campaign.
    other = await client.get(f"/api/campaigns/{theirs}", headers=first.headers)
    assert other.status_code == 404


async def test_a_campaign_held_by_another_transaction_is_left_for_the_next_run(
    app: FastAPI, client: httpx.AsyncClient, admin_engine: AsyncEngine
) -> None:
    admin = await signed_in_user(app, client)
    database: Database = app.state.database
    campaign_id = await _scheduled(client, admin, start_at=_at(days=1))
    await _reschedule(client, admin, campaign_id, start_at=_at(seconds=-1))
    async with admin_engine.connect() as holder:
        transaction = await holder.begin()
        await holder.execute(
            text("SELECT 1 FROM campaigns WHERE id = :c FOR UPDATE"), {"c": campaign_id}
        )
        async with database.transaction(bypass_rls=True) as session:
            assert await follow_schedule(session, uuid.UUID(campaign_id)) is None
        await transaction.rollback()
    assert await _status(client, admin, campaign_id) == "scheduled"
    assert await advance_schedules(database) == 1
    assert await _status(client, admin, campaign_id) == "active"


async def test_the_embedded_platform_follows_schedules_itself(
    app: FastAPI, client: httpx.AsyncClient, app_factory: Callable[..., FastAPI]
) -> None:
    # Without Redis the app runs the loop; with a queue, the beat job does instead.
    assert isinstance(app.state.campaign_scheduler, InProcessScheduler)
    assert app_factory(redis_url=TEST_REDIS_URL).state.campaign_scheduler is None
    # Turning the in-process webhook sender off does not turn schedules off: no beat runs them.
    quiet = app_factory(webhook_runner="off")
    assert quiet.state.webhook_runner is None
    assert isinstance(quiet.state.campaign_scheduler, InProcessScheduler)
    admin = await signed_in_user(app, client)
    campaign_id = await _scheduled(client, admin, start_at=_at(days=1))
    await _reschedule(client, admin, campaign_id, start_at=_at(seconds=-1))
    scheduler = InProcessScheduler(app.state.database, interval_seconds=0.05)
    scheduler.start()
    try:
        for _ in range(200):
            if await _status(client, admin, campaign_id) == "active":
                break
            await asyncio.sleep(0.05)
    finally:
        await scheduler.stop()
    assert await _status(client, admin, campaign_id) == "active"
