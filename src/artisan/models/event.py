"""Tracked events and the exact per-lead state and rollups that analytics read instead of them."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, SmallInteger, String, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from artisan.core.ids import new_id
from artisan.models.base import Base


class Event(Base):
    """One raw event (append-only); lead and campaign ids are checked on ingest, not by keys.

    Analytics never scan this table, so it carries only the indexes ingestion and the recent
    activity feed need: each extra index is paid on every insert.
    """

    __tablename__ = "events"
    __tenant_owned__ = True
    __table_args__ = (
        # Idempotent ingestion: a client id names one event per tenant.
        Index(
            "uq_events_tenant_client_id",
            "tenant_id",
            "client_id",
            unique=True,
            postgresql_where=text("client_id IS NOT NULL"),
        ),
        Index("ix_events_tenant_occurred", "tenant_id", "occurred_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(40))
    channel: Mapped[str] = mapped_column(String(16))
    campaign_id: Mapped[uuid.UUID]
    lead_id: Mapped[uuid.UUID]
    step: Mapped[int | None] = mapped_column(SmallInteger)
    occurred_at: Mapped[datetime]
    received_at: Mapped[datetime] = mapped_column(server_default=text("now()"))
    properties: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    client_id: Mapped[str | None] = mapped_column(String(200))
    simulated: Mapped[bool] = mapped_column(default=False)


def _tenant_key() -> Mapped[uuid.UUID]:
    # No foreign key: these rows are derived from events (which keep theirs), and the per-row
    # key check was a sixth of ingestion's analytics statement. A trigger on tenants clears
    # them when a tenant is deleted (migration 0008).
    return mapped_column(primary_key=True)


class LeadMetricState(Base):
    """Per lead, campaign and metric: when it first happened, how often, and on which steps."""

    __tablename__ = "lead_metric_state"
    __tenant_owned__ = True
    # Room on each page so upserts update in place (HOT); see migration 0007. First occurrences
    # are range-scanned in lead_metric_firsts, not through an index here (migration 0014).
    __table_args__ = {"postgresql_with": {"fillfactor": 70}}

    tenant_id: Mapped[uuid.UUID] = _tenant_key()
    campaign_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    lead_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    metric: Mapped[str] = mapped_column(String(32), primary_key=True)
    simulated: Mapped[bool] = mapped_column(primary_key=True)
    # Bit n set: the lead had the metric on step n (the per-step unique counts).
    steps: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    # The channel of the first occurrence, which the rollups credit the unique lead to.
    channel: Mapped[str] = mapped_column(String(16))
    first_at: Mapped[datetime]
    last_at: Mapped[datetime]
    total: Mapped[int] = mapped_column(BigInteger)
    # What the last upsert replaced, so the same statement can report how the first moved.
    prev_first_at: Mapped[datetime | None]
    prev_channel: Mapped[str | None] = mapped_column(String(16))


class LeadMetricFirst(Base):
    """Each lead's first occurrence of each metric, keyed for range scans by time (funnels).

    The state rows above are rewritten by nearly every batch, so an index-only scan over them
    would still visit the table; these rows change only when a first occurrence does (a new
    lead-metric, or an out-of-order event moving it earlier), so pages settle, vacuum marks
    them all-visible, and a funnel reads both of its sides from this key alone.
    """

    __tablename__ = "lead_metric_firsts"
    __tenant_owned__ = True

    tenant_id: Mapped[uuid.UUID] = _tenant_key()
    metric: Mapped[str] = mapped_column(String(32), primary_key=True)
    first_at: Mapped[datetime] = mapped_column(primary_key=True)
    campaign_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    lead_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    simulated: Mapped[bool] = mapped_column(primary_key=True)


class StepRollup(Base):
    """Event totals per campaign, step and metric (all time), for the campaign report."""

    __tablename__ = "analytics_step_rollups"
    __tenant_owned__ = True
    __table_args__ = {"postgresql_with": {"fillfactor": 70}}

    tenant_id: Mapped[uuid.UUID] = _tenant_key()
    campaign_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    step: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    metric: Mapped[str] = mapped_column(String(32), primary_key=True)
    simulated: Mapped[bool] = mapped_column(primary_key=True)
    total: Mapped[int] = mapped_column(BigInteger, default=0)


class CampaignRollup(Base):
    """Event totals and first-time (unique) counts per campaign, 15-minute UTC bucket and metric."""

    __tablename__ = "analytics_campaign_rollups"
    __tenant_owned__ = True
    __table_args__ = (
        Index("ix_analytics_campaign_rollups_tenant_metric", "tenant_id", "metric", "bucket"),
        {"postgresql_with": {"fillfactor": 70}},
    )

    tenant_id: Mapped[uuid.UUID] = _tenant_key()
    campaign_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    metric: Mapped[str] = mapped_column(String(32), primary_key=True)
    bucket: Mapped[datetime] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    simulated: Mapped[bool] = mapped_column(primary_key=True)
    total: Mapped[int] = mapped_column(BigInteger, default=0)
    uniques: Mapped[int] = mapped_column(BigInteger, default=0)


class TenantRollup(Base):
    """The same figures summed over campaigns, so tenant-wide queries read few rows."""

    __tablename__ = "analytics_tenant_rollups"
    __tenant_owned__ = True
    # Every batch of the tenant rewrites the same recent rows: half of each page is kept free.
    __table_args__ = {"postgresql_with": {"fillfactor": 50}}

    tenant_id: Mapped[uuid.UUID] = _tenant_key()
    metric: Mapped[str] = mapped_column(String(32), primary_key=True)
    bucket: Mapped[datetime] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    simulated: Mapped[bool] = mapped_column(primary_key=True)
    total: Mapped[int] = mapped_column(BigInteger, default=0)
    uniques: Mapped[int] = mapped_column(BigInteger, default=0)


class TenantDailyRollup(Base):
    """Tenant figures per UTC day: long ranges read whole days here and only their ragged
    local-midnight edges from the 15-minute buckets."""

    __tablename__ = "analytics_tenant_daily"
    __tenant_owned__ = True
    __table_args__ = {"postgresql_with": {"fillfactor": 50}}

    tenant_id: Mapped[uuid.UUID] = _tenant_key()
    metric: Mapped[str] = mapped_column(String(32), primary_key=True)
    day: Mapped[date] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    simulated: Mapped[bool] = mapped_column(primary_key=True)
    total: Mapped[int] = mapped_column(BigInteger, default=0)
    uniques: Mapped[int] = mapped_column(BigInteger, default=0)
