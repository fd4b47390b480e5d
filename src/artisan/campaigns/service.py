"""Campaigns: CRUD, the lifecycle state machine, enrolment, preview and simulation."""

from __future__ import annotations

import hashlib
import random
import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import DateTime, and_, func, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from artisan.audit.recorder import SYSTEM, Actor, Target, record
from artisan.auth.principal import Principal
from artisan.campaigns import hooks
from artisan.campaigns.schemas import (
    CampaignCreate,
    CampaignOut,
    CampaignUpdate,
    EnrolledLead,
    EnrolReport,
    PreviewOut,
    PreviewRequest,
    SimulateOut,
    SimulateRequest,
    SimulationRates,
    StepOut,
)
from artisan.campaigns.templates import render
from artisan.core.errors import AppError, Conflict, NotFound, ValidationFailed
from artisan.core.ids import utcnow
from artisan.core.pagination import PageParams, decode_cursor, encode_cursor, paginate
from artisan.events.schemas import BatchReport
from artisan.events.service import ingest
from artisan.models.campaign import Campaign, Enrollment
from artisan.models.lead import Lead, Suppression
from artisan.models.user import User
from artisan.tenants.service import check_limit

# The lifecycle: draft -> scheduled -> active <-> paused -> completed -> archived, and
# draft -> active. Each action names the states it may start from and where it leads.
TRANSITIONS: dict[str, set[str]] = {
    "draft": {"scheduled", "active"},
    "scheduled": {"active"},
    "active": {"paused", "completed"},
    "paused": {"active", "completed"},
    "completed": {"archived"},
    "archived": set(),
}
ACTIONS: dict[str, dict[str, str]] = {
    "launch": {"draft": "active", "scheduled": "active"},
    "pause": {"active": "paused"},
    "resume": {"paused": "active"},
    "complete": {"active": "completed", "paused": "completed"},
    "archive": {"completed": "archived"},
}
AUDIT_ACTIONS = {
    "launch": "campaign.launched",
    "pause": "campaign.paused",
    "resume": "campaign.resumed",
    "complete": "campaign.completed",
    "archive": "campaign.archived",
}
EDITABLE = {"draft", "scheduled", "active", "paused"}


def allowed_actions(status: str) -> list[str]:
    """The lifecycle actions a campaign in `status` accepts."""
    return [action for action, moves in ACTIONS.items() if status in moves]


async def _enrolled_counts(
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
    counts = await _enrolled_counts(session, campaigns)
    return [_campaign_wire(c, counts[c.id]) for c in campaigns]


async def campaign_out(session: AsyncSession, campaign: Campaign) -> CampaignOut:
    """The wire form of a campaign."""
    return (await campaigns_out(session, [campaign]))[0]


def _target(campaign: Campaign) -> Target:
    return Target("campaign", str(campaign.id), campaign.name)


async def _check_owner(session: AsyncSession, tenant_id: uuid.UUID, owner_id: uuid.UUID) -> None:
    query = select(User.id).where(User.id == owner_id, User.tenant_id == tenant_id)
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
        await _check_owner(session, tenant_id, data.owner_id)
    steps = [step.model_dump(mode="json") for step in data.steps]
    campaign = Campaign(
        tenant_id=tenant_id,
        name=data.name,
        description=data.description,
        channels=_channels(data.channels, steps),
        steps=steps,
        schedule=data.schedule.model_dump(mode="json"),
        status="draft",
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
        targets=[_target(campaign)],
    )
    await hooks.campaign_created(
        session,
        tenant_id,
        campaign_id=campaign.id,
        name=campaign.name,
        status=campaign.status,
        actor_id=principal.user_id,
    )
    return campaign


async def get_campaign(
    session: AsyncSession, principal: Principal, campaign_id: uuid.UUID, *, for_update: bool = False
) -> Campaign:
    """A campaign of the principal's tenant; 404 for anything else."""
    query = select(Campaign).where(
        Campaign.id == campaign_id, Campaign.tenant_id == principal.tenant_id
    )
    if for_update:
        query = query.with_for_update()
    campaign = (await session.execute(query)).scalar_one_or_none()
    if campaign is None:
        raise NotFound("No such campaign")
    return campaign


async def list_campaigns(
    session: AsyncSession,
    principal: Principal,
    params: PageParams,
    *,
    status: str | None,
    q: str | None,
) -> tuple[list[Campaign], str | None]:
    """One page of the tenant's campaigns, newest first."""
    query = select(Campaign).where(Campaign.tenant_id == principal.tenant_id)
    if status is not None:
        query = query.where(Campaign.status == status)
    if q:
        escaped = q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(func.lower(Campaign.name).like(f"%{escaped}%", escape="\\"))
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
        await _check_owner(session, campaign.tenant_id, data.owner_id)
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
            targets=[_target(campaign)],
            metadata={"changed": sorted(changes)},
        )
    return campaign


