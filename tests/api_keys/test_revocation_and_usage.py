"""Revocation across processes sharing Redis, buffered usage, and secrets kept out of logs."""

from __future__ import annotations

import asyncio
import io
import logging
import time
from collections.abc import Callable

import redis.asyncio as aioredis
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from artisan.api_keys import keys
from artisan.api_keys.usage import USAGE_HASH, flush_usage
from tests.api_keys.helpers import captured_statements, issue_key, keys_path
from tests.conftest import TEST_REDIS_URL, client_for
from tests.factories import bearer, make_tenant, make_user, sign_in, signed_in_user


async def _wait_until_listening(app: FastAPI) -> None:
    deadline = time.monotonic() + 5
    while not app.state.api_keys.cache.listening:
        assert time.monotonic() < deadline, "the invalidation listener never subscribed"
        await asyncio.sleep(0.02)


async def test_revocation_reaches_another_process_within_a_second(
    app_factory: Callable[..., FastAPI], redis_client: aioredis.Redis
) -> None:
    # Two API processes: the same database and Redis, separate memory.
    first = app_factory(redis_url=TEST_REDIS_URL, api_key_cache_ttl_seconds=300)
    second = app_factory(redis_url=TEST_REDIS_URL, api_key_cache_ttl_seconds=300)
    async with client_for(first) as one, client_for(second) as two:
        admin = await signed_in_user(first, one)
        created = await issue_key(one, admin)
        headers = bearer(created["secret"])
        assert (await two.get("/api/api-keys/current", headers=headers)).status_code == 200
        await _wait_until_listening(second)
        assert (await two.get("/api/api-keys/current", headers=headers)).status_code == 200
        assert len(second.state.api_keys.cache) == 1
        # Served from memory from now on: the second process reads no key row.
        with captured_statements(second) as statements:
            assert (await two.get("/api/api-keys/current", headers=headers)).status_code == 200
        assert not any("api_keys" in s for s in statements)

        revoked = await one.delete(
            f"{keys_path(admin.tenant_id)}/{created['id']}", headers=admin.headers
        )
        assert revoked.status_code == 204
        started = time.monotonic()
        while True:
            response = await two.get("/api/api-keys/current", headers=headers)
            if response.status_code == 401:
                break
            assert time.monotonic() - started < 1.0, "revocation took longer than a second"
            await asyncio.sleep(0.01)
        assert len(second.state.api_keys.cache) == 0


async def test_roll_reaches_another_process(
    app_factory: Callable[..., FastAPI], redis_client: aioredis.Redis
) -> None:
    first = app_factory(redis_url=TEST_REDIS_URL, api_key_cache_ttl_seconds=300)
    second = app_factory(redis_url=TEST_REDIS_URL, api_key_cache_ttl_seconds=300)
    async with client_for(first) as one, client_for(second) as two:
        admin = await signed_in_user(first, one)
        created = await issue_key(one, admin)
        headers = bearer(created["secret"])
        await two.get("/api/api-keys/current", headers=headers)
        await _wait_until_listening(second)
        assert (await two.get("/api/api-keys/current", headers=headers)).status_code == 200
        assert len(second.state.api_keys.cache) == 1
        await one.post(
            f"{keys_path(admin.tenant_id)}/{created['id']}/roll",
            json={"grace_period_seconds": 0},
            headers=admin.headers,
        )
        started = time.monotonic()
        while (await two.get("/api/api-keys/current", headers=headers)).status_code != 401:
            assert time.monotonic() - started < 1.0
            await asyncio.sleep(0.01)


