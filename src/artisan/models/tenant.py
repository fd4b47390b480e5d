"""Tenants: the organisations that own every other row."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import Enum, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from artisan.models.base import Base, IdMixin


class Plan(enum.StrEnum):
    free = "free"
    starter = "starter"
    growth = "growth"
    enterprise = "enterprise"


class TenantStatus(enum.StrEnum):
    active = "active"
    suspended = "suspended"


class Tenant(IdMixin, Base):
    """An organisation on the platform, with its plan, limits, flags and lifecycle."""

    __tablename__ = "tenants"

    name: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(63), unique=True)
    plan: Mapped[Plan] = mapped_column(
        Enum(Plan, name="tenant_plan", values_callable=lambda e: [m.value for m in e])
    )
    status: Mapped[TenantStatus] = mapped_column(
        Enum(TenantStatus, name="tenant_status", values_callable=lambda e: [m.value for m in e]),
        default=TenantStatus.active,
    )
    limit_overrides: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    # A platform operator's overrides of the plan's feature flags (tenants/features.py).
    feature_flag_overrides: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    settings: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    trial_ends_at: Mapped[datetime | None]
    deleted_at: Mapped[datetime | None]
