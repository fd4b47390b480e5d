"""Reading the audit log: filtered pages, single entries, statistics and chain verification."""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import ColumnElement, Date, cast, func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession

from artisan.audit.chain import GENESIS_HASH, checkpoint_signature, entry_hash, personal_digest
from artisan.audit.schemas import (
    AuditFilters,
    AuditStats,
    ChainBreak,
    CheckpointOut,
    CountByAction,
    CountByActor,
    CountByDay,
    VerifyResult,
)
from artisan.core.db import one_or_404
from artisan.core.errors import ValidationFailed
from artisan.core.ids import utcnow
from artisan.core.pagination import LIKE_ESCAPE, PageParams, contains_pattern
from artisan.models.audit import (
    SEARCH_TEXT_SQL,
    AuditCheckpoint,
    AuditEntry,
    AuditEntryTarget,
)

STATS_DEFAULT_DAYS = 30
STATS_MAX_DAYS = 366
TOP_ACTORS = 20
VERIFY_BATCH = 5000


def encode_cursor(seq: int) -> str:
    """An opaque cursor for a chain position."""
    return base64.urlsafe_b64encode(seq.to_bytes(8, "big")).rstrip(b"=").decode()


def decode_cursor(cursor: str) -> int:
    """The chain position inside a cursor; 422 when it was not minted here."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValidationFailed("The cursor is not valid", code="invalid_cursor") from exc
    if len(raw) != 8:
        raise ValidationFailed("The cursor is not valid", code="invalid_cursor")
    return int.from_bytes(raw, "big")


def filter_conditions(tenant_id: uuid.UUID, filters: AuditFilters) -> list[ColumnElement[bool]]:
    """SQL conditions selecting one tenant's entries that match `filters`."""
    log = AuditEntry
    conditions: list[ColumnElement[bool]] = [log.tenant_id == tenant_id]
    if filters.action is not None:
        if filters.action_is_prefix:
            conditions.append(log.action.startswith(filters.action.rstrip("*"), autoescape=True))
        else:
            conditions.append(log.action == filters.action)
    if filters.actor_type is not None:
        conditions.append(log.actor_type == filters.actor_type)
    if filters.actor_id is not None:
        conditions.append(log.actor_id == filters.actor_id)
    if filters.target_type is not None or filters.target_id is not None:
        target = AuditEntryTarget
        matching = select(target.log_seq).where(target.tenant_id == tenant_id)
        if filters.target_type is not None:
            matching = matching.where(target.target_type == filters.target_type)
        if filters.target_id is not None:
            matching = matching.where(target.target_id == filters.target_id)
        conditions.append(log.seq.in_(matching))
    if filters.outcome is not None:
        conditions.append(log.outcome == filters.outcome)
    if filters.since is not None:
        conditions.append(log.occurred_at >= filters.since)
    if filters.until is not None:
        conditions.append(log.occurred_at < filters.until)
    if filters.q is not None:
        pattern = contains_pattern(filters.q)
        conditions.append(literal_column(SEARCH_TEXT_SQL).ilike(pattern, escape=LIKE_ESCAPE))
    return conditions


async def list_entries(
    session: AsyncSession, tenant_id: uuid.UUID, filters: AuditFilters, page: PageParams
) -> tuple[Sequence[AuditEntry], str | None]:
    """One page of matching entries, newest first, keyed on the chain position.

    New entries always take a higher position than every committed one (appends are
    serialised per tenant), so later pages never repeat or miss an entry.
    """
    query = select(AuditEntry).where(*filter_conditions(tenant_id, filters))
    if page.cursor:
        query = query.where(AuditEntry.seq < decode_cursor(page.cursor))
    rows = (
        (await session.execute(query.order_by(AuditEntry.seq.desc()).limit(page.limit + 1)))
        .scalars()
        .all()
    )
    has_more = len(rows) > page.limit
    rows = rows[: page.limit]
    return rows, encode_cursor(rows[-1].seq) if has_more and rows else None


async def get_entry(session: AsyncSession, tenant_id: uuid.UUID, log_id: uuid.UUID) -> AuditEntry:
    """One entry of the tenant; 404 for anything else."""
    query = select(AuditEntry).where(AuditEntry.tenant_id == tenant_id, AuditEntry.id == log_id)
    return await one_or_404(session, query, "No such audit entry")


