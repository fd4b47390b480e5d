"""Tenant lifecycle, settings, plan limits and usage."""

from __future__ import annotations

import secrets
import uuid
from datetime import timedelta

from sqlalchemy import Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from artisan.audit.recorder import Actor, Target, record
from artisan.auth.principal import Principal
from artisan.core.db import one_or_404
from artisan.core.errors import Conflict, Forbidden
from artisan.core.ids import utcnow
from artisan.core.pagination import LIKE_ESCAPE, PageParams, contains_pattern, paginate
from artisan.models.tenant import Plan, Tenant, TenantStatus
from artisan.tenants.features import flag_values
from artisan.tenants.limits import (
    COUNTERS,
    LIMITED_RESOURCES,
    LimitedResource,
    effective_limits,
)
from artisan.tenants.schemas import (
    FeatureFlags,
    TenantAdminUpdate,
    TenantCreate,
    TenantOut,
    TenantPlatformUpdate,
    TenantSettings,
    TenantUsage,
    UsageItem,
    slugify,
)


def tenant_out(tenant: Tenant) -> TenantOut:
    """The wire form of a tenant."""
    return TenantOut(
        id=tenant.id,
        name=tenant.name,
        slug=tenant.slug,
        plan=tenant.plan,
        status=tenant.status,
        limits=dict(effective_limits(tenant.plan, tenant.limit_overrides)),
        limit_overrides=dict(tenant.limit_overrides or {}),
        feature_flags=FeatureFlags(**flag_values(tenant.plan, tenant.feature_flag_overrides)),
        feature_flag_overrides=dict(tenant.feature_flag_overrides or {}),
        settings=TenantSettings.model_validate(tenant.settings or {}),
        trial_ends_at=tenant.trial_ends_at,
        deleted_at=tenant.deleted_at,
        created_at=tenant.created_at,
        updated_at=tenant.updated_at,
    )


async def _slug_taken(session: AsyncSession, slug: str) -> bool:
    return (await session.execute(select(Tenant.id).where(Tenant.slug == slug))).first() is not None


async def available_slug(session: AsyncSession, name: str) -> str:
    """A free slug derived from a company name."""
    base = slugify(name)
    candidate = base
    while await _slug_taken(session, candidate):
        candidate = f"{base}-{secrets.token_hex(3)}"
    return candidate


async def create_tenant(
    session: AsyncSession,
    *,
    name: str,
    slug: str | None,
    plan: Plan,
    trial_days: int | None,
    limit_overrides: dict[str, int] | None = None,
    feature_flag_overrides: dict[str, bool] | None = None,
) -> Tenant:
    """Create a tenant; an explicit slug that is taken is a 409."""
    if slug is None:
        slug = await available_slug(session, name)
    elif await _slug_taken(session, slug):
        raise Conflict(f"The slug {slug!r} is taken", code="slug_taken")
    tenant = Tenant(
        name=name,
        slug=slug,
        plan=plan,
        status=TenantStatus.active,
        limit_overrides=dict(limit_overrides or {}),
        feature_flag_overrides=dict(feature_flag_overrides or {}),
        settings=TenantSettings().model_dump(),
        trial_ends_at=utcnow() + timedelta(days=trial_days) if trial_days else None,
    )
    session.add(tenant)
    await session.flush()
    await session.refresh(tenant)
    return tenant


async def get_tenant(
    session: AsyncSession, tenant_id: uuid.UUID, *, for_update: bool = False
) -> Tenant:
    """A tenant by id (deleted ones included); 404 when there is none.

    `for_update` locks the row FOR NO KEY UPDATE: it serialises plan-limit checks and changes of
    the tenant, yet never waits for (nor blocks) the key-share lock that every insert of a row
    referencing the tenant takes, so those inserts cannot deadlock against it.
    """
    query = select(Tenant).where(Tenant.id == tenant_id)
    if for_update:
        query = query.with_for_update(key_share=True)
    return await one_or_404(session, query, "No such tenant")