async def test_usage_is_buffered_then_flushed(app: FastAPI, admin_engine: AsyncEngine) -> None:
    async with client_for(app) as client:
        admin = await signed_in_user(app, client)
        created = await issue_key(client, admin)
        headers = bearer(created["secret"])
        with captured_statements(app) as statements:
            for ip in ("192.0.2.1", "192.0.2.2", "2001:db8::7"):
                response = await client.get(
                    "/api/api-keys/current", headers={**headers, "X-Forwarded-For": ip}
                )
                assert response.status_code == 200
        assert not any(s.lstrip().upper().startswith("UPDATE") for s in statements)
        path = f"{keys_path(admin.tenant_id)}/{created['id']}"
        before = (await client.get(path, headers=admin.headers)).json()
        assert before["request_count"] == 0
        assert before["last_used_at"] is None

        assert await app.state.api_keys.flush() == 1
        after = (await client.get(path, headers=admin.headers)).json()
        assert after["request_count"] == 3
        assert after["last_used_ip"] == "2001:db8::7"
        assert after["last_used_at"] is not None
        # Nothing new: nothing written.
        assert await app.state.api_keys.flush() == 0
        await client.get("/api/api-keys/current", headers=headers)
        await app.state.api_keys.flush()
        assert (await client.get(path, headers=admin.headers)).json()["request_count"] == 4


async def test_usage_staged_in_redis_is_flushed_by_a_scheduled_call(
    app_factory: Callable[..., FastAPI], redis_client: aioredis.Redis, admin_engine: AsyncEngine
) -> None:
    first = app_factory(redis_url=TEST_REDIS_URL, api_key_usage_flush_in_app=False)
    second = app_factory(redis_url=TEST_REDIS_URL, api_key_usage_flush_in_app=False)
    async with client_for(first) as one, client_for(second) as two:
        admin = await signed_in_user(first, one)
        created = await issue_key(one, admin)
        headers = bearer(created["secret"])
        for client in (one, two, two):
            assert (await client.get("/api/api-keys/current", headers=headers)).status_code == 200
        assert await first.state.api_keys.flush() == 0
        assert await second.state.api_keys.flush() == 0
        assert await redis_client.exists(USAGE_HASH)
        async with admin_engine.connect() as conn:
            count = (await conn.execute(text("SELECT request_count FROM api_keys"))).scalar_one()
        assert count == 0
        # What a scheduled job does: drain Redis into the database.
        assert await flush_usage(first.state.database, redis=first.state.redis) == 1
        assert not await redis_client.exists(USAGE_HASH)
        async with admin_engine.connect() as conn:
            row = (
                await conn.execute(text("SELECT request_count, last_used_at FROM api_keys"))
            ).one()
        assert row.request_count == 3
        assert row.last_used_at is not None


async def test_raw_keys_never_reach_logs_or_audit(
    app_factory: Callable[..., FastAPI], admin_engine: AsyncEngine
) -> None:
    app = app_factory(log_level="DEBUG")
    root = logging.getLogger()
    sink = io.StringIO()
    handler = logging.StreamHandler(sink)
    handler.setFormatter(root.handlers[0].formatter)
    root.addHandler(handler)
    try:
        async with client_for(app) as client:
            admin = await signed_in_user(app, client)
            created = await issue_key(client, admin, allowed_ips=["203.0.113.0/24"])
            path = f"{keys_path(admin.tenant_id)}/{created['id']}"
            rolled = (
                await client.post(
                    f"{path}/roll", json={"grace_period_seconds": 60}, headers=admin.headers
                )
            ).json()
            secrets = [created["secret"], rolled["secret"]]
            damaged = secrets[0][:-1] + ("x" if secrets[0][-1] != "x" else "y")
            forged = keys.generate(keys.derive_hmac_secret("other secret 0123456789abcdef")).secret
            for candidate in (*secrets, damaged, forged):
                for headers in (bearer(candidate), {"X-API-Key": candidate}):
                    await client.get("/api/api-keys/current", headers=headers)
                    await client.get(
                        "/api/api-keys/current",
                        headers={**headers, "X-Forwarded-For": "203.0.113.5"},
                    )
            await client.get(path, headers=admin.headers)
            await client.delete(path, headers=admin.headers)
            await client.get("/api/api-keys/current", headers=bearer(secrets[1]))
    finally:
        root.removeHandler(handler)
    logged = sink.getvalue()
    assert "api_key_refused" in logged
    assert "ip_not_allowed" in logged
    assert "revoked" in logged
    async with admin_engine.connect() as conn:
        audit = "\n".join(
            str(tuple(r)) for r in (await conn.execute(text("SELECT * FROM audit_log"))).all()
        )
    assert "api_key.authentication_failed" in audit
    for candidate in (*secrets, damaged, forged):
        assert candidate not in logged
        assert candidate[7:-6] not in logged
        assert candidate not in audit


