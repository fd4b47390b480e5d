"""What event ingestion announces to the tenant's webhook endpoints: replies, bounces,
unsubscribes and booked meetings (never simulated ones).

Each ingested event of those kinds becomes its webhook event's typed payload (webhooks/events.py),
emitted in the ingesting transaction; lead status changes are the leads domain's to announce.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from artisan.events.validation import ValidEvent
from artisan.webhooks.emit import emit_events
from artisan.webhooks.events import LeadBounced, LeadEvent, LeadReplied, MeetingBooked


def engagement_webhook(event: ValidEvent) -> tuple[str, BaseModel] | None:
    """The webhook event announcing one ingested event, if its kind is announced."""
    kind, properties = event.type, event.properties
    base = {
        "lead_id": event.lead_id,
        "campaign_id": event.campaign_id,
        "occurred_at": event.occurred_at,
    }
    if kind.endswith(".replied"):
        return "lead.replied", LeadReplied(
            **base,
            sentiment=properties.get("sentiment"),
            message_id=properties.get("message_id"),
        )
    if kind.endswith(".bounced"):
        return "lead.bounced", LeadBounced(
            **base,
            bounce_type=str(properties.get("bounce_type") or "hard"),
            reason=properties.get("reason"),
        )
    if kind.endswith(".unsubscribed"):
        return "lead.unsubscribed", LeadEvent(**base)
    if kind == "meeting.booked":
        return "meeting.booked", MeetingBooked(
            **base,
            meeting_at=properties.get("meeting_at"),
            calendar_url=properties.get("calendar_url"),
        )
    return None


async def engagement_recorded(
    session: AsyncSession, tenant_id: uuid.UUID, events: Sequence[ValidEvent]
) -> None:
    """Announce the replies, bounces, unsubscribes and meetings among newly stored events."""
    webhooks = [hook for hook in map(engagement_webhook, events) if hook is not None]
    if webhooks:
        await emit_events(session, tenant_id, webhooks)
