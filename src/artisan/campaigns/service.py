"""Campaigns: the tenant's campaigns, their wire form, CRUD and step preview.

The lifecycle lives in `lifecycle` (its table in `states`), enrolment in `enrolment` and
simulation in `simulation`; each reaches campaigns through `tenant_campaigns` and `get_campaign`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from artisan.audit.recorder import Target, record
from artisan.auth.principal import Principal
from artisan.campaigns import domain_events
from artisan.campaigns.schemas import (
    CampaignCreate,
    CampaignOut,
    CampaignUpdate,
    PreviewOut,
    PreviewRequest,
    StepOut,
)
from artisan.campaigns.states import EDITABLE, allowed_actions
from artisan.campaigns.templates import render
from artisan.core.db import one_or_404
from artisan.core.errors import Conflict, ValidationFailed
from artisan.core.pagination import LIKE_ESCAPE, PageParams, contains_pattern, paginate
from artisan.leads.service import get_lead
from artisan.models.campaign import Campaign, CampaignStatus, Enrollment
from artisan.models.user import User
from artisan.tenants.service import check_limit
from artisan.users.service import tenant_users


def tenant_campaigns(principal: Principal) -> Select[Campaign]:
    """The tenant's campaigns: the one place the tenant filter is written."""
    return select(Campaign).where(Campaign.tenant_id == principal.tenant_id)


async def get_campaign(
    session: AsyncSession, principal: Principal, campaign_id: uuid.UUID, *, for_update: bool = False
) -> Campaign:
    """A campaign of the principal's tenant; 404 for anything else."""
    query = tenant_campaigns(principal).where(Campaign.id == campaign_id)
    return await one_or_404(session, query, "No such campaign", for_update=for_update)


async def check_campaign(
    session: AsyncSession, principal: Principal, campaign_id: uuid.UUID
) -> None:
    """404 unless the campaign is one of the principal's tenant (its row is not loaded)."""
    query = (
        tenant_campaigns(principal).with_only_columns(Campaign.id).where(Campaign.id == campaign_id)
    )
    await one_or_404(session, query, "No such campaign")


async def enrolled_counts(
    session: AsyncSession, campaigns: Sequence[Campaign]
) -> dict[uuid.UUID, int]:
    """Enrolled leads of each campaign, in one grouped query (a list page is one round trip)."""
    if not campaigns:
        return {}
    query = (
        select(Enrollment.campaign_id, func.count())
        .where(
            Enrollment.tenant_id == campaigns[0].tenant_id,
            Enrollment.campaign_id.in_([c.id for c in campaigns]),
        )
        .group_by(Enrollment.campaign_id)
    )
    counts = {
        campaign_id: int(count) for campaign_id, count in (await session.execute(query)).all()
    }
    return {c.id: counts.get(c.id, 0) for c in campaigns}


def _campaign_wire(campaign: Campaign, enrolled: int) -> CampaignOut:
    return CampaignOut(
        id=campaign.id,
        name=campaign.name,
        description=campaign.description,
        channels=list(campaign.channels),
        steps=[StepOut(number=i, **step) for i, step in enumerate(campaign.steps, start=1)],
        schedule=dict(campaign.schedule),
        status=campaign.status,
        allowed_actions=allowed_actions(campaign.status),
        owner_id=campaign.owner_id,
        enrolled=enrolled,
        launched_at=campaign.launched_at,
        completed_at=campaign.completed_at,
        archived_at=campaign.archived_at,
        created_at=campaign.created_at,
        updated_at=campaign.updated_at,
    )


async def campaigns_out(session: AsyncSession, campaigns: Sequence[Campaign]) -> list[CampaignOut]:
    """The wire form of campaigns, with their enrolment counts."""
    counts = await enrolled_counts(session, campaigns)
    return [_campaign_wire(c, counts[c.id]) for c in campaigns]


async def campaign_out(session: AsyncSession, campaign: Campaign) -> CampaignOut:
    """The wire form of a campaign."""
    return (await campaigns_out(session, [campaign]))[0]


def campaign_target(campaign: Campaign) -> Target:
    """The audit target naming a campaign."""
    return Target("campaign", str(campaign.id), campaign.name)


async def _check_owner(session: AsyncSession, principal: Principal, owner_id: uuid.UUID) -> None:
    query = tenant_users(principal).with_only_columns(User.id).where(User.id == owner_id)
    if (await session.execute(query)).first() is None:
        raise ValidationFailed("owner_id is not a user of this tenant", code="invalid_owner")


def _channels(requested: Sequence[str] | None, steps: list[dict[str, Any]]) -> list[str]:
    used = list(dict.fromkeys(step["channel"] for step in steps))
    if requested is None:
        return used
    missing = [c for c in used if c not in requested]
    if missing:
        raise ValidationFailed(
            f"Steps use channels the campaign does not list: {', '.join(missing)}",
            code="invalid_channels",
        )
    return list(dict.fromkeys(requested))


