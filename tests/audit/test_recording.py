"""Every foundation action writes its entry, in the same transaction as the change."""

from __future__ import annotations

import uuid

import httpx
import pyotp
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from artisan.audit.catalogue import ACTIONS
from artisan.audit.recorder import (
    REDACTED,
    SYSTEM,
    Target,
    clean_metadata,
    install_audit,
    record,
)
from artisan.core.db import Database
from artisan.models.user import Role
from tests.audit.helpers import actions, count_rows, entries
from tests.factories import make_tenant, make_user, sign_in, signed_in_user


async def test_signup_login_and_failed_login_are_recorded(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    signup = await client.post(
        "/api/auth/signup",
        json={
            "company_name": "Audit Co",
            "email": "owner@audit.example.com",
            "password": "a-long-password",
            "name": "Owner",
        },
        headers={"User-Agent": "audit-test/1.0"},
    )
    assert signup.status_code == 201, signup.text
    headers = {"Authorization": f"Bearer {signup.json()['access_token']}"}
    me = (await client.get("/api/auth/me", headers=headers)).json()
    bad = await client.post(
        "/api/auth/login",
        json={"email": "owner@audit.example.com", "password": "wrong", "tenant_slug": "audit-co"},
    )
    assert bad.status_code == 401
    good = await client.post(
        "/api/auth/login",
        json={
            "email": "owner@audit.example.com",
            "password": "a-long-password",
            "tenant_slug": "audit-co",
        },
    )
    assert good.status_code == 200
    response = await client.get(f"/api/admin/{me['tenant']['id']}/audit-log", headers=headers)
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert [e["action"] for e in data] == ["auth.login", "auth.login_failed", "tenant.created"]
    login, failed, created = data
    assert failed["outcome"] == "failure"
    assert failed["metadata"]["reason"]
    assert login["outcome"] == "success"
    assert created["actor"] == {"type": "user", "id": me["id"], "label": me["email"]}
    assert {t["type"] for t in created["targets"]} == {"tenant", "user"}
    assert created["context"]["user_agent"] == "audit-test/1.0"
    assert created["context"]["request_id"]
    assert created["chain"]["seq"] == 1
    assert failed["chain"]["prev_hash"] == created["chain"]["hash"]
    assert login["chain"]["seq"] == 3


async def test_user_lifecycle_actions_are_recorded(app: FastAPI, client: httpx.AsyncClient) -> None:
    admin = await signed_in_user(app, client)
    base = f"/api/admin/{admin.tenant_id}/users"
    invited = await client.post(
        base,
        json={"email": "new@example.com", "full_name": "New Person", "role": "user"},
        headers=admin.headers,
    )
    assert invited.status_code == 201, invited.text
    user_id = invited.json()["id"]
    accepted = await client.post(
        "/api/auth/invitations/accept",
        json={"token": invited.json()["invitation_token"], "password": "another-long-password"},
    )
    assert accepted.status_code == 200, accepted.text
    for change in ({"full_name": "Renamed"}, {"role": "manager"}, {"is_active": False}):
        response = await client.patch(f"{base}/{user_id}", json=change, headers=admin.headers)
        assert response.status_code == 200, response.text
    assert (await client.delete(f"{base}/{user_id}", headers=admin.headers)).status_code == 204
    assert (await client.post("/api/auth/logout", headers=admin.headers)).status_code == 204

    admin = await sign_in(client, admin)
    found = await entries(client, admin, target_id=user_id)
    assert [e["action"] for e in found] == [
        "user.deleted",
        "user.deactivated",
        "user.role_changed",
        "user.updated",
        "user.invitation_accepted",
        "user.invited",
    ]
    assert found[2]["metadata"] == {"changes": {"role": {"from": "user", "to": "manager"}}}
    assert all(t["name"] == "new@example.com" for e in found for t in e["targets"])
    assert "auth.logout" in await actions(client, admin, actor_id=str(admin.user_id))


async def test_mfa_and_tenant_settings_are_recorded(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    admin = await signed_in_user(app, client)
    setup = await client.post("/api/auth/mfa/setup", headers=admin.headers)
    assert setup.status_code == 200, setup.text
    code = pyotp.TOTP(setup.json()["secret"]).now()
    enabled = await client.post("/api/auth/mfa/enable", json={"code": code}, headers=admin.headers)
    assert enabled.status_code == 200, enabled.text
    patched = await client.patch(
        f"/api/admin/{admin.tenant_id}",
        json={"settings": {"audit_retention_days": 120}},
        headers=admin.headers,
    )
    assert patched.status_code == 200, patched.text
    assert await actions(client, admin, action="user.mfa_enabled") == ["user.mfa_enabled"]
    updated = await entries(client, admin, action="tenant.updated")
    assert len(updated) == 1
    assert updated[0]["targets"][0]["id"] == str(admin.tenant_id)


async def test_refresh_token_reuse_records_the_revocation(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    account = await make_user(app, tenant)
    login = await client.post(
        "/api/auth/login",
        json={"email": account.email, "password": account.password, "tenant_slug": tenant.slug},
    )
    refresh_token = login.json()["refresh_token"]
    first = await client.post("/api/auth/refresh", json={"refresh_token": refresh_token})
    assert first.status_code == 200
    reused = await client.post("/api/auth/refresh", json={"refresh_token": refresh_token})
    assert reused.status_code == 401
    other = await sign_in(client, await make_user(app, tenant, email="x@example.com"))
    revoked = await entries(client, other, action="auth.session_revoked")
    assert len(revoked) == 1
    assert revoked[0]["outcome"] == "failure"
    assert revoked[0]["metadata"] == {"reason": "refresh_token_reuse"}


async def test_operator_actions_are_recorded_in_the_tenant_trail(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    operator = await signed_in_user(app, client, is_superuser=True)
    created = await client.post(
        "/api/platform/tenants", json={"name": "Managed Co"}, headers=operator.headers
    )
    assert created.status_code == 201, created.text
    tenant_id = created.json()["id"]
    deleted = await client.delete(f"/api/platform/tenants/{tenant_id}", headers=operator.headers)
    assert deleted.status_code == 200, deleted.text
    restored = await client.post(
        f"/api/platform/tenants/{tenant_id}/restore", headers=operator.headers
    )
    assert restored.status_code == 200, restored.text
    database: Database = app.state.database
    async with database.transaction(tenant_id=uuid.UUID(tenant_id)) as session:
        from sqlalchemy import select

        from artisan.models.audit import AuditEntry

        rows = (await session.execute(select(AuditEntry).order_by(AuditEntry.seq))).scalars().all()
    assert [r.action for r in rows] == ["tenant.created", "tenant.deleted", "tenant.restored"]
    assert {r.actor_type for r in rows} == {"operator"}


async def test_a_rolled_back_action_leaves_no_entry(
    app: FastAPI, client: httpx.AsyncClient, admin_engine: AsyncEngine
) -> None:
    admin = await signed_in_user(app, client)
    before = await count_rows(admin_engine, admin.tenant_id)
    # Demoting the only admin fails after nothing was written: no entry may survive it.
    response = await client.patch(
        f"/api/admin/{admin.tenant_id}/users/{admin.user_id}",
        json={"role": "user"},
        headers=admin.headers,
    )
    assert response.status_code == 409, response.text
    assert await count_rows(admin_engine, admin.tenant_id) == before
    database: Database = app.state.database

    async def failing_unit_of_work() -> None:
        async with database.transaction(tenant_id=admin.tenant_id) as session:
            await record(session, "user.updated", tenant_id=admin.tenant_id, actor=SYSTEM)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await failing_unit_of_work()
    assert await count_rows(admin_engine, admin.tenant_id) == before


async def test_metadata_secrets_are_redacted_and_size_is_limited(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    admin = await signed_in_user(app, client, role=Role.admin)
    database: Database = app.state.database
    async with database.transaction(tenant_id=admin.tenant_id) as session:
        await record(
            session,
            "api_key.created",
            tenant_id=admin.tenant_id,
            actor=SYSTEM,
            targets=[Target("api_key", "k1", "CI key")],
            metadata={"name": "CI", "secret": "s3cr3t", "nested": {"api_key": "art_x"}, "n": 2.0},
        )
    found = await entries(client, admin, action="api_key.created")
    assert found[0]["metadata"] == {
        "name": "CI",
        "secret": REDACTED,
        "nested": {"api_key": REDACTED},
        "n": 2.0,
    }
    assert clean_metadata({"blob": "x" * 10_000}, 8192) == {
        "truncated": True,
        "original_bytes": 10_012,
    }


async def test_an_unknown_action_name_is_refused(app: FastAPI) -> None:
    tenant = await make_tenant(app)
    database: Database = app.state.database
    with pytest.raises(ValueError, match="dotted"):
        async with database.transaction(tenant_id=tenant.id) as session:
            await record(session, "Not An Action", tenant_id=tenant.id, actor=SYSTEM)


def test_every_recorded_action_in_the_code_is_catalogued() -> None:
    import pathlib
    import re

    source = pathlib.Path(__file__).resolve().parents[2] / "src" / "artisan"
    used: set[str] = set()
    for path in source.rglob("*.py"):
        text = path.read_text()
        used |= set(re.findall(r'record\(\s*\w+,\s*"([a-z_.]+)"', text))
        used |= set(re.findall(r'action = "([a-z_]+\.[a-z_.]+)"', text))
    assert used, "no record() calls found"
    assert used - set(ACTIONS) == set()


def test_the_documented_catalogue_matches_the_code() -> None:
    import pathlib

    doc = (pathlib.Path(__file__).resolve().parents[2] / "docs" / "audit-log.md").read_text()
    missing = [action for action in ACTIONS if f"| `{action}` |" not in doc]
    assert missing == []


async def test_recording_needs_a_database_set_up_for_audit(
    app: FastAPI, client: httpx.AsyncClient, admin_engine: AsyncEngine
) -> None:
    # A process that forgot install_audit would key digests with nothing: it must fail loudly.
    admin = await signed_in_user(app, client)
    before = await count_rows(admin_engine, admin.tenant_id)
    bare = Database(app.state.settings)
    try:
        with pytest.raises(RuntimeError, match="install_audit"):
            async with bare.transaction(tenant_id=admin.tenant_id) as session:
                await record(session, "user.updated", tenant_id=admin.tenant_id, actor=SYSTEM)
        install_audit(bare, app.state.settings)
        async with bare.transaction(tenant_id=admin.tenant_id) as session:
            await record(session, "user.updated", tenant_id=admin.tenant_id, actor=SYSTEM)
    finally:
        await bare.dispose()
    assert await count_rows(admin_engine, admin.tenant_id) == before + 1
