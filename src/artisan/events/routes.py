"""Event tracking: `POST /api/events` and `/api/events/batch` in, `GET /api/events` out (the
per-campaign route is the campaigns domain's)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status
from pydantic import AwareDatetime

from artisan.auth.dependencies import require_scope
from artisan.auth.principal import Principal
from artisan.config import Settings
from artisan.core.db import SessionDep
from artisan.core.dependencies import SettingsDep
from artisan.core.errors import ValidationFailed, problem_responses
from artisan.core.pagination import Page, PageParams, page_params
from artisan.events import service
from artisan.events.schemas import (
    BatchReport,
    EventAccepted,
    EventBatch,
    EventChannel,
    EventFilters,
    EventIn,
    EventOut,
    EventType,
    batch_report_response,
)

router = APIRouter(prefix="/api/events", tags=["events"])
Writer = Annotated[Principal, Depends(require_scope("events:write"))]
Reader = Annotated[Principal, Depends(require_scope("analytics:read"))]
_ERRORS = problem_responses(401, 402, 403, 404, 409, 422, 429)


def _max_future(settings: Settings) -> timedelta:
    return timedelta(seconds=settings.events_max_future_seconds)


@router.post(
    "",
    response_model=EventAccepted,
    status_code=status.HTTP_201_CREATED,
    responses={**_ERRORS, 200: {"description": "A duplicate of an event already ingested"}},
)
async def ingest_one(
    event: EventIn,
    principal: Writer,
    session: SessionDep,
    settings: SettingsDep,
    response: Response,
) -> EventAccepted:
    """Ingest one event (201); a repeated `client_id` answers 200 with the stored event's id."""
    report = await service.ingest(
        session,
        principal.tenant_id,
        [event.model_dump(mode="json")],
        actor=principal,
        max_future=_max_future(settings),
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
    batch: EventBatch, principal: Writer, session: SessionDep, settings: SettingsDep
) -> Response:
    """Ingest up to 1,000 events; each is accepted, a duplicate (by `client_id`) or rejected."""
    report = await service.ingest(
        session,
        principal.tenant_id,
        batch.events,
        actor=principal,
        max_future=_max_future(settings),
    )
    return batch_report_response(report)


@router.get("", response_model=Page[EventOut], responses=_ERRORS)
async def list_events(
    principal: Reader,
    session: SessionDep,
    page: Annotated[PageParams, Depends(page_params)],
    campaign_id: uuid.UUID | None = None,
    lead_id: uuid.UUID | None = None,
    event_type: Annotated[EventType | None, Query(alias="type")] = None,
    channel: EventChannel | None = None,
    occurred_after: Annotated[
        AwareDatetime | None, Query(description="Events at or after this time")
    ] = None,
    occurred_before: Annotated[
        AwareDatetime | None, Query(description="Events before this time")
    ] = None,
    simulated: Annotated[
        bool | None, Query(description="Only simulated (true) or only real (false) events")
    ] = None,
) -> Page[EventOut]:
    """List the tenant's events, most recent occurrence first, with filters."""
    filters = EventFilters(
        campaign_id=campaign_id,
        lead_id=lead_id,
        type=event_type,
        channel=channel,
        occurred_after=occurred_after,
        occurred_before=occurred_before,
        simulated=simulated,
    )
    rows, cursor = await service.list_events(session, principal, page, filters)
    return Page.of([service.event_out(row) for row in rows], cursor)
