"""The second wall: row-level security hides other tenants' rows even from unfiltered queries."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from artisan.core.db import Database
from artisan.models import Base
from tests.factories import make_tenant, make_user


async def test_app_role_cannot_bypass_rls(app: FastAPI) -> None:
    database: Database = app.state.database
    async with database.transaction() as session:
        row = (
            await session.execute(
                text(
                    "SELECT current_user, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user"
                )
            )
        ).one()
    assert tuple(row) == ("artisan_app", False, False)


async def test_unfiltered_query_sees_only_the_transactions_tenant(app: FastAPI) -> None:
    first, second = await make_tenant(app), await make_tenant(app)
    mine = await make_user(app, first)
    await make_user(app, second)
    await make_user(app, second)
    database: Database = app.state.database
    async with database.transaction(tenant_id=first.id) as session:
        emails = (await session.execute(text("SELECT email FROM users"))).scalars().all()
        assert emails == [mine.email]
        sessions = (
            await session.execute(
                text("SELECT count(*) FROM audit_log WHERE tenant_id = :t"), {"t": second.id}
            )
        ).scalar_one()
        assert sessions == 0
    async with database.transaction() as session:
        assert (await session.execute(text("SELECT count(*) FROM users"))).scalar_one() == 0
    async with database.transaction(bypass_rls=True) as session:
        assert (await session.execute(text("SELECT count(*) FROM users"))).scalar_one() == 3


async def test_writes_into_another_tenant_are_refused(app: FastAPI) -> None:
    first, second = await make_tenant(app), await make_tenant(app)
    victim = await make_user(app, second)
    database: Database = app.state.database
    with pytest.raises(DBAPIError, match="row-level security"):
        async with database.transaction(tenant_id=first.id) as session:
            await session.execute(
                text(
                    "INSERT INTO users (id, tenant_id, email, full_name, role, is_active, is_superuser, "
                    "mfa_enabled, created_at, updated_at) VALUES (gen_random_uuid(), :t, 'x@example.com', "
                    "'X', 'admin', true, false, false, now(), now())"
                ),
                {"t": second.id},
            )
    async with database.transaction(tenant_id=first.id) as session:
        changed = await session.execute(
            text("UPDATE users SET full_name = 'Hijacked' WHERE id = :id"), {"id": victim.user_id}
        )
        assert changed.rowcount == 0  # type: ignore[attr-defined]


async def test_every_tenant_owned_table_forces_rls(app: FastAPI, admin_engine: AsyncEngine) -> None:
    tenant_tables = sorted(t.name for t in Base.metadata.sorted_tables if "tenant_id" in t.c)
    assert "users" in tenant_tables
    async with admin_engine.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class "
                    "WHERE relname = ANY(:names) AND relkind IN ('r', 'p')"
                ),
                {"names": tenant_tables},
            )
        ).all()
    assert sorted(r.relname for r in rows) == tenant_tables
    unprotected = [r.relname for r in rows if not (r.relrowsecurity and r.relforcerowsecurity)]
    assert unprotected == []