async def delete_campaign(
    session: AsyncSession, principal: Principal, campaign_id: uuid.UUID
) -> None:
    """Delete a draft campaign; others are completed and archived instead, keeping history."""
    campaign = await get_campaign(session, principal, campaign_id, for_update=True)
    if campaign.status != "draft":
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
        targets=[_target(campaign)],
    )
    await session.delete(campaign)
    await session.flush()


async def transition(
    session: AsyncSession, principal: Principal, campaign_id: uuid.UUID, action: str
) -> Campaign:
    """Apply a lifecycle action; a move the state machine does not allow is a 409."""
    campaign = await get_campaign(session, principal, campaign_id, for_update=True)
    moves = ACTIONS[action]
    previous = campaign.status
    if previous not in moves:
        raise Conflict(
            f"Cannot {action} a {previous} campaign; allowed from {previous}: "
            f"{', '.join(sorted(TRANSITIONS[previous])) or 'none'}",
            code="invalid_transition",
            status_from=previous,
            action=action,
            allowed_transitions=sorted(TRANSITIONS[previous]),
            allowed_actions=allowed_actions(previous),
        )
    target = moves[previous]
    if action == "launch":
        if not campaign.steps:
            raise AppError(
                "A campaign needs at least one step to launch",
                status=409,
                code="campaign_incomplete",
            )
        start = campaign.schedule.get("start_at")
        if previous == "draft" and start and datetime.fromisoformat(start) > utcnow():
            target = "scheduled"
    await _move(
        session,
        campaign,
        target,
        audit_action=AUDIT_ACTIONS[action],
        actor=principal,
        actor_id=principal.user_id,
    )
    return campaign


async def _move(
    session: AsyncSession,
    campaign: Campaign,
    target: str,
    *,
    audit_action: str,
    actor: Actor | Principal,
    actor_id: uuid.UUID | None,
    cause: str | None = None,
    webhook_event: str | None = None,
) -> None:
    """Put a locked campaign in `target`, stamping the lifecycle times; audited and announced
    (as `webhook_event`, or the event its status move implies)."""
    previous, now = campaign.status, utcnow()
    if target in ("scheduled", "active"):
        campaign.launched_at = campaign.launched_at or now
    if target == "completed":
        campaign.completed_at = now
    if target == "archived":
        campaign.archived_at = now
    campaign.status = target
    await session.flush()
    await session.refresh(campaign)
    metadata: dict[str, Any] = {"from": previous, "to": target}
    if cause is not None:
        metadata["cause"] = cause
    await record(
        session,
        audit_action,
        tenant_id=campaign.tenant_id,
        actor=actor,
        targets=[_target(campaign)],
        metadata=metadata,
    )
    await hooks.campaign_status_changed(
        session,
        campaign.tenant_id,
        campaign_id=campaign.id,
        name=campaign.name,
        previous_status=previous,
        status=target,
        actor_id=actor_id,
        event_type=webhook_event,
    )


def _schedule_time(key: str) -> Any:
    return Campaign.schedule[key].astext.cast(DateTime(timezone=True))


# What the schedule job does: (from statuses, schedule time reached, to, audit action).
_SCHEDULED_MOVES = (
    (("scheduled",), "start_at", "active", "campaign.started"),
    (("active", "paused"), "end_at", "completed", "campaign.completed"),
)


async def due_by_schedule(
    session: AsyncSession, *, now: datetime | None = None, limit: int = 500
) -> list[uuid.UUID]:
    """Campaigns (of every tenant) whose schedule says they should start or complete by now."""
    now = now or utcnow()
    due = or_(
        *(
            and_(Campaign.status.in_(statuses), _schedule_time(key) <= now)
            for statuses, key, _, _ in _SCHEDULED_MOVES
        )
    )
    rows = await session.execute(select(Campaign.id).where(due).order_by(Campaign.id).limit(limit))
    return list(rows.scalars())


