"""Every periodic job lives in the beat schedule, and the job bodies do their work."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from celery import Celery
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from artisan.api_keys.usage import KeyUsage, stage_usage
from artisan.audit.recorder import Actor, record
from artisan.config import get_settings
from artisan.core.db import Database
from artisan.core.ids import utcnow
from artisan.core.task_queue import close_task_runtime
from artisan.worker import make_celery
from tests.conftest import TEST_REDIS_URL
from tests.factories import signed_in_user


@pytest.fixture
async def worker_app(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Celery]:
    """The worker's app, its task bodies reading the environment's settings as a worker process
    does; its runtime in this process is disposed of afterwards, as at worker shutdown."""
    monkeypatch.setenv("DATABASE_URL", str(app.state.settings.database_url))
    monkeypatch.setenv("SECRET_KEY", app.state.settings.secret_key)
    monkeypatch.setenv("REDIS_URL", TEST_REDIS_URL)
    get_settings.cache_clear()
    celery = make_celery(get_settings())
    yield celery
    # The runtime runs its own event loop: it is used and closed off this test's loop.
    await asyncio.to_thread(close_task_runtime, celery)
    get_settings.cache_clear()


async def run_task(celery: Celery, name: str) -> Any:
    """Run a registered task's body in this process, on the runtime a worker process uses."""
    return await asyncio.to_thread(celery.tasks[name])


def test_beat_schedule_holds_every_periodic_job() -> None:
    celery = make_celery(get_settings())
    celery.loader.import_default_modules()
    scheduled = {entry["task"] for entry in celery.conf.beat_schedule.values()}
    assert scheduled == {
        "artisan.webhooks.sweep",
        "artisan.webhooks.purge_payloads",
        "artisan.api_keys.flush_usage",
        "artisan.audit.prune",
        "artisan.campaigns.advance_schedules",
    }
    assert scheduled <= set(celery.tasks)


async def test_audit_prune_job_applies_retention(
    app: FastAPI, client: httpx.AsyncClient, admin_engine: AsyncEngine, worker_app: Celery
) -> None:
    admin = await signed_in_user(app, client)
    database: Database = app.state.database
    async with database.transaction(tenant_id=admin.tenant_id) as session:
        for index in range(3):
            await record(
                session,
                "lead.deleted",
                tenant_id=admin.tenant_id,
                actor=Actor(type="system", id=None, label="system"),
                metadata={"i": index},
            )
    # Age the trail past the growth plan's retention (the trigger is off in replica mode).
    async with admin_engine.begin() as conn:
        await conn.execute(text("SET LOCAL session_replication_role = replica"))
        await conn.execute(
            text("UPDATE audit_log SET occurred_at = :old WHERE tenant_id = :t"),
            {"old": utcnow() - timedelta(days=800), "t": admin.tenant_id},
        )
    assert await run_task(worker_app, "artisan.audit.prune") == 4  # the entries and the sign-in's
    async with admin_engine.connect() as conn:
        left = await conn.execute(
            text(
                "SELECT count(*) FROM audit_log WHERE tenant_id = :t AND action <> 'audit.pruned'"
            ),
            {"t": admin.tenant_id},
        )
        assert left.scalar_one() == 0
        checkpoints = await conn.execute(
            text("SELECT count(*) FROM audit_checkpoints WHERE tenant_id = :t"),
            {"t": admin.tenant_id},
        )
        assert checkpoints.scalar_one() == 1


async def test_api_key_usage_job_drains_staged_usage(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin_engine: AsyncEngine,
    redis_client: aioredis.Redis,
    worker_app: Celery,
) -> None:
    admin = await signed_in_user(app, client)
    created = await client.post(
        f"/api/admin/{admin.tenant_id}/api-keys",
        headers=admin.headers,
        json={"name": "etl", "scopes": ["leads:read"]},
    )
    key_id = created.json()["id"]
    seen_at = utcnow()
    await stage_usage(
        redis_client,
        {uuid.UUID(key_id): KeyUsage(count=7, last_used_at=seen_at, last_used_ip="192.0.2.5")},
    )
    assert await run_task(worker_app, "artisan.api_keys.flush_usage") == 1
    listed = await client.get(
        f"/api/admin/{admin.tenant_id}/api-keys/{key_id}", headers=admin.headers
    )
    body = listed.json()
    assert body["request_count"] == 7
    assert body["last_used_ip"] == "192.0.2.5"
    assert await run_task(worker_app, "artisan.api_keys.flush_usage") == 0
