"""Key usage (last use, address, request count) buffered in memory and written in batches.

A request only touches a dict. Every API process periodically either writes its buffer to the
database itself or stages it in a Redis hash that a scheduled job drains with `flush_usage()`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import redis.asyncio as aioredis
import structlog
from redis.exceptions import ResponseError
from sqlalchemy import text

from artisan.core.db import Database

log = structlog.get_logger(__name__)

USAGE_HASH = "artisan:api_keys:usage"
_UPDATE = text(
    """
    UPDATE api_keys SET
        request_count = request_count + :count,
        last_used_ip = CASE WHEN last_used_at IS NULL OR last_used_at <= :at
                            THEN :ip ELSE last_used_ip END,
        last_used_at = GREATEST(COALESCE(last_used_at, :at), :at)
    WHERE id = :id
    """
)


@dataclass(slots=True)
class KeyUsage:
    """Requests of one key since the last flush."""

    count: int
    last_used_at: datetime
    last_used_ip: str | None

    def merge(self, other: KeyUsage) -> None:
        """Fold another batch of the same key into this one."""
        self.count += other.count
        if other.last_used_at >= self.last_used_at:
            self.last_used_at = other.last_used_at
            self.last_used_ip = other.last_used_ip


class UsageBuffer:
    """Per-process usage since the last flush; recording is a dict update, no I/O."""

    def __init__(self) -> None:
        self._pending: dict[uuid.UUID, KeyUsage] = {}

    def record(self, key_id: uuid.UUID, ip: str | None, at: datetime) -> None:
        """Count one request of a key."""
        usage = self._pending.get(key_id)
        if usage is None:
            self._pending[key_id] = KeyUsage(1, at, ip)
        else:
            usage.count += 1
            usage.last_used_at = at
            usage.last_used_ip = ip

    def drain(self) -> dict[uuid.UUID, KeyUsage]:
        """Take everything recorded so far."""
        pending, self._pending = self._pending, {}
        return pending

    def restore(self, pending: Mapping[uuid.UUID, KeyUsage]) -> None:
        """Put back a batch whose write failed, so the next flush retries it."""
        for key_id, usage in pending.items():
            current = self._pending.get(key_id)
            if current is None:
                self._pending[key_id] = usage
            else:
                usage.merge(current)
                self._pending[key_id] = usage

    def __len__(self) -> int:
        return len(self._pending)


async def stage_usage(redis: aioredis.Redis, pending: Mapping[uuid.UUID, KeyUsage]) -> None:
    """Add a process's buffered usage to the shared Redis hash."""
    if not pending:
        return
    async with redis.pipeline(transaction=True) as pipe:
        for key_id, usage in pending.items():
            pipe.hincrby(USAGE_HASH, f"count:{key_id}", usage.count)
            # Last writer wins for time and address: accurate to the flush interval.
            pipe.hset(
                USAGE_HASH,
                mapping={
                    f"at:{key_id}": usage.last_used_at.isoformat(),
                    f"ip:{key_id}": usage.last_used_ip or "",
                },
            )
        await pipe.execute()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


async def _take_staged(redis: aioredis.Redis) -> dict[uuid.UUID, KeyUsage]:
    claimed = f"{USAGE_HASH}:flushing:{uuid.uuid4().hex}"
    try:
        # RENAME is atomic: processes staging concurrently write to a fresh hash from here on.
        await redis.rename(USAGE_HASH, claimed)
    except ResponseError:
        return {}
    raw = await redis.hgetall(claimed)
    await redis.delete(claimed)
    fields = {_text(k): _text(v) for k, v in raw.items()}
    staged: dict[uuid.UUID, KeyUsage] = {}
    for name, value in fields.items():
        if not name.startswith("count:"):
            continue
        key_text = name.removeprefix("count:")
        at = fields.get(f"at:{key_text}")
        if at is None:
            continue
        staged[uuid.UUID(key_text)] = KeyUsage(
            int(value), datetime.fromisoformat(at), fields.get(f"ip:{key_text}") or None
        )
    return staged


async def flush_usage(
    database: Database,
    *,
    redis: aioredis.Redis | None = None,
    pending: Mapping[uuid.UUID, KeyUsage] | None = None,
) -> int:
    """Write usage staged in Redis (when given) and `pending` to the keys; returns keys updated."""
    batch: dict[uuid.UUID, KeyUsage] = dict(pending or {})
    if redis is not None:
        for key_id, usage in (await _take_staged(redis)).items():
            if key_id in batch:
                batch[key_id].merge(usage)
            else:
                batch[key_id] = usage
    if not batch:
        return 0
    rows = [
        {"id": key_id, "count": u.count, "at": u.last_used_at, "ip": u.last_used_ip}
        for key_id, u in batch.items()
    ]
    try:
        # Usage rows of every tenant in one statement batch: a system task, hence the bypass.
        async with database.transaction(bypass_rls=True) as session:
            await session.execute(_UPDATE, rows)
    except Exception:
        if redis is not None:
            # Hand the batch back to Redis so the next run retries it instead of losing it.
            await stage_usage(redis, batch)
        raise
    return len(batch)