async def stats(session: AsyncSession, tenant_id: uuid.UUID, filters: AuditFilters) -> AuditStats:
    """Counts by action, actor, outcome and UTC day over the filters' range (30 days default)."""
    until = filters.until or utcnow()
    since = filters.since or until - timedelta(days=STATS_DEFAULT_DAYS)
    if until - since > timedelta(days=STATS_MAX_DAYS):
        raise ValidationFailed(
            f"Statistics cover at most {STATS_MAX_DAYS} days", code="range_too_large"
        )
    ranged = filters.model_copy(update={"since": since, "until": until})
    where = filter_conditions(tenant_id, ranged)
    log = AuditEntry
    count = func.count().label("n")

    by_outcome = {
        str(outcome): int(n)
        for outcome, n in (
            await session.execute(select(log.outcome, count).where(*where).group_by(log.outcome))
        ).all()
    }
    by_action = [
        CountByAction(action=action, count=n)
        for action, n in (
            await session.execute(
                select(log.action, count)
                .where(*where)
                .group_by(log.action)
                .order_by(count.desc(), log.action)
            )
        ).all()
    ]
    by_actor = [
        CountByActor(actor_type=t, actor_id=i, actor_label=label, count=n)
        for t, i, label, n in (
            await session.execute(
                select(log.actor_type, log.actor_id, func.max(log.actor_label), count)
                .where(*where)
                .group_by(log.actor_type, log.actor_id)
                .order_by(count.desc(), log.actor_id)
                .limit(TOP_ACTORS)
            )
        ).all()
    ]
    day = cast(func.timezone("UTC", log.occurred_at), Date).label("day")
    failures = func.count().filter(log.outcome == "failure")
    per_day = [
        CountByDay(day=d, count=n, failures=f)
        for d, n, f in (
            await session.execute(
                select(day, count, failures).where(*where).group_by(day).order_by(day)
            )
        ).all()
    ]
    return AuditStats(
        since=since,
        until=until,
        total=sum(by_outcome.values()),
        by_outcome={"success": 0, "failure": 0, **by_outcome},
        by_action=by_action,
        by_actor=by_actor,
        per_day=per_day,
    )


def _recheck_personal(key: bytes, row: AuditEntry) -> bool:
    return (
        personal_digest(
            key,
            actor_label=row.actor_label,
            ip_address=row.ip_address,
            user_agent=row.user_agent,
            targets=row.targets,
        )
        == row.personal_digest
    )


def _rehash(row: AuditEntry, prev_hash: str) -> str:
    return entry_hash(
        prev_hash,
        id=row.id,
        tenant_id=row.tenant_id,
        seq=row.seq,
        occurred_at=row.occurred_at,
        action=row.action,
        outcome=row.outcome,
        actor_type=row.actor_type,
        actor_id=row.actor_id,
        targets=row.targets,
        request_id=row.request_id,
        metadata=row.metadata_,
        personal_digest=row.personal_digest,
    )


async def _starting_point(
    session: AsyncSession, key: bytes, tenant_id: uuid.UUID, first: AuditEntry | None
) -> tuple[int, str, AuditCheckpoint | None, str | None]:
    """Where the walk starts: genesis, or the signed checkpoint just before the first entry."""
    if first is None or first.seq == 1:
        return 0, GENESIS_HASH, None, None
    checkpoint = (
        await session.execute(
            select(AuditCheckpoint)
            .where(
                AuditCheckpoint.tenant_id == tenant_id,
                AuditCheckpoint.through_seq == first.seq - 1,
            )
            .order_by(AuditCheckpoint.created_at.desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    if checkpoint is None:
        return 0, GENESIS_HASH, None, "entries before this one are missing and no checkpoint"
    signature = checkpoint_signature(
        key,
        tenant_id=tenant_id,
        through_seq=checkpoint.through_seq,
        through_hash=checkpoint.through_hash,
        pruned_count=checkpoint.pruned_count,
        cutoff=checkpoint.cutoff,
    )
    if signature != checkpoint.signature:
        return 0, GENESIS_HASH, checkpoint, "the pruning checkpoint's signature does not match"
    return checkpoint.through_seq, checkpoint.through_hash, checkpoint, None


def _checkpoint_out(checkpoint: AuditCheckpoint | None) -> CheckpointOut | None:
    if checkpoint is None:
        return None
    return CheckpointOut(
        through_seq=checkpoint.through_seq,
        through_hash=checkpoint.through_hash,
        pruned_count=checkpoint.pruned_count,
        cutoff=checkpoint.cutoff,
        created_at=checkpoint.created_at,
    )


async def verify_chain(session: AsyncSession, key: bytes, tenant_id: uuid.UUID) -> VerifyResult:
    """Walk the tenant's chain oldest first; report the head or the first entry that breaks."""
    base = (
        select(AuditEntry)
        .where(AuditEntry.tenant_id == tenant_id)
        .order_by(AuditEntry.seq)
        .limit(VERIFY_BATCH)
    )
    batch = (await session.execute(base)).scalars().all()
    first = batch[0] if batch else None
    seq, prev_hash, checkpoint, problem = await _starting_point(session, key, tenant_id, first)
    count = 0

    def broken(row: AuditEntry, reason: str) -> VerifyResult:
        return VerifyResult(
            ok=False,
            count=count,
            head_seq=None,
            head_hash=None,
            checkpoint=_checkpoint_out(checkpoint),
            broken=ChainBreak(id=row.id, seq=row.seq, reason=reason),
        )

    if problem is not None and first is not None:
        return broken(first, problem)
    while batch:
        for row in batch:
            if row.seq != seq + 1:
                return broken(row, f"expected position {seq + 1}; entries are missing")
            if row.prev_hash != prev_hash:
                return broken(row, "the previous-hash link does not match the entry before it")
            if _rehash(row, prev_hash) != row.hash:
                return broken(row, "the entry's content does not match its hash")
            if row.personal_erased_at is None and not _recheck_personal(key, row):
                return broken(row, "personal fields do not match their recorded digest")
            seq, prev_hash = row.seq, row.hash
            count += 1
        session.expunge_all()
        batch = (await session.execute(base.where(AuditEntry.seq > seq))).scalars().all()
    return VerifyResult(
        ok=True,
        count=count,
        head_seq=seq if count else None,
        head_hash=prev_hash if count else None,
        checkpoint=_checkpoint_out(checkpoint),
        broken=None,
    )
