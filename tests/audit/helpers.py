"""Helpers shared by the audit tests: reading the trail through the API and as a superuser."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.factories import Account


async def entries(
    client: httpx.AsyncClient, account: Account, **params: Any
) -> list[dict[str, Any]]:
    """Every entry the list endpoint returns for `params`, following cursors."""
    found: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        query = {**params, "limit": 200, **({"cursor": cursor} if cursor else {})}
        response = await client.get(
            f"/api/admin/{account.tenant_id}/audit-log", params=query, headers=account.headers
        )
        assert response.status_code == 200, response.text
        body = response.json()
        found.extend(body["data"])
        cursor = body["next_cursor"]
        if cursor is None:
            return found


async def actions(client: httpx.AsyncClient, account: Account, **params: Any) -> list[str]:
    """The actions of every matching entry, newest first."""
    return [e["action"] for e in await entries(client, account, **params)]


async def superuser_sql(engine: AsyncEngine, sql: str, **params: Any) -> None:
    """Run a statement as the database superuser with triggers off (as an attacker could)."""
    async with engine.begin() as conn:
        await conn.execute(text("SET LOCAL session_replication_role = replica"))
        await conn.execute(text(sql), params)


async def count_rows(engine: AsyncEngine, tenant_id: uuid.UUID) -> int:
    """Audit rows of a tenant, counted past row-level security."""
    async with engine.connect() as conn:
        result = await conn.execute(
            text("SELECT count(*) FROM audit_log WHERE tenant_id = :t"), {"t": tenant_id}
        )
        return int(result.scalar_one())