async def follow_schedule(
    session: AsyncSession, campaign_id: uuid.UUID, *, now: datetime | None = None
) -> str | None:
    """Start a scheduled campaign whose start time came, or complete one whose end passed.

    Locks the campaign and skips it when another transaction holds it; answers the status it
    was moved to, or None when it was not (no longer) due. A campaign past both its start and
    its end is started and completed in the same call.
    """
    now = now or utcnow()
    campaign = (
        await session.execute(
            select(Campaign).where(Campaign.id == campaign_id).with_for_update(skip_locked=True)
        )
    ).scalar_one_or_none()
    moved: str | None = None
    if campaign is None:
        return moved
    for statuses, key, target, audit_action in _SCHEDULED_MOVES:
        at = campaign.schedule.get(key)
        if campaign.status in statuses and at and datetime.fromisoformat(at) <= now:
            await _move(
                session,
                campaign,
                target,
                audit_action=audit_action,
                actor=SYSTEM,
                actor_id=None,
                cause="schedule",
                # Announced under its audit name: a scheduled start is `campaign.started`.
                webhook_event=audit_action,
            )
            moved = target
    return moved


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
    if campaign.status in ("completed", "archived"):
        raise Conflict(
            f"A {campaign.status} campaign takes no new leads", code="campaign_not_enrollable"
        )
    wanted = list(dict.fromkeys(lead_ids))
    leads = {
        row.id: row
        for row in (
            await session.execute(
                select(Lead.id, Lead.email, Lead.status).where(
                    Lead.tenant_id == campaign.tenant_id, Lead.id.in_(wanted)
                )
            )
        ).all()
    }
    suppressed_emails = set(
        (
            await session.execute(
                select(Suppression.email).where(
                    Suppression.tenant_id == campaign.tenant_id,
                    Suppression.email.in_([row.email.lower() for row in leads.values()]),
                )
            )
        ).scalars()
    )
    already = set(
        (
            await session.execute(
                select(Enrollment.lead_id).where(
                    Enrollment.campaign_id == campaign.id, Enrollment.lead_id.in_(wanted)
                )
            )
        ).scalars()
    )
    enrolled = (await _enrolled_counts(session, [campaign]))[campaign.id]
    room = max(0, max_enrolments - enrolled)
    report = EnrolReport(
        enrolled=[], already_enrolled=[], suppressed=[], not_found=[], over_limit=[]
    )
    for lead_id in wanted:
        lead = leads.get(lead_id)
        if lead is None:
            report.not_found.append(lead_id)
        elif lead.email.lower() in suppressed_emails or lead.status in (
            "bounced",
            "unsubscribed",
        ):
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
            targets=[_target(campaign)],
            metadata={
                "enrolled": len(report.enrolled),
                "suppressed": len(report.suppressed),
                "over_limit": len(report.over_limit),
            },
        )
        await hooks.leads_enrolled(
            session, campaign.tenant_id, campaign_id=campaign.id, lead_ids=report.enrolled
        )
    return report


