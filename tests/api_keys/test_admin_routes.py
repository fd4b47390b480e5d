"""Managing keys: create shows the secret once, list/get/patch/revoke/roll, limits, bad input."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from artisan.auth.scopes import ROLE_SCOPES, SCOPES
from artisan.models.tenant import Plan
from artisan.models.user import Role
from tests.api_keys.helpers import ALL_SCOPES, issue_key, keys_path
from tests.factories import bearer, make_tenant, signed_in_user


async def test_create_returns_the_secret_once_and_never_again(
    app: FastAPI, client: httpx.AsyncClient, admin_engine: AsyncEngine
) -> None:
    admin = await signed_in_user(app, client)
    response = await client.post(
        keys_path(admin.tenant_id),
        json={
            "name": "CRM sync",
            "description": "Nightly import",
            "scopes": ["leads:write", "leads:read", "leads:read"],
            "allowed_ips": ["10.0.0.7/24", "2001:db8::/32"],
            "rate_limit_per_minute": 100,
        },
        headers=admin.headers,
    )
    assert response.status_code == 201, response.text
    assert response.headers["cache-control"] == "no-store"
    created = response.json()
    secret = created["secret"]
    assert secret.startswith("art_sk_")
    assert len(secret) == 45
    assert created["scopes"] == ["leads:read", "leads:write"]
    assert created["allowed_ips"] == ["10.0.0.0/24", "2001:db8::/32"]
    assert created["display_prefix"] == secret[:12]
    assert created["last_four"] == secret[-4:]
    assert created["redacted_key"] == f"{secret[:12]}...{secret[-4:]}"
    assert created["status"] == "active"
    assert created["created_by_id"] == str(admin.user_id)
    assert created["request_count"] == 0

    listed = await client.get(keys_path(admin.tenant_id), headers=admin.headers)
    fetched = await client.get(
        f"{keys_path(admin.tenant_id)}/{created['id']}", headers=admin.headers
    )
    patched = await client.patch(
        f"{keys_path(admin.tenant_id)}/{created['id']}",
        json={"name": "CRM sync 2"},
        headers=admin.headers,
    )
    for response in (listed, fetched, patched):
        assert response.status_code == 200, response.text
        assert secret not in response.text
        assert secret[12:-4] not in response.text
    assert [k["id"] for k in listed.json()["data"]] == [created["id"]]
    assert "secret" not in fetched.json()

    async with admin_engine.connect() as conn:
        stored = (await conn.execute(text("SELECT * FROM api_keys"))).mappings().one()
        audit = (
            await conn.execute(text("SELECT action, metadata::text AS m FROM audit_log"))
        ).all()
    assert secret not in str(dict(stored))
    assert stored["secret_hash"] != secret
    assert len(stored["secret_hash"]) == 64
    assert {a.action for a in audit} >= {"api_key.created", "api_key.updated"}
    assert all(secret not in a.m for a in audit)


async def test_scopes_route_lists_the_catalogue(app: FastAPI, client: httpx.AsyncClient) -> None:
    admin = await signed_in_user(app, client)
    response = await client.get(f"{keys_path(admin.tenant_id)}/scopes", headers=admin.headers)
    assert response.status_code == 200
    body = response.json()
    assert [s["scope"] for s in body] == list(SCOPES)
    assert all(s["description"] for s in body)
    assert set(SCOPES) == ROLE_SCOPES[Role.admin]


@pytest.mark.parametrize("role", [Role.manager, Role.user])
async def test_only_admins_manage_keys(app: FastAPI, client: httpx.AsyncClient, role: Role) -> None:
    member = await signed_in_user(app, client, role=role)
    base = keys_path(member.tenant_id)
    key_id = uuid.uuid4()
    calls = [
        ("GET", f"{base}/scopes", None),
        ("GET", base, None),
        ("POST", base, {"name": "x", "scopes": ["leads:read"]}),
        ("GET", f"{base}/{key_id}", None),
        ("PATCH", f"{base}/{key_id}", {"name": "y"}),
        ("DELETE", f"{base}/{key_id}", None),
        ("POST", f"{base}/{key_id}/roll", None),
    ]
    for method, path, body in calls:
        response = await client.request(method, path, json=body, headers=member.headers)
        assert response.status_code == 403, (method, path, response.text)
        assert response.json()["required_role"] == "admin"


async def test_a_key_cannot_manage_keys(app: FastAPI, client: httpx.AsyncClient) -> None:
    admin = await signed_in_user(app, client)
    created = await issue_key(client, admin, scopes=ALL_SCOPES)
    base = keys_path(admin.tenant_id)
    calls = [
        ("GET", f"{base}/scopes", None),
        ("GET", base, None),
        ("POST", base, {"name": "x", "scopes": ["leads:read"]}),
        ("GET", f"{base}/{created['id']}", None),
        ("PATCH", f"{base}/{created['id']}", {"name": "y"}),
        ("DELETE", f"{base}/{created['id']}", None),
        ("POST", f"{base}/{created['id']}/roll", None),
    ]
    for headers in (bearer(created["secret"]), {"X-API-Key": created["secret"]}):
        for method, path, body in calls:
            response = await client.request(method, path, json=body, headers=headers)
            assert response.status_code == 401, (method, path, response.text)
            assert response.json()["detail"] == "API keys are not accepted on this route"
    listed = await client.get(base, headers=admin.headers)
    assert len(listed.json()["data"]) == 1
    assert listed.json()["data"][0]["name"] == "integration"


async def test_cross_tenant_routes_answer_404(app: FastAPI, client: httpx.AsyncClient) -> None:
    owner = await signed_in_user(app, client)
    other = await signed_in_user(app, client)
    created = await issue_key(client, owner)
    key_id = created["id"]
    # Another tenant's admin, on the owner's path and on their own path with the owner's key id.
    for base in (keys_path(owner.tenant_id), keys_path(other.tenant_id)):
        calls = [
            ("GET", f"{base}/{key_id}", None),
            ("PATCH", f"{base}/{key_id}", {"name": "stolen"}),
            ("DELETE", f"{base}/{key_id}", None),
            ("POST", f"{base}/{key_id}/roll", {"grace_period_seconds": 0}),
        ]
        if base == keys_path(owner.tenant_id):
            calls += [
                ("GET", base, None),
                ("GET", f"{base}/scopes", None),
                ("POST", base, {"name": "x", "scopes": ["leads:read"]}),
            ]
        for method, path, body in calls:
            response = await client.request(method, path, json=body, headers=other.headers)
            assert response.status_code == 404, (method, path, response.text)
    own_list = await client.get(keys_path(other.tenant_id), headers=other.headers)
    assert own_list.json()["data"] == []
    fetched = await client.get(f"{keys_path(owner.tenant_id)}/{key_id}", headers=owner.headers)
    assert fetched.json()["name"] == "integration"
    assert fetched.json()["status"] == "active"
    probe = await client.get("/api/api-keys/current", headers=bearer(created["secret"]))
    assert probe.status_code == 200


async def test_patch_changes_allowed_fields_and_never_scopes(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    admin = await signed_in_user(app, client)
    created = await issue_key(client, admin, rate_limit_per_minute=10, allowed_ips=["10.1.0.0/16"])
    path = f"{keys_path(admin.tenant_id)}/{created['id']}"
    response = await client.patch(
        path,
        json={
            "name": "renamed",
            "description": "d",
            "allowed_ips": ["::1", "192.168.1.1"],
            "rate_limit_per_minute": None,
        },
        headers=admin.headers,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["name"] == "renamed"
    assert body["description"] == "d"
    assert body["allowed_ips"] == ["::1/128", "192.168.1.1/32"]
    assert body["rate_limit_per_minute"] is None
    refused = await client.patch(path, json={"scopes": ALL_SCOPES}, headers=admin.headers)
    assert refused.status_code == 422
    assert (await client.get(path, headers=admin.headers)).json()["scopes"] == ["leads:read"]


async def test_revoke_is_idempotent_and_hides_from_default_list(
    app: FastAPI, client: httpx.AsyncClient, admin_engine: AsyncEngine
) -> None:
    admin = await signed_in_user(app, client)
    created = await issue_key(client, admin)
    path = f"{keys_path(admin.tenant_id)}/{created['id']}"
    assert (await client.delete(path, headers=admin.headers)).status_code == 204
    assert (await client.delete(path, headers=admin.headers)).status_code == 204
    fetched = (await client.get(path, headers=admin.headers)).json()
    assert fetched["status"] == "revoked"
    assert fetched["revoked_at"] is not None
    listed = await client.get(keys_path(admin.tenant_id), headers=admin.headers)
    assert listed.json()["data"] == []
    with_revoked = await client.get(
        keys_path(admin.tenant_id), params={"include_revoked": "true"}, headers=admin.headers
    )
    assert [k["id"] for k in with_revoked.json()["data"]] == [created["id"]]
    for method, body in (("PATCH", {"name": "z"}), ("POST", None)):
        target = path if method == "PATCH" else f"{path}/roll"
        response = await client.request(method, target, json=body, headers=admin.headers)
        assert response.status_code == 409
        assert response.json()["code"] == "key_revoked"
    async with admin_engine.connect() as conn:
        revocations = (
            await conn.execute(
                text("SELECT count(*) FROM audit_log WHERE action = 'api_key.revoked'")
            )
        ).scalar_one()
    assert revocations == 1


async def test_roll_returns_a_new_secret_once(app: FastAPI, client: httpx.AsyncClient) -> None:
    admin = await signed_in_user(app, client)
    created = await issue_key(client, admin)
    path = f"{keys_path(admin.tenant_id)}/{created['id']}"
    rolled = await client.post(
        f"{path}/roll", json={"grace_period_seconds": 3600}, headers=admin.headers
    )
    assert rolled.status_code == 200, rolled.text
    assert rolled.headers["cache-control"] == "no-store"
    body = rolled.json()
    assert body["id"] == created["id"]
    assert body["secret"] != created["secret"]
    assert body["rolled_at"] is not None
    assert body["previous_secret_expires_at"] is not None
    fetched = await client.get(path, headers=admin.headers)
    assert body["secret"] not in fetched.text
    assert created["secret"] not in fetched.text
    # No body means no grace period.
    again = await client.post(f"{path}/roll", headers=admin.headers)
    assert again.status_code == 200
    assert again.json()["previous_secret_expires_at"] is None


async def test_plan_limit_counts_live_keys(app: FastAPI, client: httpx.AsyncClient) -> None:
    tenant = await make_tenant(app, plan=Plan.free)
    admin = await signed_in_user(app, client, tenant=tenant)
    first = await issue_key(client, admin)
    await issue_key(client, admin)
    refused = await client.post(
        keys_path(admin.tenant_id),
        json={"name": "third", "scopes": ["leads:read"]},
        headers=admin.headers,
    )
    assert refused.status_code == 403
    assert refused.json()["code"] == "plan_limit_reached"
    assert refused.json()["limit"] == 2
    usage = await client.get(f"/api/admin/{admin.tenant_id}/usage", headers=admin.headers)
    counts = {item["resource"]: item["current"] for item in usage.json()["items"]}
    assert counts["api_keys"] == 2
    await client.delete(f"{keys_path(admin.tenant_id)}/{first['id']}", headers=admin.headers)
    await issue_key(client, admin, name="third")


async def test_plan_limit_override_applies(app: FastAPI, client: httpx.AsyncClient) -> None:
    tenant = await make_tenant(app, plan=Plan.growth, limit_overrides={"api_keys": 1})
    admin = await signed_in_user(app, client, tenant=tenant)
    await issue_key(client, admin)
    refused = await client.post(
        keys_path(admin.tenant_id),
        json={"name": "x", "scopes": ["leads:read"]},
        headers=admin.headers,
    )
    assert refused.status_code == 403
    assert refused.json()["code"] == "plan_limit_reached"


def _future(seconds: int) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


BAD_CREATES: list[Any] = [
    {},
    {"name": "x"},
    {"name": "x", "scopes": []},
    {"name": "x", "scopes": ["leads:read", "leads:destroy"]},
    {"name": "x", "scopes": "leads:read"},
    {"name": "", "scopes": ["leads:read"]},
    {"name": "x" * 101, "scopes": ["leads:read"]},
    {"name": "x", "scopes": ["leads:read"], "description": "d" * 501},
    {"name": "x", "scopes": ["leads:read"], "allowed_ips": ["10.0.0.300"]},
    {"name": "x", "scopes": ["leads:read"], "allowed_ips": ["not-an-ip"]},
    {"name": "x", "scopes": ["leads:read"], "allowed_ips": ["10.0.0.0/33"]},
    {"name": "x", "scopes": ["leads:read"], "allowed_ips": [f"10.0.{i}.0/24" for i in range(101)]},
    {"name": "x", "scopes": ["leads:read"], "expires_at": "2030-01-01T00:00:00"},
    {"name": "x", "scopes": ["leads:read"], "expires_at": "2020-01-01T00:00:00Z"},
    {"name": "x", "scopes": ["leads:read"], "expires_at": "tomorrow"},
    {"name": "x", "scopes": ["leads:read"], "rate_limit_per_minute": 0},
    {"name": "x", "scopes": ["leads:read"], "rate_limit_per_minute": 10**9},
    {"name": "x", "scopes": ["leads:read"], "secret": "art_sk_chosen"},
    ["not", "an", "object"],
]


async def test_bad_input_on_create_changes_nothing(app: FastAPI, client: httpx.AsyncClient) -> None:
    admin = await signed_in_user(app, client)
    base = keys_path(admin.tenant_id)
    for body in BAD_CREATES:
        response = await client.post(base, json=body, headers=admin.headers)
        assert response.status_code == 422, (body, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    raw = await client.post(
        base, content=b"{not json", headers={**admin.headers, "Content-Type": "application/json"}
    )
    assert raw.status_code == 422
    unknown = await client.post(
        base, json={"name": "x", "scopes": ["leads:nope"]}, headers=admin.headers
    )
    assert "leads:nope" in unknown.text
    listed = await client.get(base, headers=admin.headers)
    assert listed.json()["data"] == []
    assert (
        await client.post(
            base,
            json={"name": "x", "scopes": ["leads:read"], "expires_at": _future(60)},
            headers=admin.headers,
        )
    ).status_code == 201


async def test_bad_input_on_every_other_endpoint(app: FastAPI, client: httpx.AsyncClient) -> None:
    admin = await signed_in_user(app, client)
    created = await issue_key(client, admin, allowed_ips=["10.0.0.0/8"])
    base = keys_path(admin.tenant_id)
    path = f"{base}/{created['id']}"
    cases: list[tuple[str, str, Any, int]] = [
        ("GET", "/api/admin/not-a-uuid/api-keys", None, 422),
        ("GET", "/api/admin/not-a-uuid/api-keys/scopes", None, 422),
        ("GET", f"{base}?limit=0", None, 422),
        ("GET", f"{base}?limit=201", None, 422),
        ("GET", f"{base}?cursor=%%%", None, 422),
        ("GET", f"{base}?include_revoked=perhaps", None, 422),
        ("GET", f"{base}/not-a-uuid", None, 422),
        ("GET", f"{base}/{uuid.uuid4()}", None, 404),
        ("PATCH", f"{base}/not-a-uuid", {"name": "x"}, 422),
        ("PATCH", f"{base}/{uuid.uuid4()}", {"name": "x"}, 404),
        ("PATCH", path, {"name": None}, 422),
        ("PATCH", path, {"name": ""}, 422),
        ("PATCH", path, {"allowed_ips": ["300.1.1.1"]}, 422),
        ("PATCH", path, {"rate_limit_per_minute": -1}, 422),
        ("PATCH", path, {"expires_at": _future(60)}, 422),
        ("PATCH", path, ["x"], 422),
        ("DELETE", f"{base}/not-a-uuid", None, 422),
        ("DELETE", f"{base}/{uuid.uuid4()}", None, 404),
        ("POST", f"{base}/not-a-uuid/roll", None, 422),
        ("POST", f"{base}/{uuid.uuid4()}/roll", None, 404),
        ("POST", f"{path}/roll", {"grace_period_seconds": -1}, 422),
        ("POST", f"{path}/roll", {"grace_period_seconds": 86401}, 422),
        ("POST", f"{path}/roll", {"grace_period_seconds": "soon"}, 422),
        ("POST", f"{path}/roll", {"grace": 10}, 422),
    ]
    for method, target, body, expected in cases:
        response = await client.request(method, target, json=body, headers=admin.headers)
        assert response.status_code == expected, (method, target, body, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    unchanged = (await client.get(path, headers=admin.headers)).json()
    assert unchanged["name"] == "integration"
    assert unchanged["allowed_ips"] == ["10.0.0.0/8"]
    assert unchanged["rolled_at"] is None
    assert unchanged["status"] == "active"