async def test_a_process_that_loses_the_channel_stops_trusting_its_cache(
    app_factory: Callable[..., FastAPI], redis_client: aioredis.Redis
) -> None:
    app = app_factory(redis_url=TEST_REDIS_URL, api_key_cache_ttl_seconds=300)
    async with client_for(app) as client:
        admin = await signed_in_user(app, client)
        created = await issue_key(client, admin)
        headers = bearer(created["secret"])
        await client.get("/api/api-keys/current", headers=headers)
        await _wait_until_listening(app)
        await client.get("/api/api-keys/current", headers=headers)
        assert len(app.state.api_keys.cache) == 1
        # Drop every subscriber connection, as a Redis restart or network cut would.
        await redis_client.client_kill_filter(_type="pubsub")
        deadline = time.monotonic() + 2
        while app.state.api_keys.cache.listening:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
        assert len(app.state.api_keys.cache) == 0
        with captured_statements(app) as statements:
            assert (await client.get("/api/api-keys/current", headers=headers)).status_code == 200
        assert any("api_key_tenant" in s for s in statements)
        # It resubscribes on its own and caches again.
        await _wait_until_listening(app)
        await client.get("/api/api-keys/current", headers=headers)
        assert len(app.state.api_keys.cache) == 1


async def test_cached_keys_live_no_longer_than_the_ttl(
    app_factory: Callable[..., FastAPI], admin_engine: AsyncEngine
) -> None:
    app = app_factory(api_key_cache_ttl_seconds=1.5)
    async with client_for(app) as client:
        admin = await signed_in_user(app, client)
        created = await issue_key(client, admin)
        headers = bearer(created["secret"])
        assert (await client.get("/api/api-keys/current", headers=headers)).status_code == 200
        # A change no process was told about (written straight to the database).
        async with admin_engine.begin() as conn:
            await conn.execute(text("UPDATE api_keys SET revoked_at = now()"))
        assert (await client.get("/api/api-keys/current", headers=headers)).status_code == 200
        await asyncio.sleep(1.6)
        response = await client.get("/api/api-keys/current", headers=headers)
        assert response.status_code == 401


async def test_creator_role_change_reaches_cached_keys_at_once(
    app_factory: Callable[..., FastAPI], redis_client: aioredis.Redis
) -> None:
    app = app_factory(redis_url=TEST_REDIS_URL, api_key_cache_ttl_seconds=300)
    async with client_for(app) as client:
        tenant = await make_tenant(app)
        creator = await sign_in(client, await make_user(app, tenant))
        other_admin = await sign_in(client, await make_user(app, tenant))
        created = await issue_key(client, creator, scopes=["webhooks:read", "webhooks:write"])
        headers = bearer(created["secret"])
        webhooks = f"/api/admin/{creator.tenant_id}/webhooks"
        assert (await client.get(webhooks, headers=headers)).status_code == 200
        await _wait_until_listening(app)
        # Served from this process's cache from now on.
        assert (await client.get(webhooks, headers=headers)).status_code == 200
        assert len(app.state.api_keys.cache) == 1
        demoted = await client.patch(
            f"/api/admin/{creator.tenant_id}/users/{creator.user_id}",
            headers=other_admin.headers,
            json={"role": "manager"},
        )
        assert demoted.status_code == 200, demoted.text
        # webhooks:read stays within a manager's role; the admin-only write scope is gone.
        refused = await client.post(
            webhooks, headers=headers, json={"url": "https://hooks.example.com/x"}
        )
        assert refused.status_code == 403
        assert refused.json()["required_scope"] == "webhooks:write"
        assert (await client.get(webhooks, headers=headers)).status_code == 200
