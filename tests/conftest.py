"""Shared fixtures: a real PostgreSQL built by `alembic upgrade head`, real Redis, the real app."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from artisan.app import create_app
from artisan.bootstrap import migrate
from artisan.config import Settings
from artisan.models import Base

# Each checkout may point at its own database and Redis db (parallel work on one machine).
TEST_DATABASE_URL = os.environ.get(
    "TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/artisan_test"
)
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _async_url(url: str) -> str:
    return Settings(database_url=url).database_url or url


async def recreate_database(url: str, *, drop_only: bool = False) -> None:
    """Drop the database of `url` and (unless `drop_only`) create it again, empty."""
    target = make_url(url)
    admin = create_async_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
            if not drop_only:
                await conn.execute(text(f'CREATE DATABASE "{target.database}"'))
    finally:
        await admin.dispose()


@pytest.fixture(scope="session")
async def database_url() -> str:
    """A fresh test database with the schema built by the migrations."""
    url = _async_url(TEST_DATABASE_URL)
    await recreate_database(url)
    migrate(Settings(database_url=url))
    return url


@pytest.fixture(scope="session")
async def admin_engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """A privileged connection for fixtures and cleanup (it bypasses row-level security)."""
    engine = create_async_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
async def redis_client() -> AsyncIterator[aioredis.Redis]:
    """The test Redis database, emptied after the test; a missing server fails the run."""
    client = aioredis.from_url(TEST_REDIS_URL)
    await client.ping()
    yield client
    await client.flushdb()
    await client.aclose()


async def truncate_all(engine: AsyncEngine) -> None:
    """Empty every table (triggers off for the purge, as the superuser)."""
    tables = ", ".join(t.name for t in reversed(Base.metadata.sorted_tables))
    async with engine.begin() as conn:
        await conn.execute(text("SET LOCAL session_replication_role = replica"))
        await conn.execute(text(f"TRUNCATE {tables} CASCADE"))


def make_settings(database_url: str, **overrides: Any) -> Settings:
    """Test settings: cheap password hashing, rate limits off unless a test turns them on."""
    values: dict[str, Any] = {
        "environment": "test",
        "database_url": database_url,
        "redis_url": None,
        "secret_key": "test-secret-key-that-is-long-enough-0123456789",
        "argon2_time_cost": 1,
        "argon2_memory_cost": 1024,
        "argon2_parallelism": 1,
        "rate_limit_enabled": False,
        "log_level": "WARNING",
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
async def app_factory(
    database_url: str, admin_engine: AsyncEngine
) -> AsyncIterator[Callable[..., FastAPI]]:
    """Build apps with setting overrides; after the test, apps close and tables are emptied."""
    apps: list[FastAPI] = []

    def factory(**overrides: Any) -> FastAPI:
        app = create_app(make_settings(overrides.pop("database_url", database_url), **overrides))
        apps.append(app)
        return app

    yield factory
    for app in apps:
        # Apps under test run without lifespan events; stop their background tasks here.
        await app.state.api_keys.aclose()
        app.state.auth_kit.passwords.close()
        await app.state.database.dispose()
        if app.state.redis is not None:
            await app.state.redis.aclose()
    await truncate_all(admin_engine)


@pytest.fixture
def app(app_factory: Callable[..., FastAPI]) -> FastAPI:
    """The application with test settings."""
    return app_factory()


def client_for(app: FastAPI, **kwargs: Any) -> httpx.AsyncClient:
    """An HTTP client speaking to the app in-process through its full ASGI stack."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test", **kwargs
    )


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the default test app."""
    async with client_for(app) as http:
        yield http
