"""The dependencies every route uses to learn who is calling and what they may do."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated

import structlog
from fastapi import Depends, Request, Response
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from artisan.auth.principal import Principal, TenantContext
from artisan.auth.scopes import ROLE_SCOPES
from artisan.auth.tokens import TokenService
from artisan.config import Settings
from artisan.core.db import SessionDep, enable_rls_bypass, set_tenant
from artisan.core.errors import Forbidden, NotFound, PaymentRequired, Unauthorized
from artisan.core.ids import iso_utc, utcnow
from artisan.core.network import client_ip
from artisan.core.ratelimit import RateLimiter
from artisan.models.tenant import Tenant, TenantStatus
from artisan.models.user import AuthSession, Role, User
from artisan.tenants.features import enabled_features

if TYPE_CHECKING:
    from artisan.api_keys.verifier import ApiKeyAuthenticator

API_KEY_PREFIX = "art_"
REQUIRED_SCOPE_ATTR = "required_scope"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# Declared for the OpenAPI document (Swagger's Authorize button); parsing is ours.
oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/auth/token", auto_error=False)
api_key_scheme = APIKeyHeader(name="X-API-Key", auto_error=False)


def get_tokens(request: Request) -> TokenService:
    """The application's token service."""
    tokens: TokenService = request.app.state.tokens
    return tokens


TokensDep = Annotated[TokenService, Depends(get_tokens)]


def tenant_context(tenant: Tenant) -> TenantContext:
    """A request-scoped snapshot of a tenant row."""
    return TenantContext(
        id=tenant.id,
        slug=tenant.slug,
        plan=tenant.plan,
        status=tenant.status,
        trial_ends_at=tenant.trial_ends_at,
        features=enabled_features(tenant.plan, tenant.feature_flag_overrides),
    )


def user_principal(
    user: User,
    tenant: Tenant,
    session_id: uuid.UUID | None = None,
    ip_address: str | None = None,
) -> Principal:
    """The principal a user acts as: their role's scopes, within their tenant."""
    return Principal(
        kind="user",
        tenant=tenant_context(tenant),
        label=user.email,
        scopes=ROLE_SCOPES[user.role],
        role=user.role,
        user_id=user.id,
        session_id=session_id,
        is_superuser=user.is_superuser,
        ip_address=ip_address,
    )


def ensure_tenant_usable(tenant: Tenant | TenantContext, deleted_at: object = None) -> None:
    """Refuse credentials of a suspended or deleted tenant (same message as a bad credential)."""
    if (
        getattr(tenant, "deleted_at", deleted_at) is not None
        or tenant.status != TenantStatus.active
    ):
        raise Unauthorized("Invalid or missing credentials")


def ensure_trial_allows(request: Request, tenant: TenantContext) -> None:
    """An expired trial keeps reads working and blocks writes with 402 until the plan changes."""
    if request.method in _SAFE_METHODS or request.url.path.startswith("/api/auth/"):
        return
    if tenant.trial_ends_at is not None and tenant.trial_ends_at <= utcnow():
        raise PaymentRequired(
            "The trial has ended; choose a plan to make changes again",
            code="trial_expired",
            trial_ended_at=iso_utc(tenant.trial_ends_at),
        )


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
        raise Unauthorized("Authorization must use the Bearer scheme")
    return None


async def _authenticate_user(request: Request, session: AsyncSession, token: str) -> Principal:
    claims = request.app.state.tokens.verify_access_token(token)
    # The token names the tenant; RLS holds the transaction to it from here on.
    await set_tenant(session, claims.tenant_id)
    row = (
        await session.execute(
            select(User, Tenant, AuthSession)
            .join(Tenant, Tenant.id == User.tenant_id)
            .join(AuthSession, AuthSession.user_id == User.id)
            .where(
                User.id == claims.user_id,
                User.tenant_id == claims.tenant_id,
                AuthSession.id == claims.session_id,
            )
        )
    ).one_or_none()
    if row is None:
        raise Unauthorized()
    user, tenant, auth_session = row
    if not user.is_active or auth_session.revoked_at is not None:
        raise Unauthorized()
    ensure_tenant_usable(tenant)
    return user_principal(user, tenant, auth_session.id, client_ip(request))


async def _authenticate_key(
    request: Request, response: Response, session: AsyncSession, presented: str
) -> Principal:
    authenticator: ApiKeyAuthenticator = request.app.state.api_keys
    principal = await authenticator.authenticate(request, response, session, presented)
    ensure_trial_allows(request, principal.tenant)
    request.state.principal = principal
    # "key_id", not "api_key_id": the log redaction would hide a field named like a secret.
    structlog.contextvars.bind_contextvars(
        tenant_id=str(principal.tenant_id), key_id=str(principal.api_key_id)
    )
    return principal


