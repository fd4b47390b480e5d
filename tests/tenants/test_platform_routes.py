"""Platform operators manage every tenant: list, create, change, soft-delete and restore."""

from __future__ import annotations

from datetime import timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from artisan.core.ids import utcnow
from artisan.models.tenant import Tenant
from tests.factories import Account, make_tenant, make_user, sign_in, signed_in_user

BASE = "/api/platform/tenants"


async def _operator(app: FastAPI, client: httpx.AsyncClient) -> Account:
    tenant = await make_tenant(app, name="Operators")
    return await sign_in(client, await make_user(app, tenant, is_superuser=True))


async def test_only_superusers_reach_platform_routes(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    admin = await signed_in_user(app, client)
    assert (await client.get(BASE, headers=admin.headers)).status_code == 403
    assert (await client.post(BASE, headers=admin.headers, json={"name": "X"})).status_code == 403
    assert (await client.get(BASE)).status_code == 401


async def test_create_list_filter_and_get(app: FastAPI, client: httpx.AsyncClient) -> None:
    operator = await _operator(app, client)
    created = await client.post(
        BASE,
        headers=operator.headers,
        json={
            "name": "Globex",
            "slug": "globex",
            "plan": "enterprise",
            "limit_overrides": {"users": 5000},
        },
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["limits"]["users"] == 5000
    duplicate = await client.post(
        BASE, headers=operator.headers, json={"name": "Globex 2", "slug": "globex"}
    )
    assert duplicate.status_code == 409
    assert duplicate.json()["code"] == "slug_taken"
    found = (await client.get(BASE, headers=operator.headers, params={"q": "glob"})).json()
    assert [t["slug"] for t in found["data"]] == ["globex"]
    wildcard = (await client.get(BASE, headers=operator.headers, params={"q": "%"})).json()
    assert wildcard["data"] == []
    by_plan = (
        await client.get(BASE, headers=operator.headers, params={"plan": "enterprise"})
    ).json()
    assert [t["slug"] for t in by_plan["data"]] == ["globex"]
    one = await client.get(f"{BASE}/{body['id']}", headers=operator.headers)
    assert one.json()["name"] == "Globex"


async def test_list_pages_without_gaps(app: FastAPI, client: httpx.AsyncClient) -> None:
    operator = await _operator(app, client)
    for index in range(5):
        await make_tenant(app, name=f"Paged {index}")
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await client.get(BASE, headers=operator.headers, params=params)).json()
        seen += [t["id"] for t in page["data"]]
        cursor = page["next_cursor"]
        assert page["has_more"] is (cursor is not None)
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 6
    bad = await client.get(BASE, headers=operator.headers, params={"cursor": "!!notacursor"})
    assert bad.status_code == 422
    too_big = await client.get(BASE, headers=operator.headers, params={"limit": 1000})
    assert too_big.status_code == 422


async def test_plan_change_ends_trial_and_suspension_locks_out(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    operator = await _operator(app, client)
    tenant = await make_tenant(app, trial_ends_at=utcnow() - timedelta(days=1))
    admin = await sign_in(client, await make_user(app, tenant))
    assert (
        await client.patch(f"/api/admin/{tenant.id}", headers=admin.headers, json={"name": "A"})
    ).status_code == 402
    upgraded = await client.patch(
        f"{BASE}/{tenant.id}", headers=operator.headers, json={"plan": "growth"}
    )
    assert upgraded.status_code == 200
    assert upgraded.json()["trial_ends_at"] is None
    assert (
        await client.patch(f"/api/admin/{tenant.id}", headers=admin.headers, json={"name": "A"})
    ).status_code == 200
    suspended = await client.patch(
        f"{BASE}/{tenant.id}", headers=operator.headers, json={"status": "suspended"}
    )
    assert suspended.json()["status"] == "suspended"
    assert (await client.get("/api/auth/me", headers=admin.headers)).status_code == 401
    bad = await client.patch(
        f"{BASE}/{tenant.id}", headers=operator.headers, json={"plan": "platinum"}
    )
    assert bad.status_code == 422


async def test_soft_delete_and_restore(app: FastAPI, client: httpx.AsyncClient) -> None:
    operator = await _operator(app, client)
    tenant = await make_tenant(app)
    member = await make_user(app, tenant)
    deleted = await client.delete(f"{BASE}/{tenant.id}", headers=operator.headers)
    assert deleted.status_code == 200
    assert deleted.json()["deleted_at"] is not None
    login = await client.post(
        "/api/auth/login", json={"email": member.email, "password": member.password}
    )
    assert login.status_code == 401
    listed = (await client.get(BASE, headers=operator.headers)).json()["data"]
    assert str(tenant.id) not in [t["id"] for t in listed]
    with_deleted = (
        await client.get(BASE, headers=operator.headers, params={"include_deleted": True})
    ).json()
    assert str(tenant.id) in [t["id"] for t in with_deleted["data"]]
    assert (await client.delete(f"{BASE}/{tenant.id}", headers=operator.headers)).status_code == 409
    restored = await client.post(f"{BASE}/{tenant.id}/restore", headers=operator.headers)
    assert restored.status_code == 200
    assert restored.json()["deleted_at"] is None
    login = await client.post(
        "/api/auth/login", json={"email": member.email, "password": member.password}
    )
    assert login.status_code == 200
    assert (
        await client.post(f"{BASE}/{tenant.id}/restore", headers=operator.headers)
    ).status_code == 409


async def test_restore_after_grace_period_is_refused(
    app: FastAPI, client: httpx.AsyncClient, admin_engine: AsyncEngine
) -> None:
    operator = await _operator(app, client)
    tenant = await make_tenant(app)
    async with admin_engine.begin() as conn:
        await conn.execute(
            update(Tenant)
            .where(Tenant.id == tenant.id)
            .values(deleted_at=utcnow() - timedelta(days=31))
        )
    response = await client.post(f"{BASE}/{tenant.id}/restore", headers=operator.headers)
    assert response.status_code == 409
    assert response.json()["code"] == "restore_window_expired"


async def test_unknown_tenant_is_404_and_own_tenant_cannot_be_deleted(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    operator = await _operator(app, client)
    missing = "01900000-0000-7000-8000-000000000000"
    assert (await client.get(f"{BASE}/{missing}", headers=operator.headers)).status_code == 404
    assert (await client.get(f"{BASE}/not-a-uuid", headers=operator.headers)).status_code == 422
    own = await client.delete(f"{BASE}/{operator.tenant_id}", headers=operator.headers)
    assert own.status_code == 409
