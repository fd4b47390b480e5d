"""Tenant settings and usage for tenant admins; the tenant registry for platform operators."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, status

from artisan.auth.dependencies import Superuser, require_tenant_role
from artisan.auth.principal import Principal
from artisan.core.db import SessionDep
from artisan.core.dependencies import SettingsDep
from artisan.core.errors import problem_responses
from artisan.core.pagination import Page, PageParams, page_params
from artisan.models.tenant import Plan, TenantStatus
from artisan.tenants import service
from artisan.tenants.schemas import (
    TenantAdminUpdate,
    TenantCreate,
    TenantOut,
    TenantPlatformUpdate,
    TenantUsage,
)

admin_router = APIRouter(prefix="/api/admin/{tenant_id}", tags=["tenant admin"])
platform_router = APIRouter(prefix="/api/platform/tenants", tags=["platform operators"])

TenantManager = Annotated[Principal, Depends(require_tenant_role("manager"))]
TenantAdmin = Annotated[Principal, Depends(require_tenant_role("admin"))]
_ERRORS = problem_responses(401, 403, 404, 422, 429)


@admin_router.get("", response_model=TenantOut, responses=_ERRORS)
async def get_own_tenant(
    tenant_id: uuid.UUID, principal: TenantManager, session: SessionDep
) -> TenantOut:
    """Read the tenant's profile, plan, limits, settings and feature flags."""
    return service.tenant_out(await service.get_tenant(session, principal.tenant_id))


@admin_router.patch(
    "", response_model=TenantOut, responses=problem_responses(401, 402, 403, 404, 422, 429)
)
async def update_own_tenant(
    tenant_id: uuid.UUID, data: TenantAdminUpdate, principal: TenantAdmin, session: SessionDep
) -> TenantOut:
    """Change the tenant's name, settings or feature flags (admins)."""
    return service.tenant_out(await service.update_as_admin(session, principal, data))


@admin_router.get("/usage", response_model=TenantUsage, responses=_ERRORS)
async def get_usage(
    tenant_id: uuid.UUID, principal: TenantManager, session: SessionDep
) -> TenantUsage:
    """Every plan limit of the tenant with its current count."""
    return await service.usage(session, await service.get_tenant(session, principal.tenant_id))


@platform_router.get("", response_model=Page[TenantOut], responses=_ERRORS)
async def list_tenants(
    principal: Superuser,
    session: SessionDep,
    page: Annotated[PageParams, Depends(page_params)],
    status_: Annotated[TenantStatus | None, Query(alias="status")] = None,
    plan: Plan | None = None,
    q: Annotated[str | None, Query(max_length=100, description="Search name and slug")] = None,
    include_deleted: bool = False,
) -> Page[TenantOut]:
    """List tenants, newest first, filtered by status, plan or a search term."""
    rows, cursor = await service.list_tenants(
        session, page, status=status_, plan=plan, q=q, include_deleted=include_deleted
    )
    return Page.of([service.tenant_out(t) for t in rows], cursor)


@platform_router.post(
    "",
    response_model=TenantOut,
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(401, 403, 409, 422, 429),
)
async def create_tenant(data: TenantCreate, principal: Superuser, session: SessionDep) -> TenantOut:
    """Create a tenant."""
    return service.tenant_out(await service.platform_create(session, principal, data))


@platform_router.get("/{id}", response_model=TenantOut, responses=_ERRORS)
async def get_tenant(id: uuid.UUID, principal: Superuser, session: SessionDep) -> TenantOut:
    """Read any tenant, deleted ones included."""
    return service.tenant_out(await service.get_tenant(session, id))


@platform_router.patch("/{id}", response_model=TenantOut, responses=_ERRORS)
async def update_tenant(
    id: uuid.UUID, data: TenantPlatformUpdate, principal: Superuser, session: SessionDep
) -> TenantOut:
    """Change a tenant's plan, status, limits, trial, settings or flags."""
    return service.tenant_out(await service.update_as_operator(session, principal, id, data))


@platform_router.delete(
    "/{id}", response_model=TenantOut, responses=problem_responses(401, 403, 404, 409, 429)
)
async def delete_tenant(id: uuid.UUID, principal: Superuser, session: SessionDep) -> TenantOut:
    """Soft-delete a tenant: sign-in and keys stop at once; restorable within the grace period."""
    return service.tenant_out(await service.soft_delete(session, principal, id))


@platform_router.post(
    "/{id}/restore", response_model=TenantOut, responses=problem_responses(401, 403, 404, 409, 429)
)
async def restore_tenant(
    id: uuid.UUID, principal: Superuser, session: SessionDep, settings: SettingsDep
) -> TenantOut:
    """Restore a soft-deleted tenant within the grace period."""
    grace = timedelta(days=settings.tenant_restore_grace_days)
    return service.tenant_out(await service.restore(session, principal, id, grace))
