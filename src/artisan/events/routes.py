"""Event tracking: `POST /api/events`, `/api/events/batch` and the per-campaign route."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status
from sqlalchemy import text

from artisan.auth.dependencies import require_scope
from artisan.auth.principal import Principal
from artisan.core.db import SessionDep
from artisan.core.errors import NotFound, ValidationFailed, problem_responses
from artisan.events import service
from artisan.events.schemas import BatchReport, EventAccepted, EventBatch, EventIn

router = APIRouter(prefix="/api/events", tags=["events"])
Writer = Annotated[Principal, Depends(require_scope("events:write"))]
_ERRORS = problem_responses(401, 402, 403, 404, 409, 422, 429)


def _max_future(request: Request) -> timedelta:
    return timedelta(seconds=request.app.state.settings.events_max_future_seconds)


@router.post(
    "",
    response_model=EventAccepted,
    status_code=status.HTTP_201_CREATED,
    responses={**_ERRORS, 200: {"description": "A duplicate of an event already ingested"}},
)
async def ingest_one(
    event: EventIn, principal: Writer, session: SessionDep, request: Request, response: Response
) -> EventAccepted:
    """Ingest one event (201); a repeated `client_id` answers 200 with the stored event's id."""
    report = await service.ingest(
        session,
        principal.tenant_id,
        [event.model_dump(mode="json")],
        actor=principal,
        max_future=_max_future(request),
    )
    result = report.results[0]
    if result.status == "rejected":
        raise ValidationFailed(
            "; ".join(result.errors),
            code="invalid_event",
            errors=[{"loc": ["body"], "msg": message} for message in result.errors],
        )
    assert result.id is not None
    if result.status == "duplicate":
        response.status_code = status.HTTP_200_OK
    return EventAccepted(id=result.id, duplicate=result.status == "duplicate")


@router.post("/batch", response_model=BatchReport, responses=_ERRORS)
async def ingest_batch(
    batch: EventBatch, principal: Writer, session: SessionDep, request: Request
) -> Response:
    """Ingest up to 1,000 events; each is accepted, a duplicate (by `client_id`) or rejected."""
    report = await service.ingest(
        session, principal.tenant_id, batch.events, actor=principal, max_future=_max_future(request)
    )
    return _report_response(report)


def _report_response(report: BatchReport) -> Response:
    # The report is built by the service from typed values: serialised once, not re-validated.
    return Response(content=report.model_dump_json(), media_type="application/json")


async def ingest_for_campaign(
    campaign_id: uuid.UUID,
    batch: EventBatch,
    principal: Writer,
    session: SessionDep,
    request: Request,
) -> Response:
    """Ingest up to 1,000 events of one campaign (`campaign_id` may be left out of each event)."""
    found = await session.execute(
        text("SELECT 1 FROM campaigns WHERE tenant_id = :t AND id = :c"),
        {"t": principal.tenant_id, "c": campaign_id},
    )
    if found.first() is None:
        raise NotFound("No such campaign")
    report = await service.ingest(
        session,
        principal.tenant_id,
        batch.events,
        actor=principal,
        campaign_id=campaign_id,
        max_future=_max_future(request),
    )
    return _report_response(report)
