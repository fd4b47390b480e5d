"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import text

from artisan.core.db import Database
from artisan.core.metrics import render_metrics

router = APIRouter(tags=["health"])
CHECK_TIMEOUT_SECONDS = 2.0


@router.get("/health")
async def health() -> dict[str, str]:
    """Liveness: the process answers; checks no dependency."""
    return {"status": "ok"}


async def _check_database(database: Database) -> None:
    async with database.engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


async def _check_redis(request: Request) -> None:
    client = request.app.state.redis
    await client.ping()


@router.get("/health/ready", responses={503: {"description": "A dependency is unavailable"}})
async def ready(request: Request) -> JSONResponse:
    """Readiness: PostgreSQL and, when configured, Redis answer; 503 names the failing check."""
    checks: dict[str, Any] = {}
    probes = {"database": _check_database(request.app.state.database)}
    if request.app.state.redis is not None:
        probes["redis"] = _check_redis(request)
    failed = []
    for name, probe in probes.items():
        try:
            await asyncio.wait_for(probe, CHECK_TIMEOUT_SECONDS)
            checks[name] = "ok"
        except Exception as exc:
            checks[name] = f"failed: {type(exc).__name__}"
            failed.append(name)
    if failed:
        return JSONResponse(
            {
                "type": "about:blank",
                "title": "Service Unavailable",
                "status": 503,
                "detail": f"Unavailable: {', '.join(failed)}",
                "code": "not_ready",
                "request_id": getattr(request.state, "request_id", None),
                "checks": checks,
            },
            status_code=503,
            media_type="application/problem+json",
        )
    return JSONResponse({"status": "ok", "checks": checks})


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    """Prometheus metrics in the text exposition format."""
    from artisan.webhooks.setup import webhook_metrics

    body, content_type = render_metrics()
    return Response(body + await webhook_metrics(request.app.state), media_type=content_type)
