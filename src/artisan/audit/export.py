"""Streaming exports of the audit log as CSV or JSON Lines, with flat memory."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Text, cast, func, select, text

from artisan.audit.schemas import AuditFilters
from artisan.audit.service import filter_conditions
from artisan.core.db import Database
from artisan.models.audit import AuditLogDB

ExportFormat = Literal["csv", "jsonl"]

CSV_COLUMNS = (
    "id",
    "seq",
    "occurred_at",
    "action",
    "outcome",
    "actor_type",
    "actor_id",
    "actor_label",
    "targets",
    "ip_address",
    "user_agent",
    "request_id",
    "metadata",
    "prev_hash",
    "hash",
)
_FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
MEDIA_TYPES: dict[str, str] = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson"}


def escape_cell(value: str) -> str:
    """A CSV cell that spreadsheets show as text instead of evaluating as a formula."""
    if value.startswith(_FORMULA_TRIGGERS):
        return "'" + value
    return value


def export_filename(slug: str, filters: AuditFilters, fmt: ExportFormat, today: datetime) -> str:
    """`audit-log_<slug>_<from>_<to>.<ext>`: the tenant and the date range of the export."""
    start = filters.since.date().isoformat() if filters.since else "start"
    end = (filters.until or today).date().isoformat()
    return f"audit-log_{slug}_{start}_{end}.{fmt}"


def _csv_query(tenant_id: uuid.UUID, filters: AuditFilters) -> Any:
    log = AuditLogDB
    # JSON columns come back as text straight from PostgreSQL: no decode and re-encode here.
    return (
        select(
            cast(log.id, Text),
            log.seq,
            log.occurred_at,
            log.action,
            log.outcome,
            log.actor_type,
            log.actor_id,
            log.actor_label,
            cast(log.targets, Text),
            log.ip_address,
            log.user_agent,
            log.request_id,
            cast(log.metadata_, Text),
            log.prev_hash,
            log.hash,
        )
        .where(*filter_conditions(tenant_id, filters))
        .order_by(log.seq.desc())
    )


def _jsonl_query(tenant_id: uuid.UUID, filters: AuditFilters) -> Any:
    log = AuditLogDB
    # PostgreSQL renders each line in the list endpoint's entry shape.
    line = func.json_build_object(
        "id",
        log.id,
        "tenant_id",
        log.tenant_id,
        "occurred_at",
        log.occurred_at,
        "action",
        log.action,
        "outcome",
        log.outcome,
        "actor",
        func.json_build_object(
            "type", log.actor_type, "id", log.actor_id, "label", log.actor_label
        ),
        "targets",
        log.targets,
        "context",
        func.json_build_object(
            "ip_address", log.ip_address, "user_agent", log.user_agent, "request_id", log.request_id
        ),
        "metadata",
        log.metadata_,
        "chain",
        func.json_build_object("seq", log.seq, "prev_hash", log.prev_hash, "hash", log.hash),
        "personal_erased_at",
        log.personal_erased_at,
    )
    return (
        select(cast(line, Text))
        .where(*filter_conditions(tenant_id, filters))
        .order_by(log.seq.desc())
    )


def _csv_chunk(rows: Any) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for row in rows:
        writer.writerow(
            [
                escape_cell(value)
                if isinstance(value, str)
                else value.isoformat()
                if isinstance(value, datetime)
                else ("" if value is None else value)
                for value in row
            ]
        )
    return buffer.getvalue().encode()


async def stream_export(
    database: Database,
    tenant_id: uuid.UUID,
    filters: AuditFilters,
    fmt: ExportFormat,
    batch_rows: int,
) -> AsyncIterator[bytes]:
    """The export body, read through a server-side cursor in its own read-only transaction."""
    # The request's transaction has committed by the time the body streams, so the export
    # opens its own, bound to the tenant like any request.
    async with database.transaction(tenant_id=tenant_id) as session:
        await session.execute(text("SET LOCAL TimeZone = 'UTC'"))
        connection = await session.connection()
        if fmt == "csv":
            yield _csv_chunk([CSV_COLUMNS])
            result = await connection.stream(
                _csv_query(tenant_id, filters).execution_options(yield_per=batch_rows)
            )
            async for rows in result.partitions(batch_rows):
                yield _csv_chunk(rows)
        else:
            result = await connection.stream(
                _jsonl_query(tenant_id, filters).execution_options(yield_per=batch_rows)
            )
            async for rows in result.partitions(batch_rows):
                yield ("\n".join(row[0] for row in rows) + "\n").encode()
