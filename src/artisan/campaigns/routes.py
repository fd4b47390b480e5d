"""Campaigns: CRUD, lifecycle actions, enrolment, preview, simulation: `/api/campaigns`."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from artisan.auth.dependencies import require_scope
from artisan.auth.principal import Principal
from artisan.campaigns import enrolment, lifecycle, service, simulation
from artisan.campaigns.schemas import (
    CampaignCreate,
    CampaignOut,
    CampaignUpdate,
    EnrolledLead,
    EnrolReport,
    EnrolRequest,
    PreviewOut,
    PreviewRequest,
    SimulateOut,
    SimulateRequest,
)
from artisan.core.db import SessionDep
from artisan.core.dependencies import SettingsDep
from artisan.core.errors import problem_responses
from artisan.core.pagination import Page, PageParams, page_params
from artisan.events import service as events_service
from artisan.events.schemas import BatchReport, EventBatch, batch_report_response
from artisan.models.campaign import CampaignStatus

router = APIRouter(prefix="/api/campaigns", tags=["campaigns"])
Reader = Annotated[Principal, Depends(require_scope("campaigns:read"))]
Writer = Annotated[Principal, Depends(require_scope("campaigns:write"))]
EventWriter = Annotated[Principal, Depends(require_scope("events:write"))]
_ERRORS = problem_responses(401, 402, 403, 404, 409, 422, 429)


@router.post("", response_model=CampaignOut, status_code=status.HTTP_201_CREATED, responses=_ERRORS)
async def create_campaign(
    data: CampaignCreate, principal: Writer, session: SessionDep
) -> CampaignOut:
    """Create a draft campaign; templates are checked for unknown `{{variables}}`."""
    campaign = await service.create_campaign(session, principal, data)
    return await service.campaign_out(session, campaign)


@router.get("", response_model=Page[CampaignOut], responses=_ERRORS)
async def list_campaigns(
    principal: Reader,
    session: SessionDep,
    page: Annotated[PageParams, Depends(page_params)],
    campaign_status: Annotated[CampaignStatus | None, Query(alias="status")] = None,
    q: Annotated[str | None, Query(max_length=100, description="Search names")] = None,
) -> Page[CampaignOut]:
    """List campaigns, newest first."""
    rows, cursor = await service.list_campaigns(
        session, principal, page, status=campaign_status, q=q
    )
    return Page.of(await service.campaigns_out(session, rows), cursor)


@router.get("/{campaign_id}", response_model=CampaignOut, responses=_ERRORS)
async def get_campaign(
    campaign_id: uuid.UUID, principal: Reader, session: SessionDep
) -> CampaignOut:
    """Read one campaign with its steps, schedule and allowed lifecycle actions."""
    campaign = await service.get_campaign(session, principal, campaign_id)
    return await service.campaign_out(session, campaign)


@router.patch("/{campaign_id}", response_model=CampaignOut, responses=_ERRORS)
async def update_campaign(
    campaign_id: uuid.UUID, data: CampaignUpdate, principal: Writer, session: SessionDep
) -> CampaignOut:
    """Change a campaign that is not completed or archived."""
    campaign = await service.update_campaign(session, principal, campaign_id, data)
    return await service.campaign_out(session, campaign)


@router.delete("/{campaign_id}", status_code=status.HTTP_204_NO_CONTENT, responses=_ERRORS)
async def delete_campaign(
    campaign_id: uuid.UUID, principal: Writer, session: SessionDep
) -> Response:
    """Delete a draft campaign (others are completed and archived, keeping their history)."""
    await service.delete_campaign(session, principal, campaign_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


async def _act(
    action: str, campaign_id: uuid.UUID, principal: Principal, session: SessionDep
) -> CampaignOut:
    campaign = await lifecycle.transition(session, principal, campaign_id, action)
    return await service.campaign_out(session, campaign)


@router.post("/{campaign_id}/launch", response_model=CampaignOut, responses=_ERRORS)
async def launch(campaign_id: uuid.UUID, principal: Writer, session: SessionDep) -> CampaignOut:
    """Launch a draft (scheduled when its start is ahead) or start a scheduled campaign now."""
    return await _act("launch", campaign_id, principal, session)


@router.post("/{campaign_id}/pause", response_model=CampaignOut, responses=_ERRORS)
async def pause(campaign_id: uuid.UUID, principal: Writer, session: SessionDep) -> CampaignOut:
    """Pause an active campaign."""
    return await _act("pause", campaign_id, principal, session)


@router.post("/{campaign_id}/resume", response_model=CampaignOut, responses=_ERRORS)
async def resume(campaign_id: uuid.UUID, principal: Writer, session: SessionDep) -> CampaignOut:
    """Resume a paused campaign."""
    return await _act("resume", campaign_id, principal, session)


@router.post("/{campaign_id}/complete", response_model=CampaignOut, responses=_ERRORS)
async def complete(campaign_id: uuid.UUID, principal: Writer, session: SessionDep) -> CampaignOut:
    """Complete an active or paused campaign."""
    return await _act("complete", campaign_id, principal, session)


@router.post("/{campaign_id}/archive", response_model=CampaignOut, responses=_ERRORS)
async def archive(campaign_id: uuid.UUID, principal: Writer, session: SessionDep) -> CampaignOut:
    """Archive a completed campaign (it stops counting towards the plan's limit)."""
    return await _act("archive", campaign_id, principal, session)


@router.post("/{campaign_id}/leads", response_model=EnrolReport, responses=_ERRORS)
async def enrol(
    campaign_id: uuid.UUID,
    data: EnrolRequest,
    principal: Writer,
    session: SessionDep,
    settings: SettingsDep,
) -> EnrolReport:
    """Enrol up to 1,000 leads; suppressed ones and those past the limit are reported instead."""
    return await enrolment.enrol(
        session,
        principal,
        campaign_id,
        data.lead_ids,
        max_enrolments=settings.campaign_max_enrolments,
    )


@router.get("/{campaign_id}/leads", response_model=Page[EnrolledLead], responses=_ERRORS)
async def list_enrolled(
    campaign_id: uuid.UUID,
    principal: Reader,
    session: SessionDep,
    page: Annotated[PageParams, Depends(page_params)],
) -> Page[EnrolledLead]:
    """List the campaign's enrolled leads, most recently enrolled first."""
    rows, cursor = await enrolment.list_enrolled(session, principal, campaign_id, page)
    return Page.of(rows, cursor)


@router.post("/{campaign_id}/preview", response_model=PreviewOut, responses=_ERRORS)
async def preview(
    campaign_id: uuid.UUID, data: PreviewRequest, principal: Reader, session: SessionDep
) -> PreviewOut:
    """Render one step for a lead or for sample values."""
    return await service.preview(session, principal, campaign_id, data)


@router.post("/{campaign_id}/simulate", response_model=SimulateOut, responses=_ERRORS)
async def simulate(
    campaign_id: uuid.UUID, data: SimulateRequest, principal: Writer, session: SessionDep
) -> SimulateOut:
    """Generate a seeded, reproducible event stream for the enrolled leads, marked simulated."""
    return await simulation.simulate(session, principal, campaign_id, data)


@router.post(
    "/{campaign_id}/events", response_model=BatchReport, tags=["events"], responses=_ERRORS
)
async def ingest_for_campaign(
    campaign_id: uuid.UUID,
    batch: EventBatch,
    principal: EventWriter,
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    """Ingest up to 1,000 events of one campaign (`campaign_id` may be left out of each event)."""
    await service.check_campaign(session, principal, campaign_id)
    report = await events_service.ingest(
        session,
        principal.tenant_id,
        batch.events,
        actor=principal,
        campaign_id=campaign_id,
        max_future=timedelta(seconds=settings.events_max_future_seconds),
    )
    return batch_report_response(report)
