"""Retention pruning and personal-data erasure, run under the audit maintainer role."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.pool import NullPool

from artisan.audit.chain import checkpoint_signature
from artisan.audit.recorder import SESSION_KEY as AUDIT_SESSION_KEY
from artisan.audit.recorder import SYSTEM, AuditConfig, Target, lock_chain, record
from artisan.config import Settings
from artisan.core.db import set_tenant
from artisan.core.ids import iso_utc, utcnow
from artisan.models.audit import AuditCheckpoint
from artisan.models.tenant import Tenant

log = structlog.get_logger(__name__)

MAINTAINER_ROLE = "artisan_audit_maintainer"
DEFAULT_RETENTION_DAYS = 365


@dataclass(frozen=True, slots=True)
class PruneResult:
    """What pruning did (or would do) to one tenant's trail."""

    tenant_id: uuid.UUID
    tenant_slug: str
    retention_days: int
    cutoff: datetime
    pruned: int
    through_seq: int | None


def retention_days(settings: Settings, tenant: Tenant) -> int:
    """Days the tenant's entries are kept: its own setting, else its plan's default."""
    own = (tenant.settings or {}).get("audit_retention_days")
    if isinstance(own, int) and own > 0:
        return own
    plan = tenant.plan.value if hasattr(tenant.plan, "value") else str(tenant.plan)
    return settings.audit_retention_days_by_plan.get(plan, DEFAULT_RETENTION_DAYS)


class AuditMaintenance:
    """A connection that may delete and erase audit rows; nothing else in the app can."""

    def __init__(self, settings: Settings) -> None:
        url = settings.audit_maintenance_database_url or settings.database_url
        if not url:
            raise RuntimeError("DATABASE_URL is not set")
        self.settings = settings
        self.engine: AsyncEngine = create_async_engine(url, poolclass=NullPool)
        self.config = AuditConfig(settings.audit_key, settings.audit_metadata_max_bytes)

    @asynccontextmanager
    async def transaction(self, tenant_id: uuid.UUID | None = None) -> AsyncIterator[AsyncSession]:
        """One transaction acting as the maintainer role (bound to a tenant when given)."""
        async with AsyncSession(self.engine, info={AUDIT_SESSION_KEY: self.config}) as session:
            async with session.begin():
                await session.execute(text(f"SET LOCAL ROLE {MAINTAINER_ROLE}"))
                if tenant_id is not None:
                    await set_tenant(session, tenant_id)
                yield session

    async def dispose(self) -> None:
        """Close the maintenance connections."""
        await self.engine.dispose()

    async def prune_tenant(
        self, tenant: Tenant, *, now: datetime | None = None, dry_run: bool = False
    ) -> PruneResult:
        """Delete the tenant's expired entries and leave a signed checkpoint in their place."""
        days = retention_days(self.settings, tenant)
        cutoff = (now or utcnow()) - timedelta(days=days)
        async with self.transaction(tenant.id) as session:
            await lock_chain(session, tenant.id)
            params: dict[str, Any] = {"tenant": tenant.id, "cutoff": cutoff}
            bounds = (
                await session.execute(
                    text(
                        "SELECT min(seq), max(seq), "
                        "min(seq) FILTER (WHERE occurred_at >= :cutoff) "
                        "FROM audit_log WHERE tenant_id = :tenant"
                    ),
                    params,
                )
            ).one()
            oldest, newest, first_kept = bounds
            # Only a contiguous run of old entries goes, so the chain stays one piece.
            through = (first_kept - 1) if first_kept is not None else newest
            if oldest is None or through is None or through < oldest:
                return PruneResult(tenant.id, tenant.slug, days, cutoff, 0, None)
            if dry_run:
                pruned = through - oldest + 1
                return PruneResult(tenant.id, tenant.slug, days, cutoff, pruned, through)
            through_hash = (
                await session.execute(
                    text("SELECT hash FROM audit_log WHERE tenant_id = :tenant AND seq = :seq"),
                    {"tenant": tenant.id, "seq": through},
                )
            ).scalar_one()
            deleted = await session.execute(
                text("DELETE FROM audit_log WHERE tenant_id = :tenant AND seq <= :seq"),
                {"tenant": tenant.id, "seq": through},
            )
            pruned = int(deleted.rowcount)  # type: ignore[attr-defined]
            session.add(
                AuditCheckpoint(
                    tenant_id=tenant.id,
                    through_seq=through,
                    through_hash=through_hash,
                    pruned_count=pruned,
                    cutoff=cutoff,
                    signature=checkpoint_signature(
                        self.config.key,
                        tenant_id=tenant.id,
                        through_seq=through,
                        through_hash=through_hash,
                        pruned_count=pruned,
                        cutoff=cutoff,
                    ),
                )
            )
            await session.flush()
            await record(
                session,
                "audit.pruned",
                tenant_id=tenant.id,
                actor=SYSTEM,
                metadata={
                    "pruned": pruned,
                    "through_seq": through,
                    "retention_days": days,
                    "cutoff": iso_utc(cutoff),
                },
            )
        log.info("audit_pruned", tenant_id=str(tenant.id), pruned=pruned, through_seq=through)
        return PruneResult(tenant.id, tenant.slug, days, cutoff, pruned, through)

    async def prune(
        self, *, tenant_slug: str | None = None, now: datetime | None = None, dry_run: bool = False
    ) -> list[PruneResult]:
        """Prune every tenant (or one, by slug) to its retention period."""
        async with self.transaction() as session:
            query = select(Tenant).order_by(Tenant.slug)
            if tenant_slug is not None:
                query = query.where(Tenant.slug == tenant_slug)
            tenants = (await session.execute(query)).scalars().all()
            session.expunge_all()
        if tenant_slug is not None and not tenants:
            raise LookupError(f"no tenant with slug {tenant_slug!r}")
        return [await self.prune_tenant(t, now=now, dry_run=dry_run) for t in tenants]

    async def erase_subject(self, tenant_id: uuid.UUID, subject_id: str) -> int:
        """Blank a data subject's personal fields in the trail; the chain still verifies."""
        async with self.transaction(tenant_id) as session:
            result = await session.execute(
                text(
                    """
                    UPDATE audit_log SET
                        actor_label = CASE WHEN actor_id = :subject THEN NULL ELSE actor_label END,
                        ip_address = CASE WHEN actor_id = :subject THEN NULL ELSE ip_address END,
                        user_agent = CASE WHEN actor_id = :subject THEN NULL ELSE user_agent END,
                        targets = (
                            SELECT coalesce(jsonb_agg(
                                CASE WHEN t ->> 'id' = :subject
                                     THEN jsonb_set(t, '{name}', 'null'::jsonb) ELSE t END
                                ORDER BY i), '[]'::jsonb)
                            FROM jsonb_array_elements(targets) WITH ORDINALITY AS x(t, i)
                        ),
                        personal_erased_at = now()
                    WHERE tenant_id = :tenant
                      AND (actor_id = :subject
                           OR targets @> jsonb_build_array(jsonb_build_object('id', :subject)))
                    """
                ),
                {"tenant": tenant_id, "subject": subject_id},
            )
            erased = int(result.rowcount)  # type: ignore[attr-defined]
            await record(
                session,
                "audit.personal_data_erased",
                tenant_id=tenant_id,
                actor=SYSTEM,
                targets=[Target("subject", subject_id)],
                metadata={"entries": erased},
            )
        return erased