async def check_limit(
    session: AsyncSession, tenant_id: uuid.UUID, resource: LimitedResource, adding: int = 1
) -> None:
    """Refuse a create that would exceed the plan's limit, counting the real rows.

    Locks the tenant row so concurrent creates of one tenant cannot both squeeze past the limit.
    """
    tenant = await get_tenant(session, tenant_id, for_update=True)
    limit = effective_limits(tenant.plan, tenant.limit_overrides)[resource]
    current = await COUNTERS[resource](session, tenant_id)
    if current + adding > limit:
        raise Forbidden(
            f"The {tenant.plan.value} plan allows {limit} {resource.replace('_', ' ')}; "
            f"{current} exist",
            code="plan_limit_reached",
            resource=resource,
            limit=limit,
            current=current,
        )


async def usage(session: AsyncSession, tenant: Tenant) -> TenantUsage:
    """Every plan limit of the tenant with its current count."""
    limits = effective_limits(tenant.plan, tenant.limit_overrides)
    items = []
    for resource in LIMITED_RESOURCES:
        current = await COUNTERS[resource](session, tenant.id)
        items.append(
            UsageItem(
                resource=resource,
                limit=limits[resource],
                current=current,
                remaining=max(0, limits[resource] - current),
            )
        )
    return TenantUsage(tenant_id=tenant.id, plan=tenant.plan, items=items)


def _changed(before: object, after: object) -> bool:
    return before != after


async def update_as_admin(
    session: AsyncSession, principal: Principal, data: TenantAdminUpdate
) -> Tenant:
    """Apply a tenant admin's change to name or settings (flags are the operator's)."""
    tenant = await get_tenant(session, principal.tenant_id, for_update=True)
    changes: dict[str, object] = {}
    if data.name is not None and _changed(tenant.name, data.name):
        tenant.name = changes["name"] = data.name
    if data.settings is not None:
        merged = data.settings.model_dump()
        if _changed(tenant.settings, merged):
            tenant.settings = merged
            changes["settings"] = sorted(data.settings.model_fields_set)
    if changes:
        await record(
            session,
            "tenant.updated",
            tenant_id=tenant.id,
            actor=principal,
            targets=[Target("tenant", str(tenant.id), tenant.name)],
            metadata={"changed": sorted(changes)},
        )
        await session.flush()
        await session.refresh(tenant)
    return tenant


def operator_actor(principal: Principal) -> Actor:
    """The audit actor of a platform operator."""
    return Actor(type="operator", id=str(principal.user_id), label=principal.label)


async def update_as_operator(
    session: AsyncSession, principal: Principal, tenant_id: uuid.UUID, data: TenantPlatformUpdate
) -> Tenant:
    """Apply a platform operator's change, including plan, status, limits and trial."""
    tenant = await get_tenant(session, tenant_id, for_update=True)
    fields = data.model_fields_set
    if "name" in fields and data.name is not None:
        tenant.name = data.name
    if "plan" in fields and data.plan is not None:
        tenant.plan = data.plan
        # Choosing a plan (even the trial's own) ends the trial unless a new end comes with it.
        if "trial_ends_at" not in fields:
            tenant.trial_ends_at = None
    if "trial_ends_at" in fields:
        tenant.trial_ends_at = data.trial_ends_at
    if "status" in fields and data.status is not None:
        tenant.status = data.status
    if "limit_overrides" in fields:
        tenant.limit_overrides = {str(k): v for k, v in (data.limit_overrides or {}).items()}
    if "settings" in fields and data.settings is not None:
        tenant.settings = data.settings.model_dump()
    metadata: dict[str, object] = {"changed": sorted(fields)}
    if "feature_flag_overrides" in fields:
        overrides = data.feature_flag_overrides
        tenant.feature_flag_overrides = overrides.stored() if overrides is not None else {}
        # Which features a tenant could use, and since when, is worth its own record.
        metadata["feature_flag_overrides"] = tenant.feature_flag_overrides
    await record(
        session,
        "tenant.updated",
        tenant_id=tenant.id,
        actor=operator_actor(principal),
        targets=[Target("tenant", str(tenant.id), tenant.name)],
        metadata=metadata,
    )
    await session.flush()
    await session.refresh(tenant)
    return tenant


