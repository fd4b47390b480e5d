"""API keys: secrets for external integrations, stored only as an HMAC."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, String, UniqueConstraint
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from artisan.models.base import Base, IdMixin, TenantOwnedMixin


class ApiKey(IdMixin, TenantOwnedMixin, Base):
    """A key of one tenant: its scopes and limits, the HMAC of its secret, and usage counters."""

    __tablename__ = "api_keys"
    __table_args__ = (
        UniqueConstraint("secret_hash"),
        UniqueConstraint("previous_secret_hash"),
    )

    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(String(500))
    # The first characters and the last four of the key: enough to recognise it, never to use it.
    display_prefix: Mapped[str] = mapped_column(String(16))
    last_four: Mapped[str] = mapped_column(String(4))
    secret_hash: Mapped[str] = mapped_column(String(64))
    # After a roll the old secret keeps working until previous_secret_expires_at.
    previous_secret_hash: Mapped[str | None] = mapped_column(String(64))
    previous_last_four: Mapped[str | None] = mapped_column(String(4))
    previous_secret_expires_at: Mapped[datetime | None]
    scopes: Mapped[list[str]] = mapped_column(ARRAY(String(64)))
    expires_at: Mapped[datetime | None]
    allowed_ips: Mapped[list[str]] = mapped_column(ARRAY(String(64)), default=list)
    rate_limit_per_minute: Mapped[int | None]
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    rolled_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    last_used_ip: Mapped[str | None] = mapped_column(String(64))
    request_count: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
