"""The audit trail: one append-only, hash-chained row per state-changing action."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKeyConstraint, Index, String, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from artisan.core.ids import new_id
from artisan.models.base import Base, TenantOwnedMixin

# Everything free-text search looks at, as one expression.
SEARCH_TEXT_SQL = (
    "(action || ' ' || coalesce(actor_id, '') || ' ' || coalesce(actor_label, '') || ' ' "
    "|| (targets)::text || ' ' || (metadata)::text)"
)


class AuditEntry(TenantOwnedMixin, Base):
    """An audit entry: who did what to which targets, from where, and with what outcome."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_tenant_id_id", "tenant_id", "id"),
        # The chain position; also the newest-first keyset of every list and export.
        Index("uq_audit_log_tenant_seq", "tenant_id", "seq", unique=True),
        Index("ix_audit_log_tenant_action_seq", "tenant_id", "action", "seq"),
        Index("ix_audit_log_tenant_actor_seq", "tenant_id", "actor_id", "seq"),
        Index("ix_audit_log_tenant_occurred_at", "tenant_id", "occurred_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    occurred_at: Mapped[datetime] = mapped_column(server_default=func.now())
    action: Mapped[str] = mapped_column(String(100))
    outcome: Mapped[str] = mapped_column(String(16), default="success")
    actor_type: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[str | None] = mapped_column(String(64))
    actor_label: Mapped[str | None] = mapped_column(String(320))
    targets: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    ip_address: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(512))
    request_id: Mapped[str | None] = mapped_column(String(128))
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSONB, default=dict)
    # Chain fields: position in the tenant's chain, the previous entry's hash and this one's.
    seq: Mapped[int] = mapped_column(BigInteger)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    # Keyed digest of the personal fields; the chain hashes this, never their raw values,
    # so erasing them later leaves the chain verifiable.
    personal_digest: Mapped[str] = mapped_column(String(64))
    personal_erased_at: Mapped[datetime | None]


class AuditEntryTarget(TenantOwnedMixin, Base):
    """One target of an entry, kept as plain columns so target filters use a b-tree index.

    Row-level security stops PostgreSQL from using an index for operators that are not
    leakproof, such as JSON containment on `audit_log.targets`; equality on these columns is.
    """

    __tablename__ = "audit_log_targets"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "log_seq"],
            ["audit_log.tenant_id", "audit_log.seq"],
            ondelete="CASCADE",
            name="fk_audit_log_targets_entry",
        ),
        # Serves the foreign key (pruning cascades) and merge joins on the chain position.
        Index("ix_audit_log_targets_tenant_seq", "tenant_id", "log_seq"),
        Index("ix_audit_log_targets_tenant_target_seq", "tenant_id", "target_id", "log_seq"),
        Index("ix_audit_log_targets_tenant_type_seq", "tenant_id", "target_type", "log_seq"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    log_seq: Mapped[int] = mapped_column(BigInteger)
    target_type: Mapped[str] = mapped_column(String(64))
    target_id: Mapped[str] = mapped_column(String(128))


class AuditCheckpoint(TenantOwnedMixin, Base):
    """A signed record of where a tenant's chain stood when older entries were pruned."""

    __tablename__ = "audit_checkpoints"
    __table_args__ = (Index("ix_audit_checkpoints_tenant_through", "tenant_id", "through_seq"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    through_seq: Mapped[int] = mapped_column(BigInteger)
    through_hash: Mapped[str] = mapped_column(String(64))
    pruned_count: Mapped[int] = mapped_column(BigInteger)
    cutoff: Mapped[datetime]
    signature: Mapped[str] = mapped_column(String(64))
