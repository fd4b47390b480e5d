"""The campaign lifecycle in motion: actions a user takes and moves a schedule makes.

Every move locks the campaign, stamps its lifecycle times, records its audit entry and announces
its webhook event in the caller's transaction; `states` says which moves exist.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from artisan.audit.recorder import SYSTEM, Actor, record
from artisan.auth.principal import Principal
from artisan.campaigns import domain_events
from artisan.campaigns.service import campaign_target, get_campaign
from artisan.campaigns.states import (
    ACTIONS,
    AUDIT_ACTIONS,
    SCHEDULED_MOVES,
    TRANSITIONS,
    allowed_actions,
)
from artisan.core.errors import Conflict
from artisan.core.ids import utcnow
from artisan.models.campaign import Campaign, CampaignStatus


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
            raise Conflict(
                "A campaign needs at least one step to launch", code="campaign_incomplete"
            )
        start = campaign.schedule.get("start_at")
        if previous == CampaignStatus.draft and start and datetime.fromisoformat(start) > utcnow():
            target = CampaignStatus.scheduled
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
    target: CampaignStatus,
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
    if target in (CampaignStatus.scheduled, CampaignStatus.active):
        campaign.launched_at = campaign.launched_at or now
    if target == CampaignStatus.completed:
        campaign.completed_at = now
    if target == CampaignStatus.archived:
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
        targets=[campaign_target(campaign)],
        metadata=metadata,
    )
    await domain_events.campaign_moved(
        session, campaign, previous=previous, actor_id=actor_id, event_type=webhook_event
    )


def _schedule_time(key: str) -> Any:
    return Campaign.schedule[key].astext.cast(DateTime(timezone=True))


async def due_by_schedule(
    session: AsyncSession, *, now: datetime | None = None, limit: int = 500
) -> list[uuid.UUID]:
    """Campaigns (of every tenant) whose schedule says they should start or complete by now."""
    now = now or utcnow()
    due = or_(
        *(
            and_(Campaign.status.in_(statuses), _schedule_time(key) <= now)
            for statuses, key, _, _ in SCHEDULED_MOVES
        )
    )
    rows = await session.execute(select(Campaign.id).where(due).order_by(Campaign.id).limit(limit))
    return list(rows.scalars())


async def follow_schedule(
    session: AsyncSession, campaign_id: uuid.UUID, *, now: datetime | None = None
) -> CampaignStatus | None:
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
    moved: CampaignStatus | None = None
    if campaign is None:
        return moved
    for statuses, key, target, audit_action in SCHEDULED_MOVES:
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
