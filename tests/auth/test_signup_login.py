"""Sign-up, sign-in (password, tenant choice, /token form), refresh rotation and sign-out."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from artisan.models.tenant import TenantStatus
from artisan.models.user import AuthSession, Role
from tests.factories import SIGNUP, bearer, make_tenant, make_user, sign_in


async def test_signup_creates_trial_tenant_and_admin(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/auth/signup", json=SIGNUP)
    assert response.status_code == 201, response.text
    tokens = response.json()
    assert tokens["token_type"] == "bearer"
    assert tokens["refresh_token"].startswith("art_rt_")
    me = (await client.get("/api/auth/me", headers=bearer(tokens["access_token"]))).json()
    assert me["email"] == "ada@acme.example.com"
    assert me["role"] == "admin"
    assert me["tenant"]["slug"] == "acme-corp"
    assert me["tenant"]["plan"] == "starter"
    assert me["tenant"]["trial_ends_at"] is not None
    assert "audit:read" in me["scopes"]


async def test_signup_twice_with_same_company_gets_distinct_slugs(
    client: httpx.AsyncClient,
) -> None:
    first = await client.post("/api/auth/signup", json=SIGNUP)
    second = await client.post("/api/auth/signup", json={**SIGNUP, "email": "bob@acme.example.com"})
    assert first.status_code == second.status_code == 201
    slug_a = (await client.get("/api/auth/me", headers=bearer(first.json()["access_token"]))).json()
    slug_b = (
        await client.get("/api/auth/me", headers=bearer(second.json()["access_token"]))
    ).json()
    assert slug_a["tenant"]["slug"] != slug_b["tenant"]["slug"]


async def test_signup_bad_input_is_a_problem_with_field_errors(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/auth/signup", json={**SIGNUP, "email": "not-an-email", "password": "short"}
    )
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == "validation_error"
    locations = {tuple(e["loc"]) for e in body["errors"]}
    assert ("body", "email") in locations
    assert ("body", "password") in locations


async def test_login_success_and_wrong_password(app: FastAPI, client: httpx.AsyncClient) -> None:
    tenant = await make_tenant(app)
    account = await make_user(app, tenant, role=Role.manager)
    ok = await client.post(
        "/api/auth/login", json={"email": account.email, "password": account.password}
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["user_id"] == str(account.user_id)
    bad = await client.post(
        "/api/auth/login", json={"email": account.email, "password": "wrong-password"}
    )
    unknown = await client.post(
        "/api/auth/login", json={"email": "nobody@example.com", "password": "wrong-password"}
    )
    assert bad.status_code == unknown.status_code == 401
    # The same answer whether or not the account exists.
    assert bad.json()["detail"] == unknown.json()["detail"]
    assert bad.json()["code"] == unknown.json()["code"] == "invalid_credentials"


async def test_login_email_is_case_insensitive(app: FastAPI, client: httpx.AsyncClient) -> None:
    tenant = await make_tenant(app)
    account = await make_user(app, tenant, email="Mixed.Case@example.com")
    response = await client.post(
        "/api/auth/login", json={"email": "mixed.case@EXAMPLE.com", "password": account.password}
    )
    assert response.status_code == 200, response.text


async def test_email_in_several_tenants_needs_a_slug(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    first = await make_tenant(app)
    second = await make_tenant(app)
    await make_user(app, first, email="shared@example.com")
    other = await make_user(app, second, email="shared@example.com")
    ambiguous = await client.post(
        "/api/auth/login", json={"email": "shared@example.com", "password": other.password}
    )
    assert ambiguous.status_code == 409
    assert ambiguous.json()["code"] == "tenant_slug_required"
    assert sorted(ambiguous.json()["tenant_slugs"]) == sorted([first.slug, second.slug])
    chosen = await client.post(
        "/api/auth/login",
        json={
            "email": "shared@example.com",
            "password": other.password,
            "tenant_slug": second.slug,
        },
    )
    assert chosen.status_code == 200
    assert chosen.json()["tenant_id"] == str(second.id)


async def test_inactive_user_and_unusable_tenants_cannot_sign_in(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    inactive = await make_user(app, tenant, is_active=False)
    suspended_tenant = await make_tenant(app, status=TenantStatus.suspended)
    suspended = await make_user(app, suspended_tenant)
    for account in (inactive, suspended):
        response = await client.post(
            "/api/auth/login", json={"email": account.email, "password": account.password}
        )
        assert response.status_code == 401, account


async def test_token_form_works_for_swagger(app: FastAPI, client: httpx.AsyncClient) -> None:
    tenant = await make_tenant(app)
    account = await make_user(app, tenant)
    response = await client.post(
        "/api/auth/token",
        data={"username": account.email, "password": account.password, "grant_type": "password"},
    )
    assert response.status_code == 200, response.text
    me = await client.get("/api/auth/me", headers=bearer(response.json()["access_token"]))
    assert me.status_code == 200
    bad = await client.post("/api/auth/token", data={"username": "not-an-email", "password": "x"})
    assert bad.status_code == 422
    missing = await client.post("/api/auth/token", data={"username": account.email})
    assert missing.status_code == 422


async def test_refresh_rotates_and_reuse_revokes_the_session(
    app: FastAPI, client: httpx.AsyncClient, admin_engine: AsyncEngine
) -> None:
    tenant = await make_tenant(app)
    account = await make_user(app, tenant)
    first = (
        await client.post(
            "/api/auth/login", json={"email": account.email, "password": account.password}
        )
    ).json()
    rotated = await client.post("/api/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert rotated.status_code == 200, rotated.text
    second = rotated.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert (
        await client.get("/api/auth/me", headers=bearer(second["access_token"]))
    ).status_code == 200

    # Replaying the first (already used) token means it leaked: the whole session ends.
    replay = await client.post("/api/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert replay.status_code == 401
    assert (
        await client.post("/api/auth/refresh", json={"refresh_token": second["refresh_token"]})
    ).status_code == 401
    assert (
        await client.get("/api/auth/me", headers=bearer(second["access_token"]))
    ).status_code == 401
    async with admin_engine.connect() as conn:
        reason = (
            await conn.execute(
                select(AuthSession.revoked_reason).where(AuthSession.user_id == account.user_id)
            )
        ).scalar_one()
    assert reason == "refresh_token_reuse"


async def test_refresh_with_unknown_token_is_401(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/auth/refresh", json={"refresh_token": "art_rt_" + "x" * 43})
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_refresh_token"
    bad = await client.post("/api/auth/refresh", json={"refresh_token": 42})
    assert bad.status_code == 422


async def test_logout_ends_access_and_refresh_tokens(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    account = await make_user(app, tenant)
    tokens = (
        await client.post(
            "/api/auth/login", json={"email": account.email, "password": account.password}
        )
    ).json()
    out = await client.post("/api/auth/logout", headers=bearer(tokens["access_token"]))
    assert out.status_code == 204
    assert (
        await client.get("/api/auth/me", headers=bearer(tokens["access_token"]))
    ).status_code == 401
    refresh = await client.post(
        "/api/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert refresh.status_code == 401


async def test_other_sessions_survive_a_logout(app: FastAPI, client: httpx.AsyncClient) -> None:
    tenant = await make_tenant(app)
    account = await make_user(app, tenant)
    laptop = await sign_in(client, account)
    laptop_headers = dict(laptop.headers)
    phone = await sign_in(client, account)
    assert (await client.post("/api/auth/logout", headers=laptop_headers)).status_code == 204
    assert (await client.get("/api/auth/me", headers=phone.headers)).status_code == 200
