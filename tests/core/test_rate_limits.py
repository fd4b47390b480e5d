"""Rate limits per user, per IP and per login email, with RateLimit headers, shared through Redis."""

from __future__ import annotations

from collections.abc import Callable

import redis.asyncio as aioredis
from fastapi import FastAPI

from tests.conftest import TEST_REDIS_URL, client_for
from tests.factories import make_tenant, make_user, sign_in


async def test_user_limit_headers_and_429(
    app_factory: Callable[..., FastAPI], redis_client: aioredis.Redis
) -> None:
    app = app_factory(rate_limit_enabled=True, rate_limit_user="3/minute", redis_url=TEST_REDIS_URL)
    async with client_for(app) as http:
        account = await sign_in(http, await make_user(app, await make_tenant(app)))
        first = await http.get("/api/auth/me", headers=account.headers)
        assert first.status_code == 200
        assert first.headers["ratelimit-limit"] == "3"
        assert first.headers["ratelimit-remaining"] == "2"
        assert first.headers["ratelimit-policy"] == '"user";q=3;w=60'
        assert first.headers["ratelimit"].startswith('"user";r=2;t=')
        await http.get("/api/auth/me", headers=account.headers)
        await http.get("/api/auth/me", headers=account.headers)
        limited = await http.get("/api/auth/me", headers=account.headers)
        assert limited.status_code == 429
        assert limited.json()["code"] == "rate_limited"
        assert int(limited.headers["retry-after"]) >= 1
        assert limited.headers["ratelimit-remaining"] == "0"


async def test_limit_is_shared_by_app_instances_through_redis(
    app_factory: Callable[..., FastAPI], redis_client: aioredis.Redis
) -> None:
    settings = {
        "rate_limit_enabled": True,
        "rate_limit_user": "4/minute",
        "redis_url": TEST_REDIS_URL,
    }
    first_app, second_app = app_factory(**settings), app_factory(**settings)
    async with client_for(first_app) as one, client_for(second_app) as two:
        account = await sign_in(one, await make_user(first_app, await make_tenant(first_app)))
        statuses = []
        for http in (one, two, one, two, one):
            statuses.append((await http.get("/api/auth/me", headers=account.headers)).status_code)
        assert statuses == [200, 200, 200, 200, 429]


async def test_login_attempts_are_limited_per_email(app_factory: Callable[..., FastAPI]) -> None:
    app = app_factory(
        rate_limit_enabled=True, rate_limit_login_email="3/minute", rate_limit_login_ip="100/minute"
    )
    async with client_for(app) as http:
        account = await make_user(app, await make_tenant(app))
        wrong = {"email": account.email, "password": "not-the-password"}
        for _ in range(3):
            assert (await http.post("/api/auth/login", json=wrong)).status_code == 401
        # Even the right password is refused once the email's window is spent.
        right = {"email": account.email, "password": account.password}
        blocked = await http.post("/api/auth/login", json=right)
        assert blocked.status_code == 429
        assert "retry-after" in blocked.headers
        other = await http.post("/api/auth/login", json={"email": "x@example.com", "password": "y"})
        assert other.status_code == 401


async def test_login_attempts_are_limited_per_ip(app_factory: Callable[..., FastAPI]) -> None:
    app = app_factory(rate_limit_enabled=True, rate_limit_login_ip="2/minute")
    async with client_for(app) as http:
        for index in range(2):
            response = await http.post(
                "/api/auth/login", json={"email": f"u{index}@example.com", "password": "p"}
            )
            assert response.status_code == 401
        blocked = await http.post(
            "/api/auth/login", json={"email": "u9@example.com", "password": "p"}
        )
        assert blocked.status_code == 429


async def test_anonymous_routes_are_limited_per_ip(app_factory: Callable[..., FastAPI]) -> None:
    app = app_factory(rate_limit_enabled=True, rate_limit_anonymous="2/minute")
    async with client_for(app) as http:
        for _ in range(2):
            assert (
                await http.post("/api/auth/refresh", json={"refresh_token": "art_rt_" + "z" * 40})
            ).status_code == 401
        limited = await http.post("/api/auth/refresh", json={"refresh_token": "art_rt_" + "z" * 40})
        assert limited.status_code == 429


async def test_limits_fail_open_when_redis_is_unreachable(
    app_factory: Callable[..., FastAPI],
) -> None:
    app = app_factory(
        rate_limit_enabled=True, rate_limit_user="1/minute", redis_url="redis://127.0.0.1:1/0"
    )
    async with client_for(app) as http:
        account = await sign_in(http, await make_user(app, await make_tenant(app)))
        for _ in range(3):
            assert (await http.get("/api/auth/me", headers=account.headers)).status_code == 200