async def create_campaign(
    session: AsyncSession, principal: Principal, data: CampaignCreate
) -> Campaign:
    """Create a draft campaign within the plan's campaign limit."""
    tenant_id = principal.tenant_id
    await check_limit(session, tenant_id, "campaigns")
    owner_id = data.owner_id or principal.user_id
    if data.owner_id is not None:
        await _check_owner(session, principal, data.owner_id)
    steps = [step.model_dump(mode="json") for step in data.steps]
    campaign = Campaign(
        tenant_id=tenant_id,
        name=data.name,
        description=data.description,
        channels=_channels(data.channels, steps),
        steps=steps,
        schedule=data.schedule.model_dump(mode="json"),
        status=CampaignStatus.draft,
        owner_id=owner_id,
    )
    session.add(campaign)
    await session.flush()
    await session.refresh(campaign)
    await record(
        session,
        "campaign.created",
        tenant_id=tenant_id,
        actor=principal,
        targets=[campaign_target(campaign)],
    )
    await domain_events.campaign_created(session, campaign, actor_id=principal.user_id)
    return campaign


async def list_campaigns(
    session: AsyncSession,
    principal: Principal,
    params: PageParams,
    *,
    status: CampaignStatus | None,
    q: str | None,
) -> tuple[list[Campaign], str | None]:
    """One page of the tenant's campaigns, newest first."""
    query = tenant_campaigns(principal)
    if status is not None:
        query = query.where(Campaign.status == status)
    if q:
        query = query.where(func.lower(Campaign.name).like(contains_pattern(q), escape=LIKE_ESCAPE))
    rows, cursor = await paginate(session, query, Campaign.id, params)
    return list(rows), cursor


async def update_campaign(
    session: AsyncSession, principal: Principal, campaign_id: uuid.UUID, data: CampaignUpdate
) -> Campaign:
    """Change a campaign that is not yet completed or archived."""
    campaign = await get_campaign(session, principal, campaign_id, for_update=True)
    if campaign.status not in EDITABLE:
        raise Conflict(
            f"A {campaign.status} campaign cannot be changed", code="campaign_not_editable"
        )
    changes = data.model_dump(exclude_unset=True)
    for required in ("name", "steps", "schedule"):
        if required in changes and changes[required] is None:
            raise ValidationFailed(f"{required} cannot be removed", code=f"{required}_required")
    if "owner_id" in changes and data.owner_id is not None:
        await _check_owner(session, principal, data.owner_id)
    if data.steps is not None:
        campaign.steps = [step.model_dump(mode="json") for step in data.steps]
    if "steps" in changes or "channels" in changes:
        campaign.channels = _channels(
            data.channels if "channels" in changes else campaign.channels, campaign.steps
        )
    if data.schedule is not None:
        campaign.schedule = data.schedule.model_dump(mode="json")
    if data.name is not None:
        campaign.name = data.name
    if "description" in changes:
        campaign.description = data.description
    if "owner_id" in changes:
        campaign.owner_id = data.owner_id
    if changes:
        await session.flush()
        await session.refresh(campaign)
        await record(
            session,
            "campaign.updated",
            tenant_id=campaign.tenant_id,
            actor=principal,
            targets=[campaign_target(campaign)],
            metadata={"changed": sorted(changes)},
        )
    return campaign


async def delete_campaign(
    session: AsyncSession, principal: Principal, campaign_id: uuid.UUID
) -> None:
    """Delete a draft campaign; others are completed and archived instead, keeping history."""
    campaign = await get_campaign(session, principal, campaign_id, for_update=True)
    if campaign.status != CampaignStatus.draft:
        raise Conflict(
            "Only draft campaigns can be deleted; complete and archive the others",
            code="campaign_not_deletable",
            allowed_actions=allowed_actions(campaign.status),
        )
    await record(
        session,
        "campaign.deleted",
        tenant_id=campaign.tenant_id,
        actor=principal,
        targets=[campaign_target(campaign)],
    )
    await session.delete(campaign)
    await session.flush()


async def preview(
    session: AsyncSession, principal: Principal, campaign_id: uuid.UUID, data: PreviewRequest
) -> PreviewOut:
    """Render one step for a lead (or sample values), naming variables left without a value."""
    campaign = await get_campaign(session, principal, campaign_id)
    if data.step > len(campaign.steps):
        raise ValidationFailed(f"The campaign has {len(campaign.steps)} steps", code="no_such_step")
    step = campaign.steps[data.step - 1]
    if data.lead_id is not None:
        lead_row = await get_lead(session, principal, data.lead_id)
        lead: dict[str, Any] = {
            "first_name": lead_row.first_name,
            "last_name": lead_row.last_name,
            "email": lead_row.email,
            "company": lead_row.company,
            "title": lead_row.title,
            "phone": lead_row.phone,
            "linkedin_url": lead_row.linkedin_url,
            "timezone": lead_row.timezone,
            "custom_fields": lead_row.custom_fields,
        }
    else:
        lead = dict(data.sample or {})
    subject, missing_subject = render(step.get("subject") or "", lead)
    body, missing_body = render(step.get("body") or "", lead)
    return PreviewOut(
        step=data.step,
        channel=step["channel"],
        subject=subject if step.get("subject") else None,
        body=body,
        missing_variables=sorted(set(missing_subject + missing_body)),
    )
