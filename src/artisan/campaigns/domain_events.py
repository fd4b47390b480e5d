"""What the campaigns domain announces to the tenant's webhook endpoints.

Each function builds its event's typed payload (webhooks/events.py) and emits it in the caller's
transaction, so the message commits or rolls back with the change it announces.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from artisan.core.ids import utcnow
from artisan.models.campaign import Campaign, CampaignStatus
from artisan.webhooks.emit import emit_event
from artisan.webhooks.events import CampaignLeadsEnrolled, CampaignLifecycle

# Status moves and the event each announces: a resume and a pause by their pair, the others by
# where they lead.
_MOVE_EVENTS = {
    (CampaignStatus.paused, CampaignStatus.active): "campaign.resumed",
    (CampaignStatus.active, CampaignStatus.paused): "campaign.paused",
}
_ARRIVAL_EVENTS = {
    CampaignStatus.scheduled: "campaign.launched",
    CampaignStatus.active: "campaign.launched",
    CampaignStatus.completed: "campaign.completed",
    CampaignStatus.archived: "campaign.archived",
}


def lifecycle_event(previous: CampaignStatus, status: CampaignStatus) -> str | None:
    """The event announcing a campaign's move from one status to another."""
    return _MOVE_EVENTS.get((previous, status)) or _ARRIVAL_EVENTS.get(status)


def _lifecycle(campaign: Campaign, actor_id: uuid.UUID | None) -> CampaignLifecycle:
    return CampaignLifecycle(
        campaign_id=campaign.id,
        name=campaign.name,
        status=campaign.status,
        actor_id=actor_id,
        occurred_at=utcnow(),
    )


async def campaign_created(
    session: AsyncSession, campaign: Campaign, *, actor_id: uuid.UUID | None
) -> None:
    """`campaign.created`."""
    await emit_event(
        session, campaign.tenant_id, "campaign.created", _lifecycle(campaign, actor_id)
    )


async def campaign_moved(
    session: AsyncSession,
    campaign: Campaign,
    *,
    previous: CampaignStatus,
    actor_id: uuid.UUID | None,
    event_type: str | None = None,
) -> None:
    """`campaign.launched|paused|resumed|completed|archived` for the move just made, or the event
    named (a scheduled start announces `campaign.started`)."""
    event_type = event_type or lifecycle_event(previous, campaign.status)
    if event_type is not None:
        await emit_event(session, campaign.tenant_id, event_type, _lifecycle(campaign, actor_id))


async def leads_enrolled(
    session: AsyncSession, campaign: Campaign, lead_ids: Sequence[uuid.UUID]
) -> None:
    """One `campaign.leads_enrolled` for the leads a call enrolled."""
    payload = CampaignLeadsEnrolled(
        campaign_id=campaign.id, lead_ids=list(lead_ids), count=len(lead_ids), occurred_at=utcnow()
    )
    await emit_event(session, campaign.tenant_id, "campaign.leads_enrolled", payload)