async def list_enrolled(
    session: AsyncSession, principal: Principal, campaign_id: uuid.UUID, params: PageParams
) -> tuple[list[EnrolledLead], str | None]:
    """One page of a campaign's enrolled leads, most recently enrolled first."""
    campaign = await get_campaign(session, principal, campaign_id)
    query = (
        select(Enrollment, Lead)
        .join(Lead, Lead.id == Enrollment.lead_id)
        .where(Enrollment.tenant_id == campaign.tenant_id, Enrollment.campaign_id == campaign.id)
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


async def preview(
    session: AsyncSession, principal: Principal, campaign_id: uuid.UUID, data: PreviewRequest
) -> PreviewOut:
    """Render one step for a lead (or sample values), naming variables left without a value."""
    campaign = await get_campaign(session, principal, campaign_id)
    if data.step > len(campaign.steps):
        raise ValidationFailed(f"The campaign has {len(campaign.steps)} steps", code="no_such_step")
    step = campaign.steps[data.step - 1]
    if data.lead_id is not None:
        lead_row = (
            await session.execute(
                select(Lead).where(Lead.id == data.lead_id, Lead.tenant_id == campaign.tenant_id)
            )
        ).scalar_one_or_none()
        if lead_row is None:
            raise NotFound("No such lead")
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


def _moment(rng: random.Random, start: datetime, end: datetime) -> datetime:
    span = (end - start).total_seconds()
    return start + timedelta(seconds=int(rng.random() * span))


def simulate_events(
    campaign_id: uuid.UUID,
    steps: list[dict[str, Any]],
    lead_ids: list[uuid.UUID],
    *,
    seed: int,
    start: datetime,
    end: datetime,
    rates: SimulationRates,
) -> list[dict[str, Any]]:
    """A realistic event stream, a pure function of its arguments (same seed, same events)."""
    rng = random.Random(seed)  # noqa: S311 - reproducible simulation, not security
    events: list[dict[str, Any]] = []
    span = end - start
    prefix = hashlib.sha256(f"{campaign_id}:{seed}".encode()).hexdigest()[:16]

    def emit(kind: str, lead_id: uuid.UUID, step: int | None, at: datetime, **props: Any) -> None:
        events.append(
            {
                "type": kind,
                "campaign_id": str(campaign_id),
                "lead_id": str(lead_id),
                "step": step,
                "occurred_at": min(at, end).isoformat(),
                "properties": props,
                "client_id": f"sim:{prefix}:{lead_id}:{step}:{kind}",
            }
        )

    for lead_id in sorted(lead_ids):
        at = _moment(rng, start, start + span / 2)
        stopped = False
        for number, step in enumerate(steps, start=1):
            if stopped:
                break
            at += timedelta(days=step.get("delay_days", 0), hours=step.get("delay_hours", 0))
            if at >= end:
                break
            channel = step["channel"]
            if channel == "email":
                emit("email.sent", lead_id, number, at)
                if rng.random() < rates.bounce:
                    emit("email.bounced", lead_id, number, at + timedelta(minutes=1))
                    stopped = True
                    continue
                emit("email.delivered", lead_id, number, at + timedelta(seconds=30))
                if rng.random() < rates.open:
                    opened = at + timedelta(minutes=rng.randint(5, 600))
                    emit("email.opened", lead_id, number, opened)
                    if rng.random() < rates.click:
                        emit("email.clicked", lead_id, number, opened + timedelta(minutes=1))
                if rng.random() < rates.unsubscribe:
                    emit("email.unsubscribed", lead_id, number, at + timedelta(hours=2))
                    stopped = True
                    continue
                replied = rng.random() < rates.reply
                kind = "email.replied"
            elif channel == "linkedin":
                emit("linkedin.connection_sent", lead_id, number, at)
                if rng.random() >= rates.connection_accept:
                    continue
                emit("linkedin.connection_accepted", lead_id, number, at + timedelta(hours=5))
                emit("linkedin.message_sent", lead_id, number, at + timedelta(hours=6))
                replied = rng.random() < rates.reply
                kind = "linkedin.replied"
            elif channel == "call":
                emit("call.completed", lead_id, number, at)
                replied = False
                kind = ""
            else:
                continue
            if replied:
                positive = rng.random() < rates.positive_reply
                sentiment = "positive" if positive else rng.choice(["neutral", "negative"])
                reply_at = at + timedelta(hours=rng.randint(1, 48))
                emit(kind, lead_id, number, reply_at, sentiment=sentiment)
                if positive and rng.random() < rates.meeting:
                    emit("meeting.booked", lead_id, number, reply_at + timedelta(hours=3))
                stopped = True
    return [e for e in events if datetime.fromisoformat(e["occurred_at"]) < end]


async def simulate(
    session: AsyncSession, principal: Principal, campaign_id: uuid.UUID, data: SimulateRequest
) -> SimulateOut:
    """Generate and ingest simulated events for the enrolled leads (idempotent per seed)."""
    campaign = await get_campaign(session, principal, campaign_id)
    if not campaign.steps:
        raise AppError(
            "A campaign needs at least one step to simulate", status=409, code="campaign_incomplete"
        )
    lead_ids = list(
        (
            await session.execute(
                select(Enrollment.lead_id).where(
                    Enrollment.tenant_id == campaign.tenant_id,
                    Enrollment.campaign_id == campaign.id,
                )
            )
        ).scalars()
    )
    events = simulate_events(
        campaign.id,
        campaign.steps,
        lead_ids,
        seed=data.seed,
        start=data.start,
        end=data.end,
        rates=data.rates,
    )
    inserted = 0
    for offset in range(0, len(events), 1000):
        report: BatchReport = await ingest(
            session,
            campaign.tenant_id,
            events[offset : offset + 1000],
            actor=principal,
            campaign_id=campaign.id,
            simulated=True,
            max_future=timedelta(days=366 * 2),
        )
        inserted += report.accepted
    await record(
        session,
        "campaign.simulated",
        tenant_id=campaign.tenant_id,
        actor=principal,
        targets=[_target(campaign)],
        metadata={"seed": data.seed, "generated": len(events), "inserted": inserted},
    )
    return SimulateOut(
        seed=data.seed,
        leads=len(lead_ids),
        generated=len(events),
        inserted=inserted,
        by_type=dict(sorted(Counter(e["type"] for e in events).items())),
    )
