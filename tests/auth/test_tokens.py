"""Access tokens are checked against the database on every request, and tampering fails."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import timedelta

import httpx
import jwt
from fastapi import FastAPI
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from artisan.core.ids import utcnow
from artisan.models.tenant import Tenant, TenantStatus
from artisan.models.user import User
from tests.factories import signed_in_user


def _token(account_headers: dict[str, str]) -> str:
    return account_headers["Authorization"].removeprefix("Bearer ")


def _claims(token: str) -> dict[str, object]:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


async def test_alg_none_is_refused(app: FastAPI, client: httpx.AsyncClient) -> None:
    account = await signed_in_user(app, client)
    forged = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(_claims(_token(account.headers)))}."
    response = await client.get("/api/auth/me", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_wrong_signature_and_escalated_role_are_refused(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    account = await signed_in_user(app, client)
    claims = _claims(_token(account.headers))
    claims["role"] = "admin"
    forged = jwt.encode(claims, "some-other-secret-of-enough-length-000", algorithm="HS256")
    response = await client.get("/api/auth/me", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401


async def test_expired_and_garbage_tokens_are_refused(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    account = await signed_in_user(app, client)
    claims = _claims(_token(account.headers))
    tokens = app.state.tokens
    expired, _ = tokens.issue_access_token(
        user_id=uuid.UUID(str(claims["sub"])),
        tenant_id=uuid.UUID(str(claims["tenant_id"])),
        role="admin",
        session_id=uuid.UUID(str(claims["sid"])),
        now=utcnow() - timedelta(days=3),
    )
    for token in (expired, "garbage", "a.b.c"):
        response = await client.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, token
    no_scheme = await client.get("/api/auth/me", headers={"Authorization": _token(account.headers)})
    assert no_scheme.status_code == 401
    missing = await client.get("/api/auth/me")
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"


async def test_deactivation_and_suspension_apply_at_once(
    app: FastAPI, client: httpx.AsyncClient, admin_engine: AsyncEngine
) -> None:
    account = await signed_in_user(app, client)
    other = await signed_in_user(app, client)
    assert (await client.get("/api/auth/me", headers=account.headers)).status_code == 200
    async with admin_engine.begin() as conn:
        await conn.execute(update(User).where(User.id == account.user_id).values(is_active=False))
        await conn.execute(
            update(Tenant).where(Tenant.id == other.tenant_id).values(status=TenantStatus.suspended)
        )
    assert (await client.get("/api/auth/me", headers=account.headers)).status_code == 401
    assert (await client.get("/api/auth/me", headers=other.headers)).status_code == 401


async def test_deleted_tenant_tokens_stop_working(
    app: FastAPI, client: httpx.AsyncClient, admin_engine: AsyncEngine
) -> None:
    account = await signed_in_user(app, client)
    async with admin_engine.begin() as conn:
        await conn.execute(
            update(Tenant).where(Tenant.id == account.tenant_id).values(deleted_at=utcnow())
        )
    assert (await client.get("/api/auth/me", headers=account.headers)).status_code == 401
    login = await client.post(
        "/api/auth/login", json={"email": account.email, "password": account.password}
    )
    assert login.status_code == 401


async def test_token_for_another_tenants_path_is_404(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    account = await signed_in_user(app, client)
    other = await signed_in_user(app, client)
    response = await client.get(f"/api/admin/{other.tenant_id}", headers=account.headers)
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


async def test_api_key_shaped_credentials_are_refused_on_user_routes(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    as_bearer = await client.get("/api/auth/me", headers={"Authorization": "Bearer art_sk_abc"})
    as_header = await client.get("/api/auth/me", headers={"X-API-Key": "art_sk_abc"})
    assert as_bearer.status_code == as_header.status_code == 401
