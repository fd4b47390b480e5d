"""Webhook endpoints, emitted messages, one delivery per (message, endpoint), and attempts."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from artisan.models.base import Base, IdMixin, TenantOwnedMixin


def _tenant_without_key() -> Mapped[uuid.UUID]:
    # Row-level security keys on the column, but it carries neither a foreign key nor an index:
    # these rows go with their tenant through their endpoint's and message's cascades (attempts
    # through their delivery's), every query reaches them through the endpoint or the delivery,
    # and the key check and the index entry were paid on every one of the millions of writes.
    return mapped_column()


class DeliveryStatus(enum.StrEnum):
    pending = "pending"
    succeeded = "succeeded"
    failed = "failed"


class WebhookEndpoint(IdMixin, TenantOwnedMixin, Base):
    """A URL of a tenant that receives signed events it subscribed to."""

    __tablename__ = "webhook_endpoints"

    url: Mapped[str] = mapped_column(String(2048))
    description: Mapped[str | None] = mapped_column(String(500))
    # Empty means every event type; entries may end in `.*` (a whole family).
    event_types: Mapped[list[str]] = mapped_column(JSONB, default=list)
    secret_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    previous_secret_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    previous_secret_expires_at: Mapped[datetime | None]
    enabled: Mapped[bool] = mapped_column(default=True)
    disabled_reason: Mapped[str | None] = mapped_column(String(200))
    disabled_at: Mapped[datetime | None]
    ordered: Mapped[bool] = mapped_column(default=False)
    rate_limit: Mapped[int | None] = mapped_column(Integer)
    # Failure tracking for auto-disable: since when every attempt failed, and how many
    # messages in a row were dead-lettered.
    failing_since: Mapped[datetime | None]
    consecutive_failures: Mapped[int] = mapped_column(default=0)


class WebhookMessage(TenantOwnedMixin, Base):
    """One emitted event; its id is the `webhook-id` every endpoint receives for it."""

    __tablename__ = "webhook_messages"
    __table_args__ = (Index("ix_webhook_messages_created_at", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    event_type: Mapped[str] = mapped_column(String(100))
    # None once the retention period purged it; the deliveries and attempts stay as metadata.
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    payload_size: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(server_default=text("now()"))
    payload_purged_at: Mapped[datetime | None]


class WebhookDelivery(IdMixin, TenantOwnedMixin, Base):
    """One message to one endpoint: its status, next attempt and the lease of whoever sends it."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index(
            "ix_webhook_deliveries_due",
            "next_attempt_at",
            postgresql_where=text("status = 'pending'"),
        ),
        Index("ix_webhook_deliveries_endpoint_id_id", "endpoint_id", "id"),
        # Room on each page keeps the lease update (no indexed column changes) heap-only.
        {"postgresql_with": {"fillfactor": 70}},
    )

    tenant_id: Mapped[uuid.UUID] = _tenant_without_key()
    endpoint_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE")
    )
    message_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_messages.id", ondelete="CASCADE"), index=True
    )
    event_type: Mapped[str] = mapped_column(String(100))
    status: Mapped[DeliveryStatus] = mapped_column(
        Enum(
            DeliveryStatus,
            name="webhook_delivery_status",
            values_callable=lambda e: [m.value for m in e],
        ),
        default=DeliveryStatus.pending,
    )
    attempt_count: Mapped[int] = mapped_column(default=0)
    # Attempts this delivery may use; a replay grants one more.
    max_attempts: Mapped[int]
    # What the next attempt is: a scheduled one, a replay or a recovery (for the attempt log).
    next_trigger: Mapped[str] = mapped_column(String(16), default="scheduled")
    next_attempt_at: Mapped[datetime | None]
    enqueued_at: Mapped[datetime | None]
    lease_until: Mapped[datetime | None]
    lease_token: Mapped[uuid.UUID | None]
    last_status_code: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(String(40))
    delivered_at: Mapped[datetime | None]


class WebhookAttempt(TenantOwnedMixin, Base):
    """One HTTP request of a delivery: what was sent (no secrets), what came back, how long."""

    __tablename__ = "webhook_attempts"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    tenant_id: Mapped[uuid.UUID] = _tenant_without_key()
    delivery_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True
    )
    attempt_number: Mapped[int]
    trigger: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime]
    duration_ms: Mapped[float]
    request_url: Mapped[str] = mapped_column(String(2048))
    request_headers: Mapped[dict[str, str]] = mapped_column(JSONB)
    response_status: Mapped[int | None]
    response_headers: Mapped[dict[str, str] | None] = mapped_column(JSONB)
    response_body: Mapped[str | None] = mapped_column(Text)
    error_class: Mapped[str | None] = mapped_column(String(40))
    error_detail: Mapped[str | None] = mapped_column(String(500))
    succeeded: Mapped[bool]
    next_attempt_at: Mapped[datetime | None]
