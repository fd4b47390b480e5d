"""Leads, their bulk import (JSON and CSV) and the suppression list: `/api/leads`."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response, UploadFile, status

from artisan.auth.dependencies import require_scope
from artisan.auth.principal import Principal
from artisan.core.db import SessionDep
from artisan.core.errors import PayloadTooLarge, problem_responses
from artisan.core.pagination import Page, PageParams, page_params
from artisan.leads import service
from artisan.leads.csv_import import parse_csv
from artisan.leads.schemas import (
    ImportReport,
    LeadCreate,
    LeadImport,
    LeadOut,
    LeadStatus,
    LeadUpdate,
    SuppressionCreate,
    SuppressionOut,
    SuppressionReason,
)

router = APIRouter(prefix="/api/leads", tags=["leads"])
LeadsReader = Annotated[Principal, Depends(require_scope("leads:read"))]
LeadsWriter = Annotated[Principal, Depends(require_scope("leads:write"))]
_ERRORS = problem_responses(401, 402, 403, 404, 409, 422, 429)
MAX_CSV_BYTES = 5 * 1024 * 1024


def _suppression_out(row: object) -> SuppressionOut:
    return SuppressionOut.model_validate(row, from_attributes=True)


@router.get("/suppressions", response_model=Page[SuppressionOut], responses=_ERRORS)
async def list_suppressions(
    principal: LeadsReader,
    session: SessionDep,
    page: Annotated[PageParams, Depends(page_params)],
    reason: SuppressionReason | None = None,
) -> Page[SuppressionOut]:
    """List suppressed addresses (unsubscribed, bounced, spam reports, manual), newest first."""
    rows, cursor = await service.list_suppressions(session, principal, page, reason)
    return Page.of([_suppression_out(r) for r in rows], cursor)


@router.post(
    "/suppressions",
    response_model=SuppressionOut,
    status_code=status.HTTP_201_CREATED,
    responses=_ERRORS,
)
async def add_suppression(
    data: SuppressionCreate, principal: LeadsWriter, session: SessionDep
) -> SuppressionOut:
    """Suppress an address: no campaign of the tenant will enrol it."""
    return _suppression_out(await service.suppress(session, principal, data))


@router.delete(
    "/suppressions/{suppression_id}", status_code=status.HTTP_204_NO_CONTENT, responses=_ERRORS
)
async def remove_suppression(
    suppression_id: uuid.UUID, principal: LeadsWriter, session: SessionDep
) -> Response:
    """Take an address off the suppression list."""
    await service.unsuppress(session, principal, suppression_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/import", response_model=ImportReport, responses=_ERRORS)
async def import_json(
    data: LeadImport, principal: LeadsWriter, session: SessionDep
) -> ImportReport:
    """Import up to 1,000 leads; good rows are kept and each bad row is reported with reasons."""
    return await service.import_leads(
        session,
        principal,
        data.leads,
        on_duplicate=data.on_duplicate,
        source=data.source,
        via="json",
    )


@router.post("/import/csv", response_model=ImportReport, responses=problem_responses(413))
async def import_csv(
    file: UploadFile,
    principal: LeadsWriter,
    session: SessionDep,
    on_duplicate: Annotated[Literal["skip", "update"], Query()] = "skip",
    source: Annotated[str | None, Query(max_length=100)] = "csv",
    infer_types: Annotated[
        bool, Query(description="Turn numeric `custom.<name>` values into numbers")
    ] = False,
) -> ImportReport:
    """Import a CSV: a header row with an email column, other lead fields under their common
    names (`Email`, `E-mail`, `First Name`, `Company Name`, ...) and `custom.<name>` columns;
    `,` `;` or tab delimited. The report says how each header was read."""
    content = await file.read(MAX_CSV_BYTES + 1)
    if len(content) > MAX_CSV_BYTES:
        raise PayloadTooLarge(f"A CSV import is at most {MAX_CSV_BYTES} bytes")
    parsed = parse_csv(content, infer_types=infer_types)
    report = await service.import_leads(
        session, principal, parsed.rows, on_duplicate=on_duplicate, source=source, via="csv"
    )
    return report.model_copy(update={"columns": parsed.columns, "delimiter": parsed.delimiter})


@router.post("", response_model=LeadOut, status_code=status.HTTP_201_CREATED, responses=_ERRORS)
async def create_lead(data: LeadCreate, principal: LeadsWriter, session: SessionDep) -> LeadOut:
    """Create a lead; its email must be new to the tenant."""
    lead = await service.create_lead(session, principal, data)
    return service.lead_out(
        lead, suppressed=await service.is_suppressed(session, lead.tenant_id, lead.email)
    )


@router.get("", response_model=Page[LeadOut], responses=_ERRORS)
async def list_leads(
    principal: LeadsReader,
    session: SessionDep,
    page: Annotated[PageParams, Depends(page_params)],
    lead_status: Annotated[LeadStatus | None, Query(alias="status")] = None,
    source: Annotated[str | None, Query(max_length=100)] = None,
    company: Annotated[str | None, Query(max_length=200)] = None,
    q: Annotated[
        str | None, Query(max_length=100, description="Search email, names and company")
    ] = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
) -> Page[LeadOut]:
    """List leads, newest first, with filters and search."""
    rows, cursor = await service.list_leads(
        session,
        principal,
        page,
        status=lead_status,
        source=source,
        company=company,
        q=q,
        created_after=created_after,
        created_before=created_before,
    )
    suppressed = await service.suppressed_emails(
        session, principal.tenant_id, [r.email.lower() for r in rows]
    )
    return Page.of(
        [service.lead_out(r, suppressed=r.email.lower() in suppressed) for r in rows], cursor
    )


@router.get("/{lead_id}", response_model=LeadOut, responses=_ERRORS)
async def get_lead(lead_id: uuid.UUID, principal: LeadsReader, session: SessionDep) -> LeadOut:
    """Read one lead."""
    lead = await service.get_lead(session, principal, lead_id)
    return service.lead_out(
        lead, suppressed=await service.is_suppressed(session, lead.tenant_id, lead.email)
    )


@router.patch("/{lead_id}", response_model=LeadOut, responses=_ERRORS)
async def update_lead(
    lead_id: uuid.UUID, data: LeadUpdate, principal: LeadsWriter, session: SessionDep
) -> LeadOut:
    """Change a lead's fields."""
    lead = await service.update_lead(session, principal, lead_id, data)
    return service.lead_out(
        lead, suppressed=await service.is_suppressed(session, lead.tenant_id, lead.email)
    )


@router.delete("/{lead_id}", status_code=status.HTTP_204_NO_CONTENT, responses=_ERRORS)
async def delete_lead(lead_id: uuid.UUID, principal: LeadsWriter, session: SessionDep) -> Response:
    """Delete a lead and its enrolments (its past events remain in analytics)."""
    await service.delete_lead(session, principal, lead_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
