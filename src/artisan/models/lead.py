"""Leads (the people campaigns reach) and the suppression list enrolment respects."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from artisan.models.base import Base, IdMixin, TenantOwnedMixin, text_enum


class LeadStatus(enum.StrEnum):
    """Where a lead stands with the tenant; engagement events move it forward."""

    new = "new"
    contacted = "contacted"
    replied = "replied"
    interested = "interested"
    not_interested = "not_interested"
    meeting_booked = "meeting_booked"
    bounced = "bounced"
    unsubscribed = "unsubscribed"


class Lead(IdMixin, TenantOwnedMixin, Base):
    """A prospect of one tenant; the email is unique per tenant, case-insensitively."""

    __tablename__ = "leads"
    __table_args__ = (
        Index("uq_leads_tenant_email", "tenant_id", text("lower(email)"), unique=True),
        Index("ix_leads_tenant_id_id", "tenant_id", "id"),
    )

    email: Mapped[str] = mapped_column(String(320))
    first_name: Mapped[str | None] = mapped_column(String(100))
    last_name: Mapped[str | None] = mapped_column(String(100))
    company: Mapped[str | None] = mapped_column(String(200))
    title: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(40))
    linkedin_url: Mapped[str | None] = mapped_column(String(500))
    timezone: Mapped[str | None] = mapped_column(String(64))
    custom_fields: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    status: Mapped[LeadStatus] = mapped_column(text_enum(LeadStatus, 32), default=LeadStatus.new)
    source: Mapped[str | None] = mapped_column(String(100))
    last_engaged_at: Mapped[datetime | None]


class Suppression(IdMixin, TenantOwnedMixin, Base):
    """An email address no campaign of the tenant may enrol (unsubscribed, bounced, manual)."""

    __tablename__ = "lead_suppressions"
    __table_args__ = (UniqueConstraint("tenant_id", "email", name="uq_lead_suppressions_email"),)

    # Stored lower-cased so the unique constraint compares case-insensitively.
    email: Mapped[str] = mapped_column(String(320))
    reason: Mapped[str] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(String(500))
    lead_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("leads.id", ondelete="SET NULL"), index=True
    )
