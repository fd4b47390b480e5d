"""The one function every service calls to record an audited action in its own transaction."""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import structlog
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

from artisan.audit.catalogue import ACTION_PATTERN, is_catalogued
from artisan.audit.chain import GENESIS_HASH, entry_hash, personal_digest
from artisan.auth.principal import Principal
from artisan.config import Settings
from artisan.core.bulk import ColumnArrays, unnest_named
from artisan.core.context import request_meta
from artisan.core.db import Database
from artisan.core.free_json import JsonLimits, json_problems
from artisan.core.ids import new_id, utcnow
from artisan.models.audit import AuditEntry, AuditEntryTarget

log = structlog.get_logger(__name__)

ActorType = Literal["user", "api_key", "system", "operator"]
ACTOR_TYPES: tuple[str, ...] = ("user", "api_key", "system", "operator")
REDACTED = "[redacted]"

# Namespace of the per-tenant advisory lock that serialises chain appends.
CHAIN_LOCK_NAMESPACE = 0x41554454  # "AUDT"

# Metadata keys that look like credentials are never stored, whatever a caller passes.
_SECRET_KEY = re.compile(
    r"pass(word|wd|phrase)?|secret|token|api[_-]?key|authori[sz]ation|cookie|private[_-]?key"
    r"|credential|signature|otp|mfa[_-]?code|totp",
    re.IGNORECASE,
)


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


@dataclass(frozen=True, slots=True)
class AuditConfig:
    """What recording needs from the settings; carried on each session's `info`."""

    key: bytes
    metadata_max_bytes: int = 8192


SYSTEM = Actor(type="system", id=None, label="system")
SESSION_KEY = "audit_config"
# The entries a transaction recorded and has not yet appended to their chains.
PENDING_KEY = "audit_pending"


def install_audit(database: Database, settings: Settings) -> None:
    """Make every session of `database` carry the audit key and limits (read by `record`)."""
    database.add_session_info(
        SESSION_KEY, AuditConfig(settings.audit_key, settings.audit_metadata_max_bytes)
    )


def actor_of(principal: Principal) -> Actor:
    """The audit actor of an authenticated principal."""
    return Actor(type=principal.kind, id=str(principal.actor_id), label=principal.label)


def audit_config(session: AsyncSession) -> AuditConfig:
    """The audit configuration the session's Database handed it.

    There is no fallback: a digest keyed with some other configuration would look like tampering
    at the next verification, so a session of a database without it is a programming error.
    """
    config = session.info.get(SESSION_KEY)
    if not isinstance(config, AuditConfig):
        raise RuntimeError("audit entries need a session of a Database set up by install_audit")
    return config


def _clip(value: str | None, limit: int) -> str | None:
    if value is None:
        return None
    value = value.replace("\x00", "")
    return value[:limit]


