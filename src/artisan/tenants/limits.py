"""Plan limits: defaults per plan, overridable per tenant, counted from real rows."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from artisan.core.ids import utcnow
from artisan.models.api_key import ApiKey
from artisan.models.campaign import Campaign, CampaignStatus
from artisan.models.lead import Lead
from artisan.models.tenant import Plan
from artisan.models.user import User
from artisan.models.webhook import WebhookEndpoint

LimitedResource = Literal["users", "leads", "campaigns", "api_keys", "webhooks"]
LIMITED_RESOURCES: tuple[LimitedResource, ...] = (
    "users",
    "leads",
    "campaigns",
    "api_keys",
    "webhooks",
)

PLAN_LIMITS: dict[Plan, dict[str, int]] = {
    Plan.free: {"users": 3, "leads": 500, "campaigns": 3, "api_keys": 2, "webhooks": 2},
    Plan.starter: {"users": 10, "leads": 10_000, "campaigns": 25, "api_keys": 5, "webhooks": 5},
    Plan.growth: {
        "users": 50,
        "leads": 100_000,
        "campaigns": 250,
        "api_keys": 25,
        "webhooks": 25,
    },
    Plan.enterprise: {
        "users": 1_000,
        "leads": 10_000_000,
        "campaigns": 10_000,
        "api_keys": 200,
        "webhooks": 100,
    },
}

Counter = Callable[[AsyncSession, uuid.UUID], Awaitable[int]]


async def _count_active_users(session: AsyncSession, tenant_id: uuid.UUID) -> int:
    query = select(func.count()).where(User.tenant_id == tenant_id, User.is_active.is_(True))
    return int((await session.execute(query)).scalar_one())


async def _count_leads(session: AsyncSession, tenant_id: uuid.UUID) -> int:
    query = select(func.count()).select_from(Lead).where(Lead.tenant_id == tenant_id)
    return int((await session.execute(query)).scalar_one())


async def _count_campaigns(session: AsyncSession, tenant_id: uuid.UUID) -> int:
    # Archived campaigns keep their history but no longer take a place in the plan.
    query = (
        select(func.count())
        .select_from(Campaign)
        .where(Campaign.tenant_id == tenant_id, Campaign.status != CampaignStatus.archived)
    )
    return int((await session.execute(query)).scalar_one())


async def _count_live_api_keys(session: AsyncSession, tenant_id: uuid.UUID) -> int:
    # Revoked and expired keys no longer count against the plan.
    query = select(func.count()).where(
        ApiKey.tenant_id == tenant_id,
        ApiKey.revoked_at.is_(None),
        ApiKey.expires_at.is_(None) | (ApiKey.expires_at > utcnow()),
    )
    return int((await session.execute(query)).scalar_one())


async def _count_webhook_endpoints(session: AsyncSession, tenant_id: uuid.UUID) -> int:
    query = select(func.count()).where(WebhookEndpoint.tenant_id == tenant_id)
    return int((await session.execute(query)).scalar_one())


# Each limited resource is counted from its domain's real rows.
COUNTERS: dict[LimitedResource, Counter] = {
    "users": _count_active_users,
    "leads": _count_leads,
    "campaigns": _count_campaigns,
    "api_keys": _count_live_api_keys,
    "webhooks": _count_webhook_endpoints,
}


def effective_limits(plan: Plan, overrides: Mapping[str, int] | None) -> dict[str, int]:
    """The plan's defaults with the tenant's overrides applied."""
    limits: dict[str, int] = dict(PLAN_LIMITS[plan])
    for resource, value in (overrides or {}).items():
        if resource in limits:
            limits[resource] = int(value)
    return limits
