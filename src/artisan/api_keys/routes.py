"""Tenant admins manage API keys; a key may describe itself."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from artisan.api_keys import service
from artisan.api_keys.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyIdentity,
    ApiKeyOut,
    ApiKeyRoll,
    ApiKeyUpdate,
    ScopeOut,
)
from artisan.api_keys.verifier import Authenticator
from artisan.auth.dependencies import current_principal, require_tenant_role
from artisan.auth.principal import Principal
from artisan.auth.scopes import ROLE_SCOPES, SCOPES
from artisan.core.db import SessionDep
from artisan.core.errors import NotFound, problem_responses
from artisan.core.pagination import Page, PageParams, page_params

router = APIRouter(prefix="/api/admin/{tenant_id}/api-keys", tags=["api keys"])
self_router = APIRouter(prefix="/api/api-keys", tags=["api keys"])

TenantAdmin = Annotated[Principal, Depends(require_tenant_role("admin"))]
_ERRORS = problem_responses(401, 402, 403, 404, 409, 422, 429)
# The secret of create and roll responses must not be kept by caches or proxies.
_NO_STORE = {"Cache-Control": "no-store"}


@router.get("/scopes", response_model=list[ScopeOut], responses=_ERRORS)
async def list_scopes(tenant_id: uuid.UUID, principal: TenantAdmin) -> list[ScopeOut]:
    """The scopes a key may hold (those the caller's role allows)."""
    held = ROLE_SCOPES[principal.role] if principal.role is not None else frozenset()
    return [ScopeOut(scope=s, description=d) for s, d in SCOPES.items() if s in held]


@router.get("", response_model=Page[ApiKeyOut], responses=_ERRORS)
async def list_api_keys(
    tenant_id: uuid.UUID,
    principal: TenantAdmin,
    session: SessionDep,
    page: Annotated[PageParams, Depends(page_params)],
    include_revoked: Annotated[bool, Query(description="Also list revoked keys")] = False,
) -> Page[ApiKeyOut]:
    """List the tenant's keys, newest first (never their secrets)."""
    rows, cursor = await service.list_keys(
        session, principal, page, include_revoked=include_revoked
    )
    return Page.of(await service.keys_out(session, rows), cursor)


@router.post(
    "", response_model=ApiKeyCreated, status_code=status.HTTP_201_CREATED, responses=_ERRORS
)
async def create_api_key(
    tenant_id: uuid.UUID,
    data: ApiKeyCreate,
    principal: TenantAdmin,
    session: SessionDep,
    authenticator: Authenticator,
    response: Response,
) -> ApiKeyCreated:
    """Issue a key; the response carries its secret, shown this once only."""
    response.headers.update(_NO_STORE)
    return await service.create_key(session, principal, authenticator, data)


@router.get("/{key_id}", response_model=ApiKeyOut, responses=_ERRORS)
async def get_api_key(
    tenant_id: uuid.UUID, key_id: uuid.UUID, principal: TenantAdmin, session: SessionDep
) -> ApiKeyOut:
    """Read one key (never its secret)."""
    return await service.key_wire(session, await service.get_key(session, principal, key_id))


@router.patch("/{key_id}", response_model=ApiKeyOut, responses=_ERRORS)
async def update_api_key(
    tenant_id: uuid.UUID,
    key_id: uuid.UUID,
    data: ApiKeyUpdate,
    principal: TenantAdmin,
    session: SessionDep,
    authenticator: Authenticator,
) -> ApiKeyOut:
    """Change a key's name, description, IP allowlist or rate limit (not its scopes)."""
    key = await service.update_key(session, principal, authenticator, key_id, data)
    return await service.key_wire(session, key)


@router.delete("/{key_id}", status_code=status.HTTP_204_NO_CONTENT, responses=_ERRORS)
async def revoke_api_key(
    tenant_id: uuid.UUID,
    key_id: uuid.UUID,
    principal: TenantAdmin,
    session: SessionDep,
    authenticator: Authenticator,
) -> Response:
    """Revoke a key; every API process refuses it within a second."""
    await service.revoke_key(session, principal, authenticator, key_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{key_id}/roll", response_model=ApiKeyCreated, responses=_ERRORS)
async def roll_api_key(
    tenant_id: uuid.UUID,
    key_id: uuid.UUID,
    principal: TenantAdmin,
    session: SessionDep,
    authenticator: Authenticator,
    response: Response,
    data: ApiKeyRoll | None = None,
) -> ApiKeyCreated:
    """Issue a new secret for the key; the old one works until the grace period ends."""
    response.headers.update(_NO_STORE)
    return await service.roll_key(session, principal, authenticator, key_id, data or ApiKeyRoll())


@self_router.get(
    "/current", response_model=ApiKeyIdentity, responses=problem_responses(401, 404, 429)
)
async def current_api_key(
    principal: Annotated[Principal, Depends(current_principal)],
) -> ApiKeyIdentity:
    """Describe the API key making the request: its id, tenant, name and scopes."""
    if principal.kind != "api_key" or principal.api_key_id is None:
        raise NotFound("This route describes API keys; users have /api/auth/me")
    return ApiKeyIdentity(
        id=principal.api_key_id,
        tenant_id=principal.tenant_id,
        name=principal.label,
        scopes=sorted(principal.scopes),
    )
