"""Streaming exports of the audit log as CSV or JSON Lines, with flat memory."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Text, case, cast, func, literal, select, text

from artisan.audit.schemas import AuditFilters
from artisan.audit.service import filter_conditions
from artisan.core.db import Database
from artisan.models.audit import AuditEntry

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


def export_filename(slug: str, filters: AuditFilters, fmt: ExportFormat, today: datetime) -> str:
    """`audit-log_<slug>_<from>_<to>.<ext>`: the tenant and the date range of the export."""
    start = filters.since.date().isoformat() if filters.since else "start"
    end = (filters.until or today).date().isoformat()
    return f"audit-log_{slug}_{start}_{end}.{fmt}"


def _escaped(column: Any) -> Any:
    """The column as text, prefixed with `'` when a spreadsheet would read it as a formula."""
    return case(
        (func.left(column, 1).in_(_FORMULA_TRIGGERS), literal("'") + column),
        else_=column,
    )


# Times as the API writes them (core.ids.iso_utc): UTC, six fractional digits, `Z`.
_TIME_FORMAT = 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'


def _time(column: Any) -> Any:
    return func.to_char(func.timezone("UTC", column), _TIME_FORMAT)


def _csv_query(tenant_id: uuid.UUID, filters: AuditFilters) -> Any:
    log = AuditEntry
    # PostgreSQL hands back every cell as finished text (JSON, timestamps, escaping), so
    # the writer only quotes and joins: that keeps exports fast.
    return (
        select(
            cast(log.id, Text),
            cast(log.seq, Text),
            _time(log.occurred_at),
            _escaped(log.action),
            _escaped(log.outcome),
            _escaped(log.actor_type),
            _escaped(log.actor_id),
            _escaped(log.actor_label),
            cast(log.targets, Text),
            _escaped(log.ip_address),
            _escaped(log.user_agent),
            _escaped(log.request_id),
            cast(log.metadata_, Text),
            log.prev_hash,
            log.hash,
        )
        .where(*filter_conditions(tenant_id, filters))
        .order_by(log.seq.desc())
    )


def _jsonl_query(tenant_id: uuid.UUID, filters: AuditFilters) -> Any:
    log = AuditEntry
    # PostgreSQL renders each line in the list endpoint's entry shape.
    line = func.json_build_object(
        "id",
        log.id,
        "tenant_id",
        log.tenant_id,
        "occurred_at",
        _time(log.occurred_at),
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
        _time(log.personal_erased_at),
    )
    return (
        select(cast(line, Text))
        .where(*filter_conditions(tenant_id, filters))
        .order_by(log.seq.desc())
    )


def _csv_chunk(rows: Any) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
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
