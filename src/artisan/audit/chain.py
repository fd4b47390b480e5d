"""The per-tenant hash chain: canonical entry form, keyed personal digests, signatures."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

GENESIS_HASH = "0" * 64
CHAIN_VERSION = 1


def normalise_json(value: Any) -> Any:
    """The value as PostgreSQL's jsonb gives it back (integral floats come back as integers)."""
    if isinstance(value, float):
        return int(value) if value.is_integer() else value
    if isinstance(value, Mapping):
        return {str(k): normalise_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [normalise_json(v) for v in value]
    return value


def canonical_json(value: Any) -> bytes:
    """Deterministic JSON: sorted keys, no whitespace, UTF-8."""
    return json.dumps(
        normalise_json(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode()


def _timestamp(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def personal_digest(
    key: bytes,
    *,
    actor_label: str | None,
    ip_address: str | None,
    user_agent: str | None,
    targets: Sequence[Mapping[str, Any]],
) -> str:
    """Keyed digest of an entry's personal fields, hashed into the chain instead of them."""
    personal = {
        "actor_label": actor_label,
        "ip_address": ip_address,
        "user_agent": user_agent,
        "target_names": [t.get("name") for t in targets],
    }
    return hmac.new(key, canonical_json(personal), hashlib.sha256).hexdigest()


def entry_hash(
    prev_hash: str,
    *,
    id: uuid.UUID,
    tenant_id: uuid.UUID,
    seq: int,
    occurred_at: datetime,
    action: str,
    outcome: str,
    actor_type: str,
    actor_id: str | None,
    targets: Sequence[Mapping[str, Any]],
    request_id: str | None,
    metadata: Mapping[str, Any],
    personal_digest: str,
) -> str:
    """SHA-256 of the previous hash followed by the canonical JSON of the entry."""
    body = {
        "v": CHAIN_VERSION,
        "id": str(id),
        "tenant_id": str(tenant_id),
        "seq": seq,
        "occurred_at": _timestamp(occurred_at),
        "action": action,
        "outcome": outcome,
        "actor_type": actor_type,
        "actor_id": actor_id,
        "targets": [{"type": t.get("type"), "id": t.get("id")} for t in targets],
        "request_id": request_id,
        "metadata": metadata,
        "personal_digest": personal_digest,
    }
    return hashlib.sha256(prev_hash.encode() + canonical_json(body)).hexdigest()


def checkpoint_signature(
    key: bytes,
    *,
    tenant_id: uuid.UUID,
    through_seq: int,
    through_hash: str,
    pruned_count: int,
    cutoff: datetime,
) -> str:
    """HMAC signature of a pruning checkpoint, so a forged checkpoint cannot restart a chain."""
    body = {
        "tenant_id": str(tenant_id),
        "through_seq": through_seq,
        "through_hash": through_hash,
        "pruned_count": pruned_count,
        "cutoff": _timestamp(cutoff),
    }
    return hmac.new(key, canonical_json(body), hashlib.sha256).hexdigest()