def _scrub(value: Any) -> Any:
    """JSON-safe metadata with credential-like keys redacted and NUL characters removed."""
    if isinstance(value, Mapping):
        return {
            str(k): REDACTED if _SECRET_KEY.search(str(k)) else _scrub(v) for k, v in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [_scrub(v) for v in value]
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    return str(value).replace("\x00", "")


# Audit metadata is built by the platform, but may carry what a client sent (a changed custom
# field's name, an event's properties): it is held to a depth and a key length too.
METADATA_MAX_DEPTH = 8
METADATA_MAX_KEY_LENGTH = 200


def clean_metadata(metadata: Mapping[str, Any] | None, max_bytes: int) -> dict[str, Any]:
    """Metadata as it will be stored: scrubbed, and replaced by a marker when too large, too
    deep or keyed too long."""
    cleaned: dict[str, Any] = _scrub(dict(metadata or {}))
    size = len(json.dumps(cleaned, ensure_ascii=False).encode())
    limits = JsonLimits(max_bytes, METADATA_MAX_DEPTH, METADATA_MAX_KEY_LENGTH)
    problems = json_problems(cleaned, limits)
    if problems:
        log.warning("audit_metadata_truncated", size=size, problems=problems)
        return {"truncated": True, "original_bytes": size}
    return cleaned


_TARGET_COLUMNS = {"id": "uuid", "log_seq": "bigint", "target_type": "text", "target_id": "text"}
_INSERT_TARGETS = text(
    f"INSERT INTO {AuditEntryTarget.__tablename__} "  # noqa: S608 - constant names
    "(id, tenant_id, log_seq, target_type, target_id) "
    "SELECT v.id, :tenant_id, v.log_seq, v.target_type, v.target_id "
    f"FROM {unnest_named(_TARGET_COLUMNS)}"
)
_LOCK_CHAIN = text("SELECT pg_advisory_xact_lock(:ns, hashtext(:tenant))")
_CHAIN_HEAD = text(
    "SELECT seq, hash FROM audit_log WHERE tenant_id = :tenant ORDER BY seq DESC LIMIT 1"
)
_CHECKPOINT_HEAD = text(
    "SELECT through_seq, through_hash FROM audit_checkpoints "
    "WHERE tenant_id = :tenant ORDER BY through_seq DESC LIMIT 1"
)


def chain_head(session: Session, tenant_id: uuid.UUID) -> tuple[int, str]:
    """The last position and hash of a tenant's chain (a pruning checkpoint when it is empty)."""
    row = session.execute(_CHAIN_HEAD, {"tenant": tenant_id}).first()
    if row is None:
        row = session.execute(_CHECKPOINT_HEAD, {"tenant": tenant_id}).first()
    if row is None:
        return 0, GENESIS_HASH
    return int(row[0]), str(row[1])


async def lock_chain(session: AsyncSession, tenant_id: uuid.UUID) -> None:
    """Serialise appends to one tenant's chain until the transaction ends (maintenance, which
    rewrites the chain's start, takes it first)."""
    await session.execute(_LOCK_CHAIN, {"ns": CHAIN_LOCK_NAMESPACE, "tenant": str(tenant_id)})


@dataclass(slots=True)
class _Pending:
    """An entry recorded in a transaction, chained and written just before it commits."""

    tenant_id: uuid.UUID
    occurred_at: datetime
    fields: dict[str, Any]
    personal: dict[str, Any]
    digest: str


async def record(
    session: AsyncSession,
    action: str,
    *,
    tenant_id: uuid.UUID,
    actor: Actor | Principal,
    targets: Sequence[Target] = (),
    outcome: Literal["success", "failure"] = "success",
    metadata: Mapping[str, Any] | None = None,
) -> None:
    """Add an audit entry to the caller's transaction, so it commits or rolls back with it.

    The entry is checked and its content fixed now; it joins the tenant's chain just before the
    transaction commits (`append_pending`), so the chain's lock is always the transaction's
    last lock and is held only for the append: a transaction holding it never waits for a row
    another transaction holds, so it cannot take part in a deadlock.
    """
    if not ACTION_PATTERN.match(action) or len(action) > 100:
        raise ValueError(f"audit action {action!r} is not a dotted lower-case name")
    if not is_catalogued(action):
        log.warning("audit_action_not_catalogued", action=action)
    who = actor_of(actor) if isinstance(actor, Principal) else actor
    config = audit_config(session)
    meta = request_meta()
    target_rows = [
        {"type": _clip(t.type, 64), "id": _clip(t.id, 128), "name": _clip(t.name, 320)}
        for t in targets
    ]
    fields: dict[str, Any] = {
        "action": action,
        "outcome": outcome,
        "actor_type": who.type,
        "actor_id": _clip(who.id, 64),
        "targets": target_rows,
        "request_id": _clip(meta.request_id, 128),
        "metadata": clean_metadata(metadata, config.metadata_max_bytes),
    }
    personal = {
        "actor_label": _clip(who.label, 320),
        "ip_address": _clip(meta.ip_address, 64),
        "user_agent": _clip(meta.user_agent, 512),
    }
    digest = personal_digest(config.key, targets=target_rows, **personal)
    pending: list[_Pending] = session.info.setdefault(PENDING_KEY, [])
    pending.append(_Pending(tenant_id, utcnow(), fields, personal, digest))


@event.listens_for(Session, "before_commit")
def _append_before_commit(session: Session) -> None:
    # Synchronous, as session events are; under asyncio it runs inside the commit's greenlet,
    # so its statements go through the same connection and transaction. A savepoint's release
    # fires this too: entries wait for the real commit.
    if not session.in_nested_transaction():
        append_pending(session)


@event.listens_for(Session, "after_transaction_end")
def _forget_at_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    # Entries of a rolled-back transaction never join a chain (a committed one took them).
    if transaction.parent is None and not transaction.nested:
        session.info.pop(PENDING_KEY, None)


def append_pending(session: Session) -> None:
    """Chain and write the entries the transaction recorded (each tenant's under its lock)."""
    pending: list[_Pending] | None = session.info.pop(PENDING_KEY, None)
    if not pending:
        return
    by_tenant: dict[uuid.UUID, list[_Pending]] = {}
    for item in pending:
        by_tenant.setdefault(item.tenant_id, []).append(item)
    # Tenants in a fixed order, so two transactions appending to the same two chains queue.
    for tenant_id in sorted(by_tenant):
        _append_chain(session, tenant_id, by_tenant[tenant_id])


def _append_chain(session: Session, tenant_id: uuid.UUID, items: list[_Pending]) -> None:
    # Once the chain's lock is held nothing else is waited for: the only other lock the append
    # takes is the key-share lock its inserts take on the tenant row, and tenant rows are only
    # ever locked FOR NO KEY UPDATE (tenants.service.get_tenant), which does not conflict with it.
    session.execute(_LOCK_CHAIN, {"ns": CHAIN_LOCK_NAMESPACE, "tenant": str(tenant_id)})
    last_seq, prev_hash = chain_head(session, tenant_id)
    entries: list[AuditEntry] = []
    targets = ColumnArrays(_TARGET_COLUMNS)
    for item in items:
        entry_id, seq = new_id(), last_seq + 1
        chained = entry_hash(
            prev_hash,
            id=entry_id,
            tenant_id=tenant_id,
            seq=seq,
            occurred_at=item.occurred_at,
            personal_digest=item.digest,
            **item.fields,
        )
        entries.append(
            AuditEntry(
                id=entry_id,
                tenant_id=tenant_id,
                occurred_at=item.occurred_at,
                action=item.fields["action"],
                outcome=item.fields["outcome"],
                actor_type=item.fields["actor_type"],
                actor_id=item.fields["actor_id"],
                actor_label=item.personal["actor_label"],
                targets=item.fields["targets"],
                ip_address=item.personal["ip_address"],
                user_agent=item.personal["user_agent"],
                request_id=item.fields["request_id"],
                metadata_=item.fields["metadata"],
                seq=seq,
                prev_hash=prev_hash,
                hash=chained,
                personal_digest=item.digest,
            )
        )
        # Plain copies of the target keys, for indexable target filters.
        keys = {(t["type"], t["id"]) for t in item.fields["targets"] if t["type"] and t["id"]}
        for kind, key in sorted(keys):
            targets.add(new_id(), seq, kind, key)
        last_seq, prev_hash = seq, chained
    session.add_all(entries)
    session.flush()
    if len(targets):
        # One statement with arrays: an entry can name hundreds of targets (a batch of events
        # changing many leads), and ORM objects cost far more per row than the insert itself.
        session.execute(_INSERT_TARGETS, {"tenant_id": tenant_id, **targets.params()})
