"""The application factory: settings -> middleware -> routers -> error handlers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import redis.asyncio as aioredis
import structlog
from fastapi import FastAPI
from fastapi.middleware import Middleware
from fastapi.middleware.cors import CORSMiddleware

from artisan import __version__
from artisan.analytics.routes import router as analytics_router
from artisan.api_keys.routes import router as api_keys_router
from artisan.api_keys.routes import self_router as api_key_self_router
from artisan.api_keys.verifier import ApiKeyAuthenticator
from artisan.audit.recorder import install_audit
from artisan.audit.routes import router as audit_router
from artisan.auth.kit import AuthKit
from artisan.auth.passwords import Passwords
from artisan.auth.routes import router as auth_router
from artisan.auth.tokens import TokenService
from artisan.campaigns.routes import router as campaigns_router
from artisan.campaigns.scheduler import InProcessScheduler
from artisan.config import Settings, get_settings
from artisan.core.db import Database
from artisan.core.errors import document_problems, install_error_handlers
from artisan.core.heap import settle_heap
from artisan.core.logging import configure_logging
from artisan.core.middleware import (
    BodySizeLimitMiddleware,
    HTTPSRedirectMiddleware,
    RequestContextMiddleware,
    RetryTransientMiddleware,
)
from artisan.core.ratelimit import RateLimiter
from artisan.events.routes import router as events_router
from artisan.health.routes import router as health_router
from artisan.leads.routes import router as leads_router
from artisan.tenants.routes import admin_router as tenant_admin_router
from artisan.tenants.routes import platform_router
from artisan.users.routes import router as users_router
from artisan.webhooks.routes import router as webhooks_router
from artisan.webhooks.setup import setup_webhooks

log = structlog.get_logger(__name__)

DESCRIPTION = """
The Artisan Platform API: tenants, users and roles, API keys, webhooks, the audit trail,
campaigns and analytics, the AI assistant, LLM workflows and the compliance centre.

Every error is an RFC 9457 `application/problem+json` document with a stable `code`.
Lists are cursor-paginated: `?limit=&cursor=` in, `{data, next_cursor, has_more}` out.
"""

ROUTERS = (
    health_router,
    auth_router,
    tenant_admin_router,
    users_router,
    platform_router,
    api_keys_router,
    api_key_self_router,
    webhooks_router,
    audit_router,
    leads_router,
    campaigns_router,
    events_router,
    analytics_router,
)


def _init_sentry(settings: Settings) -> None:
    if not settings.sentry_dsn:
        return
    import sentry_sdk

    sentry_sdk.init(
        dsn=settings.sentry_dsn,
        environment=settings.sentry_environment or settings.environment,
        release=f"artisan-platform@{__version__}",
        send_default_pii=False,
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the ASGI application for the given settings (the environment's by default)."""
    settings = settings or get_settings()
    configure_logging(settings.log_level, json=settings.json_logs)
    _init_sentry(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settle_heap()
        app.state.api_keys.start()
        runner = app.state.webhook_runner
        scheduler = app.state.campaign_scheduler
        if runner is not None:
            runner.start()
        if scheduler is not None:
            scheduler.start()
        yield
        if scheduler is not None:
            await scheduler.stop()
        if runner is not None:
            await runner.stop()
        await app.state.api_keys.aclose()
        app.state.auth_kit.passwords.close()
        await app.state.database.dispose()
        if app.state.redis is not None:
            await app.state.redis.aclose()

    middleware = [
        Middleware(
            RequestContextMiddleware,
            hsts=settings.enable_https_redirect,
            trusted_proxies=settings.trusted_proxies,
        ),
    ]
    if settings.enable_https_redirect:
        middleware.append(
            Middleware(HTTPSRedirectMiddleware, trusted_proxies=settings.trusted_proxies)
        )
    if settings.cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=settings.cors_origins,
                allow_credentials=True,
                allow_methods=["*"],
                allow_headers=["*"],
                expose_headers=[
                    "X-Request-ID",
                    "X-Response-Time",
                    "RateLimit",
                    "RateLimit-Policy",
                    "Retry-After",
                ],
            )
        )
    middleware.append(Middleware(BodySizeLimitMiddleware, max_bytes=settings.max_request_body_size))
    # Innermost: a replayed request passes the body limit and every other layer only once.
    middleware.append(Middleware(RetryTransientMiddleware))

    app = FastAPI(
        title=settings.app_name,
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        middleware=middleware,
        docs_url="/docs",
        redoc_url="/redoc",
        openapi_url="/openapi.json",
    )
    database = Database(settings)
    install_audit(database, settings)
    tokens = TokenService(settings)
    app.state.settings = settings
    app.state.database = database
    app.state.tokens = tokens
    app.state.redis = aioredis.from_url(settings.redis_url) if settings.redis_url else None
    app.state.limiter = RateLimiter(settings.redis_url, enabled=settings.rate_limit_enabled)
    app.state.api_keys = ApiKeyAuthenticator(settings, database, app.state.redis)
    app.state.auth_kit = AuthKit(
        settings=settings, database=database, passwords=Passwords(settings), tokens=tokens
    )
    app.state.webhook_runner = setup_webhooks(settings, database)
    # Without a broker there is no beat either: this process follows campaign schedules itself.
    app.state.campaign_scheduler = (
        None
        if settings.broker_url
        else InProcessScheduler(database, settings.campaign_schedule_interval_seconds)
    )
    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    _document_problems(app)
    return app


def _document_problems(app: FastAPI) -> None:
    """Serve an OpenAPI document whose error responses say what is sent (problem+json)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_problems(build())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
