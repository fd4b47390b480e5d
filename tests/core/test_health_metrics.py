"""Liveness, readiness (with a failing dependency) and Prometheus metrics."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import redis.asyncio as aioredis
from fastapi import FastAPI

from tests.conftest import TEST_REDIS_URL, client_for


async def test_health_and_ready(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health")).json() == {"status": "ok"}
    ready = await client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok"}


async def test_ready_checks_redis_when_configured(
    app_factory: Callable[..., FastAPI], redis_client: aioredis.Redis
) -> None:
    app = app_factory(redis_url=TEST_REDIS_URL)
    async with client_for(app) as http:
        ready = await http.get("/health/ready")
        assert ready.json()["checks"] == {"database": "ok", "redis": "ok"}


async def test_ready_names_the_unreachable_dependencies(
    app_factory: Callable[..., FastAPI],
) -> None:
    # Nothing listens on port 1: both connections are refused at once.
    app = app_factory(
        database_url="postgresql+asyncpg://postgres@127.0.0.1:1/artisan",
        redis_url="redis://127.0.0.1:1/0",
    )
    async with client_for(app) as http:
        liveness = await http.get("/health")
        assert liveness.status_code == 200
        ready = await http.get("/health/ready")
        assert ready.status_code == 503
        body = ready.json()
        assert body["code"] == "not_ready"
        assert body["checks"]["database"].startswith("failed")
        assert body["checks"]["redis"].startswith("failed")
        assert "database" in body["detail"]


async def test_metrics_use_route_templates(client: httpx.AsyncClient) -> None:
    await client.get("/api/admin/01900000-0000-7000-8000-000000000001/users")
    await client.get("/health")
    text = (await client.get("/metrics")).text
    assert (
        'http_requests_total{method="GET",route="/api/admin/{tenant_id}/users",status="401"}'
        in text
    )
    assert 'http_request_duration_seconds_bucket{le="0.005",method="GET",route="/health"}' in text
    assert "01900000-0000-7000-8000-000000000001" not in text
    assert "process_cpu_seconds_total" in text
