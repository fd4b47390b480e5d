"""Tenant admins read and change their tenant; usage counts real rows; trials and limits bite."""

from __future__ import annotations

from datetime import timedelta

import httpx
from fastapi import FastAPI

from artisan.core.ids import utcnow
from artisan.models.tenant import Plan
from artisan.models.user import Role
from tests.factories import make_tenant, make_user, sign_in, signed_in_user


async def test_admin_reads_and_updates_settings(app: FastAPI, client: httpx.AsyncClient) -> None:
    admin = await signed_in_user(app, client)
    url = f"/api/admin/{admin.tenant_id}"
    tenant = (await client.get(url, headers=admin.headers)).json()
    assert tenant["id"] == str(admin.tenant_id)
    assert tenant["settings"]["timezone"] == "UTC"
    assert tenant["limits"]["users"] == 50  # growth plan default

    changed = await client.patch(
        url,
        headers=admin.headers,
        json={
            "name": "Renamed Inc",
            "settings": {"timezone": "Europe/Berlin", "locale": "de-DE"},
        },
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert body["name"] == "Renamed Inc"
    assert body["settings"]["timezone"] == "Europe/Berlin"
    # Feature flags are read-only here (tests/tenants/test_feature_flags.py).
    assert body["feature_flags"] == tenant["feature_flags"]
    assert (await client.get(url, headers=admin.headers)).json()["name"] == "Renamed Inc"


async def test_invalid_settings_change_nothing(app: FastAPI, client: httpx.AsyncClient) -> None:
    admin = await signed_in_user(app, client)
    url = f"/api/admin/{admin.tenant_id}"
    before = (await client.get(url, headers=admin.headers)).json()
    for bad in (
        {"settings": {"timezone": "Mars/Olympus"}},
        {"settings": {"unknown_key": 1}},
        {"feature_flags": {"time_travel": True}},
        {"name": ""},
        {"plan": "enterprise"},  # commercial terms are for platform operators
    ):
        response = await client.patch(url, headers=admin.headers, json=bad)
        assert response.status_code == 422, bad
        assert response.json()["code"] == "validation_error"
    assert (await client.get(url, headers=admin.headers)).json() == before


async def test_role_boundaries(app: FastAPI, client: httpx.AsyncClient) -> None:
    tenant = await make_tenant(app)
    manager = await sign_in(client, await make_user(app, tenant, role=Role.manager))
    user = await sign_in(client, await make_user(app, tenant, role=Role.user))
    url = f"/api/admin/{tenant.id}"
    assert (await client.get(url, headers=manager.headers)).status_code == 200
    assert (await client.get(f"{url}/usage", headers=manager.headers)).status_code == 200
    denied = await client.patch(url, headers=manager.headers, json={"name": "X"})
    assert denied.status_code == 403
    assert denied.json()["required_role"] == "admin"
    assert (await client.get(url, headers=user.headers)).status_code == 403
    assert (await client.get(f"{url}/usage", headers=user.headers)).status_code == 403


async def test_cross_tenant_paths_are_404(app: FastAPI, client: httpx.AsyncClient) -> None:
    mine = await signed_in_user(app, client)
    theirs = await signed_in_user(app, client)
    for method, path in (
        ("GET", f"/api/admin/{theirs.tenant_id}"),
        ("PATCH", f"/api/admin/{theirs.tenant_id}"),
        ("GET", f"/api/admin/{theirs.tenant_id}/usage"),
    ):
        response = await client.request(
            method, path, headers=mine.headers, json={"name": "Hijacked"}
        )
        assert response.status_code == 404, (method, path)
    their_view = (await client.get(f"/api/admin/{theirs.tenant_id}", headers=theirs.headers)).json()
    assert their_view["name"] != "Hijacked"


async def test_usage_counts_real_rows(app: FastAPI, client: httpx.AsyncClient) -> None:
    tenant = await make_tenant(app, plan=Plan.free)
    admin = await sign_in(client, await make_user(app, tenant))
    await make_user(app, tenant, role=Role.user)
    await make_user(app, tenant, role=Role.user, is_active=False)
    usage = (await client.get(f"/api/admin/{tenant.id}/usage", headers=admin.headers)).json()
    users = next(item for item in usage["items"] if item["resource"] == "users")
    assert users == {"resource": "users", "limit": 3, "current": 2, "remaining": 1}
    assert {item["resource"] for item in usage["items"]} == {
        "users",
        "leads",
        "campaigns",
        "api_keys",
        "webhooks",
    }


async def test_plan_limit_refuses_create_with_counts(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app, plan=Plan.free, limit_overrides={"users": 2})
    admin = await sign_in(client, await make_user(app, tenant))
    url = f"/api/admin/{tenant.id}/users"
    first = await client.post(
        url, headers=admin.headers, json={"email": "a@example.com", "full_name": "A"}
    )
    assert first.status_code == 201
    second = await client.post(
        url, headers=admin.headers, json={"email": "b@example.com", "full_name": "B"}
    )
    assert second.status_code == 403
    problem = second.json()
    assert problem["code"] == "plan_limit_reached"
    assert (problem["resource"], problem["limit"], problem["current"]) == ("users", 2, 2)
    listed = (await client.get(url, headers=admin.headers)).json()["data"]
    assert len(listed) == 2


async def test_expired_trial_blocks_writes_not_reads(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app, plan=Plan.starter, trial_ends_at=utcnow() - timedelta(hours=1))
    admin = await sign_in(client, await make_user(app, tenant))
    url = f"/api/admin/{tenant.id}"
    assert (await client.get(url, headers=admin.headers)).status_code == 200
    blocked = await client.patch(url, headers=admin.headers, json={"name": "New"})
    assert blocked.status_code == 402
    assert blocked.json()["code"] == "trial_expired"
    invite = await client.post(
        f"{url}/users", headers=admin.headers, json={"email": "c@example.com", "full_name": "C"}
    )
    assert invite.status_code == 402
    # Signing out still works with an expired trial.
    assert (await client.post("/api/auth/logout", headers=admin.headers)).status_code == 204


async def test_active_trial_allows_writes(app: FastAPI, client: httpx.AsyncClient) -> None:
    tenant = await make_tenant(app, plan=Plan.starter, trial_ends_at=utcnow() + timedelta(days=3))
    admin = await sign_in(client, await make_user(app, tenant))
    response = await client.patch(
        f"/api/admin/{tenant.id}", headers=admin.headers, json={"name": "New"}
    )
    assert response.status_code == 200
