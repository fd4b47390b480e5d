"""Verifying a presented API key: format and checksum, cache or database, then every policy."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import math
import time
import uuid
from typing import Annotated, NoReturn

import redis.asyncio as aioredis
import structlog
from fastapi import Depends, Request, Response
from limits import parse
from prometheus_client import Counter
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from artisan.api_keys import keys
from artisan.api_keys.cache import KeyCache, VerifiedKey
from artisan.api_keys.usage import UsageBuffer, flush_usage, stage_usage
from artisan.audit.recorder import Actor, Target, record
from artisan.auth.principal import Principal, TenantContext
from artisan.auth.scopes import effective_scopes
from artisan.config import Settings
from artisan.core.db import Database
from artisan.core.errors import TooManyRequests, Unauthorized
from artisan.core.ids import utcnow
from artisan.core.network import client_ip
from artisan.core.ratelimit import RateLimiter, RateLimitResult
from artisan.models.api_key import ApiKey
from artisan.models.tenant import Plan, TenantStatus
from artisan.models.user import Role, User
from artisan.tenants.features import FeatureDisabled, enabled_features

log = structlog.get_logger(__name__)

API_KEY_VERIFICATIONS = Counter(
    "api_key_verifications_total", "API key verifications by outcome", ["outcome"]
)
FAILURE_POLICY = "api_key_failure"

# Binds the transaction to the key's tenant and reads the tenant in one round trip, so a
# suspended or deleted tenant's keys stop on the very next request, cache or not.
_BIND_TENANT = text(
    "SELECT set_config('app.tenant_id', :tenant_text, true) AS bound, "
    "t.slug, t.plan, t.status, t.trial_ends_at, t.deleted_at, t.feature_flag_overrides "
    "FROM tenants t WHERE t.id = :tenant_id"
)
# A SECURITY DEFINER function (see the migration): finds a digest's tenant before any tenant
# context exists, revealing nothing else.
_FIND_TENANT = text("SELECT api_key_tenant(:digest)")


class KeyRefused(Exception):
    """A key failed verification; `code` goes to the audit trail and metrics only."""

    def __init__(self, code: str, entry: VerifiedKey | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.entry = entry


def hmac_secret_for(settings: Settings) -> bytes:
    """The HMAC key for stored digests, from API_KEY_SECRET or else SECRET_KEY."""
    return keys.derive_hmac_secret(settings.api_key_secret or settings.secret_key)


def verified_key_from_row(row: ApiKey, *, previous: bool, creator_role: Role | None) -> VerifiedKey:
    """The cacheable facts of a key row, for the secret that matched."""
    # A key never holds more than its creator's role allows today.
    scopes = effective_scopes(row.scopes, creator_role)
    return VerifiedKey(
        key_id=row.id,
        tenant_id=row.tenant_id,
        name=row.name,
        display_prefix=row.display_prefix,
        scopes=scopes,
        expires_at=row.expires_at,
        grace_ends_at=row.previous_secret_expires_at if previous else None,
        networks=tuple(ipaddress.ip_network(n, strict=False) for n in row.allowed_ips or ()),
        rate_limit_per_minute=row.rate_limit_per_minute,
    )


class ApiKeyAuthenticator:
    """Per-process key verification state: the cache, the usage buffer and their tasks."""

    def __init__(self, settings: Settings, database: Database, redis: aioredis.Redis | None):
        self.settings = settings
        self.database = database
        self.redis = redis
        self.hmac_secret = hmac_secret_for(settings)
        self.cache = KeyCache(
            ttl_seconds=settings.api_key_cache_ttl_seconds,
            max_entries=settings.api_key_cache_max_entries,
            redis_url=settings.redis_url,
        )
        self.usage = UsageBuffer()
        self._failure_limit = parse(settings.rate_limit_api_key_failures)
        self._flusher: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the invalidation listener and the usage flusher (idempotent)."""
        self.cache.start()
        if self._flusher is None:
            self._flusher = asyncio.get_running_loop().create_task(self._flush_periodically())

    async def aclose(self) -> None:
        """Stop background work and write what usage is still buffered."""
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._flusher
            self._flusher = None
        with contextlib.suppress(Exception):
            await self.flush()
        await self.cache.aclose()

    async def flush(self) -> int:
        """Write (or stage) this process's buffered usage now; returns keys written."""
        pending = self.usage.drain()
        if self.redis is not None:
            try:
                await stage_usage(self.redis, pending)
            except Exception:
                self.usage.restore(pending)
                raise
            if not self.settings.api_key_usage_flush_in_app:
                return 0
            return await flush_usage(self.database, redis=self.redis)
        try:
            return await flush_usage(self.database, pending=pending)
        except Exception:
            self.usage.restore(pending)
            raise

    async def _flush_periodically(self) -> None:
        while True:
            await asyncio.sleep(self.settings.api_key_usage_flush_seconds)
            try:
                await self.flush()
            except Exception:
                log.exception("api_key_usage_flush_failed")

    async def invalidate(self, key_id: uuid.UUID) -> None:
        """Make every process forget a key it may have cached (after revoke, roll, change)."""
        await self.cache.publish(self.redis, key_id)

    async def authenticate(
        self, request: Request, response: Response, session: AsyncSession, presented: str
    ) -> Principal:
        """Verify a presented key and return its principal; 401 (or 429) when refused."""
        self.start()
        ip = client_ip(request)
        limiter: RateLimiter = request.app.state.limiter
        try:
            entry, tenant = await self._verify(session, limiter, presented, ip)
        except KeyRefused as refused:
            await self._refuse(limiter, ip, refused)
        if "api_access" not in tenant.features:
            # A valid key of a tenant without API access: a clear refusal, not a bad credential.
            API_KEY_VERIFICATIONS.labels("feature_disabled").inc()
            raise FeatureDisabled("api_access")
        API_KEY_VERIFICATIONS.labels("success").inc()
        if entry.rate_limit_per_minute is not None:
            result = await limiter.enforce(
                "api_key", f"{entry.rate_limit_per_minute}/minute", f"api_key:{entry.key_id}"
            )
            response.headers.update(result.headers())
        self.usage.record(entry.key_id, ip, utcnow())
        return Principal(
            kind="api_key",
            tenant=tenant,
            label=entry.name,
            scopes=entry.scopes,
            api_key_id=entry.key_id,
            ip_address=ip,
        )

    async def _verify(
        self, session: AsyncSession, limiter: RateLimiter, presented: str, ip: str
    ) -> tuple[VerifiedKey, TenantContext]:
        if not keys.well_formed(presented):
            raise KeyRefused("malformed")
        digest = keys.digest(self.hmac_secret, presented)
        entry = self.cache.get(digest)
        if entry is not None:
            tenant = await self._bind_tenant(session, entry.tenant_id, entry)
        else:
            # A cold lookup is what a guessing attacker causes; an address over its failure
            # budget is turned away before it costs a query.
            await self._guard_failures(limiter, ip)
            entry, tenant = await self._load(session, digest)
            self.cache.put(digest, entry)
        now = utcnow()
        if entry.expires_at is not None and now >= entry.expires_at:
            raise KeyRefused("expired", entry)
        if entry.grace_ends_at is not None and now >= entry.grace_ends_at:
            raise KeyRefused("rolled", entry)
        if not entry.allows_ip(ip):
            raise KeyRefused("ip_not_allowed", entry)
        return entry, tenant

    async def _bind_tenant(
        self, session: AsyncSession, tenant_id: uuid.UUID, entry: VerifiedKey | None
    ) -> TenantContext:
        row = (
            await session.execute(
                _BIND_TENANT, {"tenant_id": tenant_id, "tenant_text": str(tenant_id)}
            )
        ).one_or_none()
        if row is None or row.deleted_at is not None or row.status != TenantStatus.active.value:
            raise KeyRefused("tenant_inactive", entry)
        session.info["tenant_id"] = tenant_id
        plan = Plan(row.plan)
        return TenantContext(
            id=tenant_id,
            slug=row.slug,
            plan=plan,
            status=TenantStatus(row.status),
            trial_ends_at=row.trial_ends_at,
            features=enabled_features(plan, row.feature_flag_overrides),
        )

    async def _load(self, session: AsyncSession, digest: str) -> tuple[VerifiedKey, TenantContext]:
        tenant_id = (await session.execute(_FIND_TENANT, {"digest": digest})).scalar_one_or_none()
        if tenant_id is None:
            raise KeyRefused("unknown")
        tenant = await self._bind_tenant(session, tenant_id, None)
        found = (
            await session.execute(
                select(ApiKey, User.role)
                .outerjoin(User, User.id == ApiKey.created_by_id)
                .where(
                    ApiKey.tenant_id == tenant_id,
                    (ApiKey.secret_hash == digest) | (ApiKey.previous_secret_hash == digest),
                )
            )
        ).one_or_none()
        if found is None:
            raise KeyRefused("unknown")
        row, creator_role = found
        entry = verified_key_from_row(
            row, previous=row.secret_hash != digest, creator_role=creator_role
        )
        if row.revoked_at is not None:
            raise KeyRefused("revoked", entry)
        return entry, tenant

    async def _guard_failures(self, limiter: RateLimiter, ip: str) -> None:
        if not limiter.enabled:
            return
        if await limiter.strategy.test(self._failure_limit, FAILURE_POLICY, ip):
            return
        stats = await limiter.strategy.get_window_stats(self._failure_limit, FAILURE_POLICY, ip)
        window = self._failure_limit.get_expiry()
        result = RateLimitResult(
            FAILURE_POLICY,
            self._failure_limit.amount,
            0,
            max(0, math.ceil(stats.reset_time - time.time())),
            window,
            False,
        )
        API_KEY_VERIFICATIONS.labels("blocked").inc()
        raise TooManyRequests(
            "Too many failed authentications from this address; retry after Retry-After",
            headers=result.headers(),
        )

    async def _refuse(self, limiter: RateLimiter, ip: str, refused: KeyRefused) -> NoReturn:
        API_KEY_VERIFICATIONS.labels(refused.code).inc()
        result = await limiter.hit(FAILURE_POLICY, self._failure_limit, ip)
        entry = refused.entry
        # The caller learns nothing; the code goes to the log, metrics and the tenant's audit.
        log.warning(
            "api_key_refused",
            reason=refused.code,
            key_prefix=entry.display_prefix if entry else None,
            key_id=str(entry.key_id) if entry else None,
        )
        if entry is not None:
            await self._audit_refusal(entry, refused.code)
        if not result.allowed:
            raise TooManyRequests(
                "Too many failed authentications from this address; retry after Retry-After",
                headers=result.headers(),
            )
        raise Unauthorized()

    async def _audit_refusal(self, entry: VerifiedKey, code: str) -> None:
        # Its own transaction: the request's transaction rolls back with the 401.
        try:
            async with self.database.transaction(tenant_id=entry.tenant_id) as audit_session:
                await record(
                    audit_session,
                    "api_key.authentication_failed",
                    tenant_id=entry.tenant_id,
                    actor=Actor(type="api_key", id=str(entry.key_id), label=entry.name),
                    targets=[Target("api_key", str(entry.key_id), entry.name)],
                    outcome="failure",
                    metadata={"code": code},
                )
        except Exception:
            log.exception("api_key_refusal_audit_failed", key_id=str(entry.key_id))


def get_authenticator(request: Request) -> ApiKeyAuthenticator:
    """The process's API key authenticator (a dependency of routes that revoke or re-read keys)."""
    authenticator: ApiKeyAuthenticator = request.app.state.api_keys
    return authenticator


Authenticator = Annotated[ApiKeyAuthenticator, Depends(get_authenticator)]
