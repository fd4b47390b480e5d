"""Wire formats of the audit log: entries, filters, statistics and verification."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from fastapi import Query
from pydantic import BaseModel, Field

from artisan.core.errors import ValidationFailed
from artisan.models.audit import AuditEntry

ActorTypeName = Literal["user", "api_key", "system", "operator"]
Outcome = Literal["success", "failure"]
ACTION_FILTER_PATTERN = r"^[a-z0-9_.]{1,100}\*?$"


class AuditActor(BaseModel):
    """Who acted."""

    type: ActorTypeName | str
    id: str | None
    label: str | None


class AuditTarget(BaseModel):
    """What an action touched."""

    type: str | None
    id: str | None
    name: str | None


class AuditContext(BaseModel):
    """Where the action came from."""

    ip_address: str | None
    user_agent: str | None
    request_id: str | None


class AuditChain(BaseModel):
    """The entry's place in its tenant's hash chain."""

    seq: int
    prev_hash: str
    hash: str


class AuditEntryOut(BaseModel):
    """One audit entry."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    occurred_at: datetime
    action: str
    outcome: str
    actor: AuditActor
    targets: list[AuditTarget]
    context: AuditContext
    metadata: dict[str, Any]
    chain: AuditChain
    personal_erased_at: datetime | None

    @classmethod
    def of(cls, row: AuditEntry) -> AuditEntryOut:
        """The wire form of a stored entry."""
        return cls(
            id=row.id,
            tenant_id=row.tenant_id,
            occurred_at=row.occurred_at,
            action=row.action,
            outcome=row.outcome,
            actor=AuditActor(type=row.actor_type, id=row.actor_id, label=row.actor_label),
            targets=[AuditTarget.model_validate(t) for t in row.targets],
            context=AuditContext(
                ip_address=row.ip_address, user_agent=row.user_agent, request_id=row.request_id
            ),
            metadata=row.metadata_,
            chain=AuditChain(seq=row.seq, prev_hash=row.prev_hash, hash=row.hash),
            personal_erased_at=row.personal_erased_at,
        )


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


class AuditFilters(BaseModel):
    """Which entries a list, export or statistics request covers."""

    action: str | None = None
    actor_type: str | None = None
    actor_id: str | None = None
    target_type: str | None = None
    target_id: str | None = None
    outcome: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    q: str | None = None

    @property
    def action_is_prefix(self) -> bool:
        """`user.*` (or `user.`) matches every action starting with `user.`."""
        return self.action is not None and self.action.endswith(("*", "."))


def audit_filters(
    action: Annotated[
        str | None,
        Query(
            pattern=ACTION_FILTER_PATTERN,
            max_length=101,
            description="Exact action, or a prefix ending in `*` (e.g. `user.*`)",
        ),
    ] = None,
    actor_type: Annotated[ActorTypeName | None, Query(description="Kind of actor")] = None,
    actor_id: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    target_type: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    target_id: Annotated[str | None, Query(min_length=1, max_length=128)] = None,
    outcome: Annotated[Outcome | None, Query()] = None,
    since: Annotated[datetime | None, Query(description="Entries at or after (ISO 8601)")] = None,
    until: Annotated[datetime | None, Query(description="Entries before (ISO 8601)")] = None,
    q: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=200,
            description="Free text in action, actor, targets and metadata",
        ),
    ] = None,
) -> AuditFilters:
    """The filter query parameters shared by the list, export and statistics routes."""
    since, until = _utc(since), _utc(until)
    if since is not None and until is not None and since >= until:
        raise ValidationFailed("`since` must be earlier than `until`", code="invalid_range")
    return AuditFilters(
        action=action,
        actor_type=actor_type,
        actor_id=actor_id,
        target_type=target_type,
        target_id=target_id,
        outcome=outcome,
        since=since,
        until=until,
        q=q,
    )


class CountByAction(BaseModel):
    """Entries of one action."""

    action: str
    count: int


class CountByActor(BaseModel):
    """Entries of one actor."""

    actor_type: str
    actor_id: str | None
    actor_label: str | None
    count: int


class CountByDay(BaseModel):
    """Entries of one UTC day."""

    day: date
    count: int
    failures: int


class AuditStats(BaseModel):
    """Counts over a date range."""

    since: datetime
    until: datetime
    total: int
    by_outcome: dict[str, int]
    by_action: list[CountByAction]
    by_actor: list[CountByActor] = Field(description="The most active actors, busiest first")
    per_day: list[CountByDay]


class CheckpointOut(BaseModel):
    """A signed pruning checkpoint the chain continues from."""

    through_seq: int
    through_hash: str
    pruned_count: int
    cutoff: datetime
    created_at: datetime


class ChainBreak(BaseModel):
    """The first entry where the chain does not verify."""

    id: uuid.UUID
    seq: int
    reason: str


class VerifyResult(BaseModel):
    """The outcome of walking a tenant's chain."""

    ok: bool
    count: int = Field(description="Entries checked")
    head_seq: int | None
    head_hash: str | None
    checkpoint: CheckpointOut | None
    broken: ChainBreak | None