async def authenticate(
    request: Request, response: Response, session: AsyncSession, *, allow_api_keys: bool
) -> Principal:
    """Resolve the caller from the database, apply the rate limit, and bind the log context."""
    token = _bearer(request)
    presented = request.headers.get("x-api-key") or (
        token if token and token.startswith(API_KEY_PREFIX) else None
    )
    if presented:
        if not allow_api_keys:
            raise Unauthorized("API keys are not accepted on this route")
        return await _authenticate_key(request, response, session, presented.strip())
    if token is None:
        raise Unauthorized()
    principal = await _authenticate_user(request, session, token)
    limiter: RateLimiter = request.app.state.limiter
    settings: Settings = request.app.state.settings
    result = await limiter.enforce("user", settings.rate_limit_user, f"user:{principal.user_id}")
    response.headers.update(result.headers())
    ensure_trial_allows(request, principal.tenant)
    request.state.principal = principal
    structlog.contextvars.bind_contextvars(
        tenant_id=str(principal.tenant_id), user_id=str(principal.user_id)
    )
    return principal


async def current_user(
    request: Request,
    response: Response,
    session: SessionDep,
    _token: Annotated[str | None, Depends(oauth2_scheme)],
) -> Principal:
    """Any signed-in user of an active tenant (API keys are refused)."""
    return await authenticate(request, response, session, allow_api_keys=False)


CurrentUser = Annotated[Principal, Depends(current_user)]


async def current_principal(
    request: Request,
    response: Response,
    session: SessionDep,
    _token: Annotated[str | None, Depends(oauth2_scheme)],
    _api_key: Annotated[str | None, Depends(api_key_scheme)],
) -> Principal:
    """A signed-in user or an API key; used by routes that declare a scope."""
    return await authenticate(request, response, session, allow_api_keys=True)


def _check_scope(principal: Principal, scope: str) -> None:
    if scope not in principal.scopes:
        raise Forbidden(f"This action requires the {scope} scope", required_scope=scope)


def require_scope(scope: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency admitting users whose role grants `scope` and API keys that hold it."""

    async def dependency(
        principal: Annotated[Principal, Depends(current_principal)],
    ) -> Principal:
        _check_scope(principal, scope)
        return principal

    # Lets tooling and tests find every route that declares a scope.
    setattr(dependency, REQUIRED_SCOPE_ATTR, scope)
    return dependency


def require_tenant_scope(scope: str) -> Callable[..., Awaitable[Principal]]:
    """Like require_scope, for `/{tenant_id}/` routes: another tenant's path answers 404."""

    async def dependency(
        tenant_id: uuid.UUID, principal: Annotated[Principal, Depends(current_principal)]
    ) -> Principal:
        if tenant_id != principal.tenant_id:
            raise NotFound("No such tenant")
        _check_scope(principal, scope)
        return principal

    setattr(dependency, REQUIRED_SCOPE_ATTR, scope)
    return dependency


def require_role(minimum: Role | str) -> Callable[..., Awaitable[Principal]]:
    """A dependency admitting users whose role is at least `minimum` (admin > manager > user)."""
    needed = Role(minimum)

    async def dependency(principal: CurrentUser) -> Principal:
        if not principal.has_role(needed):
            raise Forbidden(
                f"This action requires the {needed.value} role", required_role=needed.value
            )
        return principal

    return dependency


def require_tenant_role(minimum: Role | str) -> Callable[..., Awaitable[Principal]]:
    """Like require_role, for `/{tenant_id}/` routes: another tenant's path answers 404."""
    needed = Role(minimum)

    async def dependency(tenant_id: uuid.UUID, principal: CurrentUser) -> Principal:
        if tenant_id != principal.tenant_id:
            raise NotFound("No such tenant")
        if not principal.has_role(needed):
            raise Forbidden(
                f"This action requires the {needed.value} role", required_role=needed.value
            )
        return principal

    return dependency


async def require_superuser(principal: CurrentUser, session: SessionDep) -> Principal:
    """Platform operators only; their transaction sees every tenant (an audited bypass)."""
    if not principal.is_superuser:
        raise Forbidden("This action is for platform operators")
    await enable_rls_bypass(session, reason=f"operator:{principal.user_id}")
    return principal


Superuser = Annotated[Principal, Depends(require_superuser)]
