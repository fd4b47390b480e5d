"""Campaigns with their step sequence and schedule, and the leads enrolled in them."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from artisan.models.base import Base, IdMixin, TenantOwnedMixin, text_enum


class CampaignStatus(enum.StrEnum):
    """Where a campaign is in its lifecycle."""

    draft = "draft"
    scheduled = "scheduled"
    active = "active"
    paused = "paused"
    completed = "completed"
    archived = "archived"


class Campaign(IdMixin, TenantOwnedMixin, Base):
    """An outreach campaign: a sequence of steps over channels, a schedule and a lifecycle."""

    __tablename__ = "campaigns"
    __table_args__ = (Index("ix_campaigns_tenant_id_id", "tenant_id", "id"),)

    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    channels: Mapped[list[str]] = mapped_column(JSONB, default=list)
    # The sequence is read and written whole with its campaign, so it lives beside it.
    steps: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    schedule: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    status: Mapped[CampaignStatus] = mapped_column(
        text_enum(CampaignStatus, 16), default=CampaignStatus.draft
    )
    owner_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    launched_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    archived_at: Mapped[datetime | None]


class Enrollment(IdMixin, TenantOwnedMixin, Base):
    """One lead enrolled in one campaign."""

    __tablename__ = "campaign_enrollments"
    __table_args__ = (
        UniqueConstraint("campaign_id", "lead_id", name="uq_campaign_enrollments_campaign_lead"),
    )

    campaign_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), index=True
    )
    lead_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("leads.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(16), default="active")
