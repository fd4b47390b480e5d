"""Wire formats of tenants, their settings, flags, limits and usage."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated
from zoneinfo import available_timezones

from pydantic import BaseModel, ConfigDict, Field, field_validator

from artisan.core.fields import TimeZoneName
from artisan.models.tenant import Plan, TenantStatus
from artisan.tenants.features import FEATURES
from artisan.tenants.limits import LimitedResource

SLUG_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$"
_TIMEZONES = frozenset(available_timezones())


class TenantSettings(BaseModel):
    """Tenant-wide preferences; unknown keys are refused."""

    model_config = ConfigDict(extra="forbid")

    timezone: TimeZoneName = "UTC"
    locale: Annotated[str, Field(pattern=r"^[a-z]{2}(-[A-Z]{2})?$", max_length=5)] = "en-US"
    default_sender_name: Annotated[str | None, Field(max_length=200)] = None
    audit_retention_days: Annotated[int | None, Field(ge=30, le=3650)] = None
    data_retention_days: Annotated[int | None, Field(ge=30, le=3650)] = None

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        if value not in _TIMEZONES:
            raise ValueError(f"unknown IANA time zone {value!r}")
        return value


class FeatureFlags(BaseModel):
    """Every feature flag and whether it is on for the tenant: its plan's defaults with the
    platform operator's overrides (read-only for tenant admins)."""

    api_access: bool = Field(description=FEATURES["api_access"])
    webhooks: bool = Field(description=FEATURES["webhooks"])
    campaign_simulation: bool = Field(description=FEATURES["campaign_simulation"])
    ai_assistant: bool = Field(description=FEATURES["ai_assistant"])
    llm_workflows: bool = Field(description=FEATURES["llm_workflows"])


class FeatureFlagOverrides(BaseModel):
    """A platform operator's overrides of the plan's flags; a flag left out follows the plan."""

    model_config = ConfigDict(extra="forbid")

    api_access: bool | None = None
    webhooks: bool | None = None
    campaign_simulation: bool | None = None
    ai_assistant: bool | None = None
    llm_workflows: bool | None = None

    def stored(self) -> dict[str, bool]:
        """The overrides as stored: only the flags that were given a value."""
        return {flag: value for flag, value in self.model_dump().items() if value is not None}


LimitOverrides = dict[LimitedResource, Annotated[int, Field(ge=0, le=100_000_000)]]


class TenantOut(BaseModel):
    """A tenant as its admins and platform operators see it."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    slug: str
    plan: Plan
    status: TenantStatus
    limits: dict[str, int]
    limit_overrides: dict[str, int]
    feature_flags: FeatureFlags
    feature_flag_overrides: dict[str, bool] = Field(
        description="The platform operator's overrides of the plan's flags"
    )
    settings: TenantSettings
    trial_ends_at: datetime | None
    deleted_at: datetime | None
    created_at: datetime
    updated_at: datetime


class TenantAdminUpdate(BaseModel):
    """What a tenant admin may change about their own tenant."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str | None, Field(min_length=1, max_length=200)] = None
    settings: TenantSettings | None = None


class TenantCreate(BaseModel):
    """A tenant created by a platform operator."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=200)]
    slug: Annotated[str | None, Field(pattern=SLUG_PATTERN, max_length=63)] = None
    plan: Plan = Plan.free
    trial_days: Annotated[int | None, Field(ge=0, le=365)] = None
    limit_overrides: LimitOverrides = Field(default_factory=dict)
    feature_flag_overrides: FeatureFlagOverrides = Field(default_factory=FeatureFlagOverrides)


class TenantPlatformUpdate(BaseModel):
    """What a platform operator may change: everything a tenant admin may, plus commercial terms."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str | None, Field(min_length=1, max_length=200)] = None
    plan: Plan | None = None
    status: TenantStatus | None = None
    limit_overrides: LimitOverrides | None = None
    trial_ends_at: datetime | None = None
    settings: TenantSettings | None = None
    feature_flag_overrides: FeatureFlagOverrides | None = Field(
        default=None, description="Replaces the overrides; a flag left out follows the plan"
    )


class UsageItem(BaseModel):
    """One plan limit and how much of it is used."""

    resource: LimitedResource
    limit: int
    current: int
    remaining: int


class TenantUsage(BaseModel):
    """Every plan limit of a tenant with its current count."""

    tenant_id: uuid.UUID
    plan: Plan
    items: list[UsageItem]


def slugify(name: str) -> str:
    """A URL-safe slug from a company name."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:50].strip("-")
    return slug or "tenant"
