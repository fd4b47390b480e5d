"""Append-only enforcement, tamper detection, pruning checkpoints and personal-data erasure."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from artisan.audit.maintenance import AuditMaintenance
from artisan.audit.recorder import Actor, Target, record
from artisan.config import Settings
from artisan.core.db import Database
from artisan.core.ids import utcnow
from artisan.models.tenant import Plan
from tests.audit.helpers import count_rows, entries, superuser_sql
from tests.factories import Account, make_tenant, signed_in_user

SUBJECT = Actor(type="user", id="u-subject", label="subject@example.com")


async def verify(client: httpx.AsyncClient, account: Account) -> dict[str, Any]:
    response = await client.get(
        f"/api/admin/{account.tenant_id}/audit-log/verify", headers=account.headers
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def seed(app: FastAPI, tenant_id: uuid.UUID, n: int) -> None:
    database: Database = app.state.database
    async with database.transaction(tenant_id=tenant_id) as session:
        for i in range(n):
            await record(
                session,
                "lead.deleted",
                tenant_id=tenant_id,
                actor=SUBJECT if i % 2 else Actor(type="user", id="u-other", label="o@x.io"),
                targets=[Target("lead", f"l-{i}", f"Lead {i}"), Target("user", "u-subject", "S")],
                metadata={"i": i, "ratio": 0.25, "big": 1e20},
            )


async def test_the_app_role_cannot_update_or_delete_entries(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    admin = await signed_in_user(app, client)
    database: Database = app.state.database
    for statement in (
        "UPDATE audit_log SET action = 'x.y'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
        "UPDATE audit_log_targets SET target_id = 'x'",
        "DELETE FROM audit_log_targets",
        "INSERT INTO audit_checkpoints (id, tenant_id, through_seq, through_hash, pruned_count,"
        " cutoff, signature) VALUES (gen_random_uuid(), :t, 1, 'h', 1, now(), 's')",
    ):
        with pytest.raises(DBAPIError, match="permission denied"):
            async with database.transaction(tenant_id=admin.tenant_id) as session:
                await session.execute(text(statement), {"t": admin.tenant_id})
    assert (await verify(client, admin))["ok"] is True


async def test_the_trigger_refuses_even_privileged_roles_without_the_maintainer(
    app: FastAPI, client: httpx.AsyncClient, admin_engine: AsyncEngine
) -> None:
    admin = await signed_in_user(app, client)
    for statement in ("UPDATE audit_log SET action = 'x.y'", "DELETE FROM audit_log"):
        with pytest.raises(DBAPIError, match="append-only"):
            async with admin_engine.begin() as conn:
                await conn.execute(text(statement))
    maintenance = AuditMaintenance(app.state.settings)
    try:
        with pytest.raises(DBAPIError, match="only personal fields"):
            async with maintenance.transaction(admin.tenant_id) as session:
                await session.execute(
                    text("""UPDATE audit_log SET targets = '[{"type": "x", "id": "y"}]'""")
                )
    finally:
        await maintenance.dispose()
    assert await count_rows(admin_engine, admin.tenant_id) == 1


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        ("UPDATE audit_log SET action = 'user.created' WHERE seq = 3", "content"),
        ("UPDATE audit_log SET metadata = '{\"i\": 99}' WHERE seq = 3", "content"),
        ("UPDATE audit_log SET actor_label = 'someone@else' WHERE seq = 3", "personal"),
        ("UPDATE audit_log SET ip_address = '10.0.0.1' WHERE seq = 3", "personal"),
        ("DELETE FROM audit_log WHERE seq = 3", "missing"),
        ("DELETE FROM audit_log WHERE seq = 1", "missing"),
        (
            "UPDATE audit_log SET occurred_at = occurred_at - interval '1 day' WHERE seq = 3",
            "content",
        ),
    ],
)
async def test_verify_finds_an_entry_changed_by_a_superuser(
    app: FastAPI, client: httpx.AsyncClient, admin_engine: AsyncEngine, tamper: str, reason: str
) -> None:
    admin = await signed_in_user(app, client)
    await seed(app, admin.tenant_id, 5)
    before = await verify(client, admin)
    assert before["ok"] is True
    assert before["count"] == 6
    await superuser_sql(admin_engine, tamper + " AND tenant_id = :t", t=admin.tenant_id)
    after = await verify(client, admin)
    assert after["ok"] is False
    assert after["broken"]["seq"] in {2, 3, 4}
    assert reason in after["broken"]["reason"]


async def test_rewriting_the_hash_does_not_hide_a_change(
    app: FastAPI, client: httpx.AsyncClient, admin_engine: AsyncEngine
) -> None:
    admin = await signed_in_user(app, client)
    await seed(app, admin.tenant_id, 4)
    await superuser_sql(
        admin_engine,
        "UPDATE audit_log SET action = 'user.created', hash = repeat('a', 64) "
        "WHERE seq = 2 AND tenant_id = :t",
        t=admin.tenant_id,
    )
    result = await verify(client, admin)
    assert result["broken"]["seq"] == 2


async def test_pruning_leaves_a_checkpoint_and_the_chain_verifies(
    app: FastAPI, client: httpx.AsyncClient, admin_engine: AsyncEngine
) -> None:
    admin = await signed_in_user(app, client)
    other = await make_tenant(app, plan=Plan.free)
    await seed(app, admin.tenant_id, 9)
    await seed(app, other.id, 3)
    # Age the first entries past the growth plan's retention (as the superuser, triggers off).
    await superuser_sql(
        admin_engine,
        "UPDATE audit_log SET occurred_at = occurred_at - interval '400 days' "
        "WHERE tenant_id = :t AND seq <= 4",
        t=admin.tenant_id,
    )
    before = await verify(client, admin)
    assert before["ok"] is False  # the ageing itself is a change the chain notices
    for table in ("audit_log_targets", "audit_log"):
        # Triggers (cascades included) are off here, so both tables are emptied by hand.
        await superuser_sql(
            admin_engine, f"DELETE FROM {table} WHERE tenant_id = :t", t=admin.tenant_id
        )
    await seed(app, admin.tenant_id, 9)

    settings: Settings = app.state.settings
    maintenance = AuditMaintenance(settings)
    try:
        now = utcnow() + timedelta(days=366)
        # Entries 1..9 expire at growth's 365 days; the other tenant's free plan too.
        dry = await maintenance.prune(tenant_slug=admin.tenant_slug, now=now, dry_run=True)
        assert [(r.pruned, r.through_seq) for r in dry] == [(9, 9)]
        assert await count_rows(admin_engine, admin.tenant_id) == 9
        results = {r.tenant_id: r for r in await maintenance.prune(now=now)}
    finally:
        await maintenance.dispose()
    assert results[admin.tenant_id].pruned == 9
    assert results[admin.tenant_id].retention_days == 365
    assert results[other.id].retention_days == 90
    remaining = await entries(client, admin)
    assert [e["action"] for e in remaining] == ["audit.pruned"]
    async with admin_engine.connect() as conn:
        target_rows = await conn.execute(
            text("SELECT count(*) FROM audit_log_targets WHERE tenant_id = :t"),
            {"t": admin.tenant_id},
        )
        assert target_rows.scalar_one() == 0
    assert remaining[0]["chain"]["seq"] == 10
    result = await verify(client, admin)
    assert result["ok"] is True, result
    assert result["checkpoint"]["through_seq"] == 9
    assert result["checkpoint"]["pruned_count"] == 9
    assert result["head_seq"] == 10

    # A forged checkpoint (signed with the wrong key) is not accepted.
    await superuser_sql(
        admin_engine,
        "UPDATE audit_checkpoints SET pruned_count = 1 WHERE tenant_id = :t",
        t=admin.tenant_id,
    )
    forged = await verify(client, admin)
    assert forged["ok"] is False
    assert "signature" in forged["broken"]["reason"]


async def test_retention_follows_the_tenant_setting(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    admin = await signed_in_user(app, client)
    patched = await client.patch(
        f"/api/admin/{admin.tenant_id}",
        json={"settings": {"audit_retention_days": 30}},
        headers=admin.headers,
    )
    assert patched.status_code == 200, patched.text
    maintenance = AuditMaintenance(app.state.settings)
    try:
        kept = await maintenance.prune(
            tenant_slug=admin.tenant_slug, now=utcnow() + timedelta(days=29)
        )
        gone = await maintenance.prune(
            tenant_slug=admin.tenant_slug, now=utcnow() + timedelta(days=31)
        )
        with pytest.raises(LookupError):
            await maintenance.prune(tenant_slug="no-such-tenant")
    finally:
        await maintenance.dispose()
    assert [(r.retention_days, r.pruned) for r in kept] == [(30, 0)]
    assert [(r.retention_days, r.pruned) for r in gone] == [(30, 2)]
    assert (await verify(client, admin))["ok"] is True


async def test_erasing_personal_data_keeps_the_chain_verifiable(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    admin = await signed_in_user(app, client)
    await seed(app, admin.tenant_id, 6)
    maintenance = AuditMaintenance(app.state.settings)
    try:
        erased = await maintenance.erase_subject(admin.tenant_id, "u-subject")
    finally:
        await maintenance.dispose()
    assert erased == 6  # every entry names the subject as actor or target
    found = await entries(client, admin, action="lead.deleted")
    for entry in found:
        assert "subject@example.com" not in str(entry)
        assert entry["targets"][1] == {"type": "user", "id": "u-subject", "name": None}
        assert entry["personal_erased_at"] is not None
    untouched = [e for e in found if e["actor"]["id"] == "u-other"]
    assert all(e["actor"]["label"] == "o@x.io" for e in untouched)
    result = await verify(client, admin)
    assert result["ok"] is True, result
    assert result["count"] == 8


def test_the_prune_command_reports_per_tenant(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    from artisan import cli
    from artisan.config import get_settings

    monkeypatch.setenv("DATABASE_URL", app.state.settings.database_url)
    monkeypatch.setenv("SECRET_KEY", app.state.settings.secret_key)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli.app, ["audit", "prune", "--dry-run"])
        missing = CliRunner().invoke(cli.app, ["audit", "prune", "--tenant", "nope"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "Total would prune: 0" in result.output
    assert missing.exit_code == 1


async def test_removing_a_tenant_takes_its_trail_along(
    app: FastAPI, client: httpx.AsyncClient, admin_engine: AsyncEngine
) -> None:
    admin = await signed_in_user(app, client)
    await seed(app, admin.tenant_id, 3)
    async with admin_engine.begin() as conn:
        await conn.execute(text("DELETE FROM tenants WHERE id = :t"), {"t": admin.tenant_id})
    assert await count_rows(admin_engine, admin.tenant_id) == 0
