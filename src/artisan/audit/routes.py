"""Admin routes of the audit log: list, search, export, statistics, verification, one entry."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import select

from artisan.audit import service
from artisan.audit.export import MEDIA_TYPES, ExportFormat, export_filename, stream_export
from artisan.audit.recorder import record
from artisan.audit.schemas import (
    AuditEntryOut,
    AuditFilters,
    AuditStats,
    VerifyResult,
    audit_filters,
)
from artisan.auth.dependencies import require_tenant_scope
from artisan.auth.principal import Principal
from artisan.core.db import SessionDep, get_database
from artisan.core.dependencies import SettingsDep
from artisan.core.errors import Forbidden, problem_responses
from artisan.core.ids import utcnow
from artisan.core.pagination import Page, PageParams, page_params
from artisan.models.tenant import Tenant
from artisan.models.user import Role

router = APIRouter(prefix="/api/admin/{tenant_id}/audit-log", tags=["audit log"])
_ERRORS = problem_responses(401, 403, 404, 422, 429)


async def audit_reader(
    principal: Annotated[Principal, Depends(require_tenant_scope("audit:read"))],
) -> Principal:
    """Admins and managers, or an API key holding `audit:read`; another tenant's path is 404."""
    if principal.kind == "user" and not principal.has_role(Role.manager):
        raise Forbidden("Reading the audit log requires the manager role", required_role="manager")
    return principal


AuditReader = Annotated[Principal, Depends(audit_reader)]
Filters = Annotated[AuditFilters, Depends(audit_filters)]


@router.get("", response_model=Page[AuditEntryOut], responses=_ERRORS)
async def list_audit_log(
    tenant_id: uuid.UUID,
    principal: AuditReader,
    session: SessionDep,
    filters: Filters,
    page: Annotated[PageParams, Depends(page_params)],
) -> Page[AuditEntryOut]:
    """List audit entries, newest first, filtered and searched."""
    rows, cursor = await service.list_entries(session, principal.tenant_id, filters, page)
    return Page.of([AuditEntryOut.of(r) for r in rows], cursor)


@router.get(
    "/export",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "The matching entries, newest first",
            "content": {"text/csv": {}, "application/x-ndjson": {}},
        },
        **_ERRORS,
    },
)
async def export_audit_log(
    tenant_id: uuid.UUID,
    request: Request,
    principal: AuditReader,
    session: SessionDep,
    settings: SettingsDep,
    filters: Filters,
    format: Annotated[ExportFormat, Query(description="`csv` (default) or `jsonl`")] = "csv",
) -> StreamingResponse:
    """Download every matching entry as CSV or JSON Lines, streamed."""
    slug = (
        await session.execute(select(Tenant.slug).where(Tenant.id == principal.tenant_id))
    ).scalar_one()
    await record(
        session,
        "audit.exported",
        tenant_id=principal.tenant_id,
        actor=principal,
        metadata={"format": format, "filters": filters.model_dump(mode="json", exclude_none=True)},
    )
    filename = export_filename(slug, filters, format, utcnow())
    body = stream_export(
        get_database(request),
        principal.tenant_id,
        filters,
        format,
        settings.audit_export_batch_rows,
    )
    return StreamingResponse(
        body,
        media_type=MEDIA_TYPES[format],
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


@router.get("/stats", response_model=AuditStats, responses=_ERRORS)
async def audit_log_stats(
    tenant_id: uuid.UUID, principal: AuditReader, session: SessionDep, filters: Filters
) -> AuditStats:
    """Counts by action, actor, outcome and day over a date range (default: 30 days)."""
    return await service.stats(session, principal.tenant_id, filters)


@router.get("/verify", response_model=VerifyResult, responses=_ERRORS)
async def verify_audit_log(
    tenant_id: uuid.UUID, principal: AuditReader, session: SessionDep, settings: SettingsDep
) -> VerifyResult:
    """Walk the tenant's hash chain: ok with count and head hash, or the first break."""
    return await service.verify_chain(session, settings.audit_key, principal.tenant_id)


@router.get("/{log_id}", response_model=AuditEntryOut, responses=_ERRORS)
async def get_audit_entry(
    tenant_id: uuid.UUID, log_id: uuid.UUID, principal: AuditReader, session: SessionDep
) -> AuditEntryOut:
    """Read one audit entry."""
    return AuditEntryOut.of(await service.get_entry(session, principal.tenant_id, log_id))
