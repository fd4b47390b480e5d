"""The one function every service calls to record an audited action in its own transaction."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from artisan.auth.principal import Principal
from artisan.core.context import request_meta
from artisan.core.ids import utcnow
from artisan.models.audit import AuditLogDB

ActorType = Literal["user", "api_key", "system", "operator"]


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acted; never carries a secret."""

    type: ActorType
    id: str | None
    label: str | None


@dataclass(frozen=True, slots=True)
class Target:
    """What an action touched."""

    type: str
    id: str
    name: str | None = None


SYSTEM = Actor(type="system", id=None, label="system")


def actor_of(principal: Principal) -> Actor:
    """The audit actor of an authenticated principal."""
    return Actor(type=principal.kind, id=str(principal.actor_id), label=principal.label)


async def record(
    session: AsyncSession,
    action: str,
    *,
    tenant_id: uuid.UUID,
    actor: Actor | Principal,
    targets: Sequence[Target] = (),
    outcome: Literal["success", "failure"] = "success",
    metadata: Mapping[str, Any] | None = None,
) -> AuditLogDB:
    """Add an audit entry to the caller's transaction, so it commits or rolls back with it."""
    who = actor_of(actor) if isinstance(actor, Principal) else actor
    meta = request_meta()
    entry = AuditLogDB(
        tenant_id=tenant_id,
        occurred_at=utcnow(),
        action=action,
        outcome=outcome,
        actor_type=who.type,
        actor_id=who.id,
        actor_label=who.label,
        targets=[{"type": t.type, "id": t.id, "name": t.name} for t in targets],
        ip_address=meta.ip_address,
        user_agent=meta.user_agent,
        request_id=meta.request_id,
        metadata_=dict(metadata or {}),
    )
    session.add(entry)
    await session.flush()
    return entry
