"""Enrolment: leads joining a campaign, within its limit and never past the suppression list."""

from __future__ import annotations

import uuid

from sqlalchemy import Select, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from artisan.audit.recorder import record
from artisan.auth.principal import Principal
from artisan.campaigns import domain_events
from artisan.campaigns.schemas import EnrolledLead, EnrolReport
from artisan.campaigns.service import campaign_target, enrolled_counts, get_campaign
from artisan.campaigns.states import CLOSED
from artisan.core.errors import Conflict
from artisan.core.pagination import PageParams, decode_cursor, encode_cursor
from artisan.leads.service import suppressed_emails, tenant_leads
from artisan.models.campaign import Campaign, Enrollment
from artisan.models.lead import Lead, LeadStatus

# Leads whose own status already rules out more outreach.
_UNREACHABLE = frozenset({LeadStatus.bounced, LeadStatus.unsubscribed})


def campaign_enrollments(campaign: Campaign) -> Select[Enrollment]:
    """A campaign's enrolments: the one place their tenant and campaign filter is written."""
    return select(Enrollment).where(
        Enrollment.tenant_id == campaign.tenant_id, Enrollment.campaign_id == campaign.id
    )


async def enrol(
    session: AsyncSession,
    principal: Principal,
    campaign_id: uuid.UUID,
    lead_ids: list[uuid.UUID],
    *,
    max_enrolments: int,
) -> EnrolReport:
    """Enrol leads, skipping suppressed ones and stopping at the campaign's enrolment limit."""
    campaign = await get_campaign(session, principal, campaign_id, for_update=True)
    if campaign.status in CLOSED:
        raise Conflict(
            f"A {campaign.status} campaign takes no new leads", code="campaign_not_enrollable"
        )
    wanted = list(dict.fromkeys(lead_ids))
    found = await session.execute(
        tenant_leads(principal)
        .with_only_columns(Lead.id, Lead.email, Lead.status)
        .where(Lead.id.in_(wanted))
    )
    leads = {row.id: row for row in found.all()}
    suppressed = await suppressed_emails(
        session, campaign.tenant_id, [row.email.lower() for row in leads.values()]
    )
    already = set(
        (
            await session.execute(
                campaign_enrollments(campaign)
                .with_only_columns(Enrollment.lead_id)
                .where(Enrollment.lead_id.in_(wanted))
            )
        ).scalars()
    )
    enrolled = (await enrolled_counts(session, [campaign]))[campaign.id]
    room = max(0, max_enrolments - enrolled)
    report = EnrolReport(
        enrolled=[], already_enrolled=[], suppressed=[], not_found=[], over_limit=[]
    )
    for lead_id in wanted:
        lead = leads.get(lead_id)
        if lead is None:
            report.not_found.append(lead_id)
        elif lead.email.lower() in suppressed or lead.status in _UNREACHABLE:
            report.suppressed.append(lead_id)
        elif lead_id in already:
            report.already_enrolled.append(lead_id)
        elif len(report.enrolled) >= room:
            report.over_limit.append(lead_id)
        else:
            report.enrolled.append(lead_id)
    if report.enrolled:
        await session.execute(
            insert(Enrollment)
            .values(
                [
                    {"tenant_id": campaign.tenant_id, "campaign_id": campaign.id, "lead_id": lid}
                    for lid in report.enrolled
                ]
            )
            .on_conflict_do_nothing()
        )
        await record(
            session,
            "campaign.leads_enrolled",
            tenant_id=campaign.tenant_id,
            actor=principal,
            targets=[campaign_target(campaign)],
            metadata={
                "enrolled": len(report.enrolled),
                "suppressed": len(report.suppressed),
                "over_limit": len(report.over_limit),
            },
        )
        await domain_events.leads_enrolled(session, campaign, report.enrolled)
    return report


async def list_enrolled(
    session: AsyncSession, principal: Principal, campaign_id: uuid.UUID, params: PageParams
) -> tuple[list[EnrolledLead], str | None]:
    """One page of a campaign's enrolled leads, most recently enrolled first."""
    campaign = await get_campaign(session, principal, campaign_id)
    query = (
        campaign_enrollments(campaign).add_columns(Lead).join(Lead, Lead.id == Enrollment.lead_id)
    )
    if params.cursor:
        query = query.where(Enrollment.id < decode_cursor(params.cursor))
    rows = (
        await session.execute(query.order_by(Enrollment.id.desc()).limit(params.limit + 1))
    ).all()
    has_more = len(rows) > params.limit
    rows = rows[: params.limit]
    cursor = encode_cursor(rows[-1][0].id) if has_more and rows else None
    return [
        EnrolledLead(
            enrollment_id=enrolment.id,
            lead_id=lead.id,
            email=lead.email,
            first_name=lead.first_name,
            last_name=lead.last_name,
            company=lead.company,
            lead_status=lead.status,
            enrollment_status=enrolment.status,
            enrolled_at=enrolment.created_at,
        )
        for enrolment, lead in rows
    ], cursor