async def soft_delete(session: AsyncSession, principal: Principal, tenant_id: uuid.UUID) -> Tenant:
    """Mark a tenant deleted; its users and keys stop working at once."""
    tenant = await get_tenant(session, tenant_id, for_update=True)
    if tenant.deleted_at is not None:
        raise Conflict("The tenant is already deleted", code="already_deleted")
    if tenant.id == principal.tenant_id:
        raise Conflict("Operators cannot delete their own tenant", code="own_tenant")
    tenant.deleted_at = utcnow()
    await record(
        session,
        "tenant.deleted",
        tenant_id=tenant.id,
        actor=operator_actor(principal),
        targets=[Target("tenant", str(tenant.id), tenant.name)],
    )
    await session.flush()
    await session.refresh(tenant)
    return tenant


async def restore(
    session: AsyncSession, principal: Principal, tenant_id: uuid.UUID, grace: timedelta
) -> Tenant:
    """Undo a soft delete within the grace period."""
    tenant = await get_tenant(session, tenant_id, for_update=True)
    if tenant.deleted_at is None:
        raise Conflict("The tenant is not deleted", code="not_deleted")
    if tenant.deleted_at + grace < utcnow():
        raise Conflict(
            f"The restore window of {grace.days} days has passed",
            code="restore_window_expired",
        )
    tenant.deleted_at = None
    await record(
        session,
        "tenant.restored",
        tenant_id=tenant.id,
        actor=operator_actor(principal),
        targets=[Target("tenant", str(tenant.id), tenant.name)],
    )
    await session.flush()
    await session.refresh(tenant)
    return tenant


def tenant_list_query(
    *, status: TenantStatus | None, plan: Plan | None, q: str | None, include_deleted: bool
) -> Select[Tenant]:
    """The operator's tenant list with filters."""
    query = select(Tenant)
    if not include_deleted:
        query = query.where(Tenant.deleted_at.is_(None))
    if status is not None:
        query = query.where(Tenant.status == status)
    if plan is not None:
        query = query.where(Tenant.plan == plan)
    if q:
        pattern = contains_pattern(q)
        query = query.where(
            or_(
                func.lower(Tenant.name).like(pattern, escape=LIKE_ESCAPE),
                Tenant.slug.like(pattern, escape=LIKE_ESCAPE),
            )
        )
    return query


async def list_tenants(
    session: AsyncSession,
    params: PageParams,
    *,
    status: TenantStatus | None,
    plan: Plan | None,
    q: str | None,
    include_deleted: bool,
) -> tuple[list[Tenant], str | None]:
    """One page of tenants, newest first."""
    query = tenant_list_query(status=status, plan=plan, q=q, include_deleted=include_deleted)
    rows, cursor = await paginate(session, query, Tenant.id, params)
    return list(rows), cursor


async def platform_create(
    session: AsyncSession, principal: Principal, data: TenantCreate
) -> Tenant:
    """Create a tenant on an operator's request."""
    tenant = await create_tenant(
        session,
        name=data.name,
        slug=data.slug,
        plan=data.plan,
        trial_days=data.trial_days,
        limit_overrides={str(k): v for k, v in data.limit_overrides.items()},
        feature_flag_overrides=data.feature_flag_overrides.stored(),
    )
    await record(
        session,
        "tenant.created",
        tenant_id=tenant.id,
        actor=operator_actor(principal),
        targets=[Target("tenant", str(tenant.id), tenant.name)],
        metadata={"plan": tenant.plan.value},
    )
    return tenant
