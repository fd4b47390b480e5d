"""Authenticating with keys: headers, scopes, checksum, expiry, allowlists, roll, tenant status."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from artisan.api_keys import keys
from artisan.models.user import Role
from tests.api_keys.helpers import (
    ALL_SCOPES,
    captured_statements,
    issue_key,
    keys_path,
    mount_probes,
    scoped_routes,
)
from tests.conftest import client_for
from tests.factories import bearer, make_tenant, signed_in_user

GENERIC = "Invalid or missing credentials"


def _probe_app(app_factory: Callable[..., FastAPI], **overrides: object) -> FastAPI:
    app = app_factory(**overrides)
    mount_probes(app)
    return app


def _mutate(secret: str) -> str:
    body = secret[:-7] + ("A" if secret[-7] != "A" else "B") + secret[-6:]
    return body


async def _refused(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    body = response.json()
    assert body["detail"] == GENERIC
    assert body["code"] == "unauthorized"
    assert response.headers["content-type"] == "application/problem+json"


async def _audit_codes(admin_engine: AsyncEngine) -> list[str]:
    async with admin_engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT metadata->>'code' FROM audit_log "
                "WHERE action = 'api_key.authentication_failed' ORDER BY id"
            )
        )
        return [r[0] for r in rows]


async def test_key_accepted_in_either_header_on_scoped_routes(
    app_factory: Callable[..., FastAPI],
) -> None:
    app = _probe_app(app_factory)
    async with client_for(app) as client:
        admin = await signed_in_user(app, client)
        created = await issue_key(client, admin, scopes=["leads:read", "audit:read"])
        for headers in (bearer(created["secret"]), {"X-API-Key": created["secret"]}):
            leads = await client.get("/api/probe/leads", headers=headers)
            assert leads.status_code == 200, leads.text
            assert leads.json() == {"kind": "api_key", "tenant_id": str(admin.tenant_id)}
            audit = await client.get(f"/api/probe/{admin.tenant_id}/audit", headers=headers)
            assert audit.status_code == 200, audit.text
        me = await client.get("/api/api-keys/current", headers=bearer(created["secret"]))
        assert me.json() == {
            "id": created["id"],
            "tenant_id": str(admin.tenant_id),
            "name": "integration",
            "scopes": ["audit:read", "leads:read"],
        }
        # Users keep working on scoped routes with their role's scopes.
        user = await signed_in_user(app, client, role=Role.user)
        assert (await client.get("/api/probe/leads", headers=user.headers)).status_code == 200
        forbidden = await client.get(f"/api/probe/{user.tenant_id}/audit", headers=user.headers)
        assert forbidden.status_code == 403
        assert forbidden.json()["required_scope"] == "audit:read"
        assert (await client.get("/api/api-keys/current", headers=user.headers)).status_code == 404


async def test_routes_without_a_scope_refuse_keys(app: FastAPI, client: httpx.AsyncClient) -> None:
    admin = await signed_in_user(app, client)
    created = await issue_key(client, admin, scopes=ALL_SCOPES)
    for path in (
        "/api/auth/me",
        f"/api/admin/{admin.tenant_id}",
        f"/api/admin/{admin.tenant_id}/users",
    ):
        response = await client.get(path, headers=bearer(created["secret"]))
        assert response.status_code == 401, path


async def test_every_scoped_route_enforces_its_scope(
    app_factory: Callable[..., FastAPI],
) -> None:
    app = _probe_app(app_factory)
    routes = scoped_routes(app)
    assert {(m, p, s) for m, p, s in routes} >= {
        ("GET", "/api/probe/leads", "leads:read"),
        ("GET", "/api/probe/{tenant_id}/audit", "audit:read"),
    }
    async with client_for(app) as client:
        # Two keys per scoped route: lift the plan's key limit for this walk.
        tenant = await make_tenant(app, limit_overrides={"api_keys": 10_000})
        admin = await signed_in_user(app, client, tenant=tenant)
        for method, template, scope in routes:
            without = await issue_key(
                client, admin, name=f"without {scope}", scopes=[s for s in ALL_SCOPES if s != scope]
            )
            only = await issue_key(client, admin, name=f"only {scope}", scopes=[scope])
            path = template.replace("{tenant_id}", str(admin.tenant_id))
            while "{" in path:
                start, end = path.index("{"), path.index("}")
                path = path[:start] + str(uuid.uuid4()) + path[end + 1 :]
            denied = await client.request(method, path, headers=bearer(without["secret"]))
            assert denied.status_code == 403, (method, template, denied.text)
            assert denied.json()["required_scope"] == scope
            assert scope in denied.json()["detail"]
            allowed = await client.request(method, path, headers=bearer(only["secret"]))
            assert allowed.status_code not in (401, 403), (method, template, allowed.text)


async def test_checksum_rejection_needs_no_database_query(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    admin = await signed_in_user(app, client)
    created = await issue_key(client, admin)
    damaged = _mutate(created["secret"])
    assert not keys.well_formed(damaged)
    with captured_statements(app) as statements:
        for candidate in (damaged, created["secret"][:-1], "art_sk_short", "art_whatever"):
            await _refused(await client.get("/api/api-keys/current", headers=bearer(candidate)))
        await _refused(await client.get("/api/api-keys/current", headers={"X-API-Key": damaged}))
    assert statements == []
    # A well-formed key that does not exist does reach the database, with the same answer.
    forged = keys.generate(keys.derive_hmac_secret("not the server secret 0123456789")).secret
    with captured_statements(app) as statements:
        await _refused(await client.get("/api/api-keys/current", headers=bearer(forged)))
    assert any("api_key_tenant" in s for s in statements)


async def test_expired_key_is_refused(
    app: FastAPI, client: httpx.AsyncClient, admin_engine: AsyncEngine
) -> None:
    admin = await signed_in_user(app, client)
    expires = datetime.now(UTC) + timedelta(seconds=1.5)
    created = await issue_key(client, admin, expires_at=expires.isoformat())
    assert (
        await client.get("/api/api-keys/current", headers=bearer(created["secret"]))
    ).status_code == 200
    await asyncio.sleep(max(0.0, (expires - datetime.now(UTC)).total_seconds()) + 0.1)
    await _refused(await client.get("/api/api-keys/current", headers=bearer(created["secret"])))
    fetched = await client.get(
        f"{keys_path(admin.tenant_id)}/{created['id']}", headers=admin.headers
    )
    assert fetched.json()["status"] == "expired"
    assert await _audit_codes(admin_engine) == ["expired"]


async def test_ip_allowlist_ipv4_and_ipv6(
    app: FastAPI, client: httpx.AsyncClient, admin_engine: AsyncEngine
) -> None:
    admin = await signed_in_user(app, client)
    created = await issue_key(client, admin, allowed_ips=["203.0.113.0/24", "2001:db8:abcd::/48"])
    headers = bearer(created["secret"])

    async def from_ip(ip: str) -> httpx.Response:
        # The test client's peer is a trusted proxy, so X-Forwarded-For names the client.
        return await client.get("/api/api-keys/current", headers={**headers, "X-Forwarded-For": ip})

    for inside in ("203.0.113.9", "2001:db8:abcd:12::1", "::ffff:203.0.113.77"):
        assert (await from_ip(inside)).status_code == 200, inside
    for outside in ("203.0.114.9", "198.51.100.1", "2001:db8:abce::1", "::1"):
        await _refused(await from_ip(outside))
    assert await _audit_codes(admin_engine) == ["ip_not_allowed"] * 4
    # Changing the allowlist takes effect at once, cached key or not.
    await client.patch(
        f"{keys_path(admin.tenant_id)}/{created['id']}",
        json={"allowed_ips": ["198.51.100.0/24"]},
        headers=admin.headers,
    )
    await _refused(await from_ip("203.0.113.9"))
    assert (await from_ip("198.51.100.1")).status_code == 200
    await client.patch(
        f"{keys_path(admin.tenant_id)}/{created['id']}",
        json={"allowed_ips": []},
        headers=admin.headers,
    )
    assert (await from_ip("192.0.2.1")).status_code == 200


async def test_roll_grace_period(
    app: FastAPI, client: httpx.AsyncClient, admin_engine: AsyncEngine
) -> None:
    admin = await signed_in_user(app, client)
    created = await issue_key(client, admin)
    old = bearer(created["secret"])
    assert (await client.get("/api/api-keys/current", headers=old)).status_code == 200
    path = f"{keys_path(admin.tenant_id)}/{created['id']}/roll"
    rolled = await client.post(path, json={"grace_period_seconds": 2}, headers=admin.headers)
    new = bearer(rolled.json()["secret"])
    grace_end = datetime.fromisoformat(rolled.json()["previous_secret_expires_at"])
    for headers in (old, new):
        response = await client.get("/api/api-keys/current", headers=headers)
        assert response.status_code == 200
        assert response.json()["id"] == created["id"]
    await asyncio.sleep(max(0.0, (grace_end - datetime.now(UTC)).total_seconds()) + 0.1)
    await _refused(await client.get("/api/api-keys/current", headers=old))
    assert (await client.get("/api/api-keys/current", headers=new)).status_code == 200
    assert await _audit_codes(admin_engine) == ["rolled"]
    # Without a grace period the replaced secret stops at once, even where it was cached.
    again = await client.post(path, json={"grace_period_seconds": 0}, headers=admin.headers)
    await _refused(await client.get("/api/api-keys/current", headers=new))
    newest = bearer(again.json()["secret"])
    assert (await client.get("/api/api-keys/current", headers=newest)).status_code == 200


async def test_revoked_key_is_refused_at_once(
    app: FastAPI, client: httpx.AsyncClient, admin_engine: AsyncEngine
) -> None:
    admin = await signed_in_user(app, client)
    created = await issue_key(client, admin)
    headers = bearer(created["secret"])
    assert (await client.get("/api/api-keys/current", headers=headers)).status_code == 200
    assert len(app.state.api_keys.cache) == 1
    await client.delete(f"{keys_path(admin.tenant_id)}/{created['id']}", headers=admin.headers)
    await _refused(await client.get("/api/api-keys/current", headers=headers))
    assert await _audit_codes(admin_engine) == ["revoked"]


async def test_suspended_or_deleted_tenant_keys_stop_at_once(
    app: FastAPI, client: httpx.AsyncClient, admin_engine: AsyncEngine
) -> None:
    admin = await signed_in_user(app, client)
    created = await issue_key(client, admin)
    headers = bearer(created["secret"])
    assert (await client.get("/api/api-keys/current", headers=headers)).status_code == 200
    assert len(app.state.api_keys.cache) == 1
    for change, undo in (
        ("status = 'suspended'", "status = 'active'"),
        ("deleted_at = now()", "deleted_at = NULL"),
    ):
        async with admin_engine.begin() as conn:
            await conn.execute(
                text(f"UPDATE tenants SET {change} WHERE id = :id"), {"id": admin.tenant_id}
            )
        await _refused(await client.get("/api/api-keys/current", headers=headers))
        async with admin_engine.begin() as conn:
            await conn.execute(
                text(f"UPDATE tenants SET {undo} WHERE id = :id"), {"id": admin.tenant_id}
            )
        assert (await client.get("/api/api-keys/current", headers=headers)).status_code == 200
    assert await _audit_codes(admin_engine) == ["tenant_inactive", "tenant_inactive"]


async def test_cross_tenant_key_use_is_refused(app_factory: Callable[..., FastAPI]) -> None:
    app = _probe_app(app_factory)
    async with client_for(app) as client:
        owner = await signed_in_user(app, client)
        other = await signed_in_user(app, client)
        created = await issue_key(client, owner, scopes=ALL_SCOPES)
        headers = bearer(created["secret"])
        response = await client.get(f"/api/probe/{other.tenant_id}/audit", headers=headers)
        assert response.status_code == 404
        assert (
            await client.get(f"/api/probe/{owner.tenant_id}/audit", headers=headers)
        ).status_code == 200
        # Row-level security keeps the key's transaction inside its tenant.
        assert (await client.get("/api/probe/leads", headers=headers)).json()["tenant_id"] == str(
            owner.tenant_id
        )


async def test_unknown_revoked_and_malformed_answer_alike(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    admin = await signed_in_user(app, client)
    revoked = await issue_key(client, admin)
    await client.delete(f"{keys_path(admin.tenant_id)}/{revoked['id']}", headers=admin.headers)
    forged = keys.generate(keys.derive_hmac_secret("someone else's secret 0123456789")).secret
    bodies = []
    for candidate in (revoked["secret"], forged, _mutate(forged), "art_sk_"):
        response = await client.get("/api/api-keys/current", headers=bearer(candidate))
        await _refused(response)
        body = response.json()
        bodies.append({k: v for k, v in body.items() if k != "request_id"})
        assert candidate not in response.text
    assert all(b == bodies[0] for b in bodies)


async def test_failed_authentications_are_rate_limited_per_ip(
    app_factory: Callable[..., FastAPI],
) -> None:
    app = app_factory(rate_limit_enabled=True, rate_limit_api_key_failures="3/minute")
    async with client_for(app) as client:
        admin = await signed_in_user(app, client)
        created = await issue_key(client, admin)
        attacker = {"X-Forwarded-For": "198.51.100.66"}
        forged = keys.generate(keys.derive_hmac_secret("guessing 0123456789abcdefghij")).secret
        for _ in range(3):
            await _refused(
                await client.get("/api/api-keys/current", headers={**attacker, **bearer(forged)})
            )
        blocked = await client.get("/api/api-keys/current", headers={**attacker, **bearer(forged)})
        assert blocked.status_code == 429
        assert int(blocked.headers["retry-after"]) >= 1
        # Even a real key needs a lookup from the blocked address, so it is turned away too.
        with captured_statements(app) as statements:
            real = await client.get(
                "/api/api-keys/current", headers={**attacker, **bearer(created["secret"])}
            )
        assert real.status_code == 429
        assert statements == []
        elsewhere = await client.get(
            "/api/api-keys/current",
            headers={"X-Forwarded-For": "192.0.2.10", **bearer(created["secret"])},
        )
        assert elsewhere.status_code == 200


async def test_per_key_rate_limit_uses_the_shared_limiter_headers(
    app_factory: Callable[..., FastAPI],
) -> None:
    app = app_factory(rate_limit_enabled=True)
    async with client_for(app) as client:
        admin = await signed_in_user(app, client)
        limited = await issue_key(client, admin, rate_limit_per_minute=2)
        headers = bearer(limited["secret"])
        first = await client.get("/api/api-keys/current", headers=headers)
        assert first.status_code == 200
        assert first.headers["ratelimit-limit"] == "2"
        assert first.headers["ratelimit-remaining"] == "1"
        assert "ratelimit-policy" in first.headers
        assert (await client.get("/api/api-keys/current", headers=headers)).status_code == 200
        third = await client.get("/api/api-keys/current", headers=headers)
        assert third.status_code == 429
        assert "retry-after" in third.headers
        unlimited = await issue_key(client, admin, name="unlimited")
        for _ in range(3):
            response = await client.get(
                "/api/api-keys/current", headers=bearer(unlimited["secret"])
            )
            assert response.status_code == 200


async def test_a_demoted_creator_s_keys_shrink_to_the_new_role(
    app_factory: Callable[..., FastAPI],
) -> None:
    app = _probe_app(app_factory, api_key_cache_ttl_seconds=0)
    async with client_for(app) as client:
        tenant = await make_tenant(app)
        creator = await signed_in_user(app, client, tenant=tenant)
        other_admin = await signed_in_user(app, client, tenant=tenant)
        created = await issue_key(client, creator, scopes=["audit:read", "leads:read"])
        assert created["effective_scopes"] == ["audit:read", "leads:read"]
        headers = bearer(created["secret"])
        audit_path = f"/api/probe/{tenant.id}/audit"
        assert (await client.get(audit_path, headers=headers)).status_code == 200
        demoted = await client.patch(
            f"/api/admin/{tenant.id}/users/{creator.user_id}",
            json={"role": "user"},
            headers=other_admin.headers,
        )
        assert demoted.status_code == 200, demoted.text
        refused = await client.get(audit_path, headers=headers)
        assert refused.status_code == 403
        assert refused.json()["required_scope"] == "audit:read"
        assert (await client.get("/api/probe/leads", headers=headers)).status_code == 200
        # The admin views say so: issued with both, effective with what the creator holds now.
        key_url = f"/api/admin/{tenant.id}/api-keys/{created['id']}"
        shown = (await client.get(key_url, headers=other_admin.headers)).json()
        assert shown["scopes"] == ["audit:read", "leads:read"]
        assert shown["effective_scopes"] == ["leads:read"]
        listed = await client.get(f"/api/admin/{tenant.id}/api-keys", headers=other_admin.headers)
        assert [k["effective_scopes"] for k in listed.json()["data"]] == [["leads:read"]]


async def test_an_ended_trial_keeps_key_reads_and_blocks_key_writes(
    app_factory: Callable[..., FastAPI], admin_engine: AsyncEngine
) -> None:
    app = _probe_app(app_factory)
    async with client_for(app) as client:
        admin = await signed_in_user(app, client)
        created = await issue_key(client, admin, scopes=["leads:read", "leads:write"])
        headers = bearer(created["secret"])
        assert (await client.post("/api/probe/leads", headers=headers)).status_code == 200
        async with admin_engine.begin() as conn:
            await conn.execute(
                text("UPDATE tenants SET trial_ends_at = now() - interval '1 day' WHERE id = :id"),
                {"id": admin.tenant_id},
            )
        assert (await client.get("/api/probe/leads", headers=headers)).status_code == 200
        blocked = await client.post("/api/probe/leads", headers=headers)
        assert blocked.status_code == 402
        assert blocked.json()["code"] == "trial_expired"
