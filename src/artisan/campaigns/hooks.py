"""Domain events of leads, campaigns and event ingestion, emitted as outbound webhooks.

Each function is called inside the transaction that caused the events, so the webhook messages
commit (or roll back) with the change. Bulk paths pass whole lists: the tenant's endpoints are
read once per call, and nothing is written when no endpoint subscribes.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from artisan.core.ids import utcnow
from artisan.webhooks.emit import emit_events

# Campaign status moves and the webhook event each one announces.
_LIFECYCLE_EVENTS = {
    ("paused", "active"): "campaign.resumed",
    ("active", "paused"): "campaign.paused",
}
_STATUS_EVENTS = {
    "scheduled": "campaign.launched",
    "active": "campaign.launched",
    "completed": "campaign.completed",
    "archived": "campaign.archived",
}


async def leads_created(
    session: AsyncSession, tenant_id: uuid.UUID, leads: Sequence[tuple[uuid.UUID, str]]
) -> None:
    """Leads were created (one call per request, imports included): `lead.created` each."""
    now = utcnow()
    await emit_events(
        session,
        tenant_id,
        [
            ("lead.created", {"lead_id": lead_id, "email": email, "occurred_at": now})
            for lead_id, email in leads
        ],
    )


async def lead_states_changed(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    changes: Sequence[tuple[uuid.UUID, str, str]],
    *,
    cause: str,
) -> None:
    """Leads' statuses changed (lead id, before, after): `lead.status_changed` each."""
    now = utcnow()
    await emit_events(
        session,
        tenant_id,
        [
            (
                "lead.status_changed",
                {
                    "lead_id": lead_id,
                    "previous_status": before,
                    "status": after,
                    "cause": cause,
                    "occurred_at": now,
                },
            )
            for lead_id, before, after in changes
        ],
    )


async def lead_suppressed(
    session: AsyncSession, tenant_id: uuid.UUID, *, email: str, reason: str
) -> None:
    """An address joined the suppression list: `lead.suppressed`."""
    payload = {"email": email, "reason": reason, "occurred_at": utcnow()}
    await emit_events(session, tenant_id, [("lead.suppressed", payload)])


async def leads_suppressed(
    session: AsyncSession, tenant_id: uuid.UUID, entries: Sequence[tuple[str, str]]
) -> None:
    """Addresses joined the suppression list (email, reason): `lead.suppressed` each."""
    now = utcnow()
    await emit_events(
        session,
        tenant_id,
        [
            ("lead.suppressed", {"email": email, "reason": reason, "occurred_at": now})
            for email, reason in entries
        ],
    )


def lifecycle_event(previous_status: str, status: str) -> str | None:
    """The webhook event announcing a campaign's move from one status to another."""
    return _LIFECYCLE_EVENTS.get((previous_status, status)) or _STATUS_EVENTS.get(status)


async def _campaign_event(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    event_type: str,
    *,
    campaign_id: uuid.UUID,
    name: str,
    status: str,
    actor_id: uuid.UUID | None,
) -> None:
    payload = {
        "campaign_id": campaign_id,
        "name": name,
        "status": status,
        "actor_id": actor_id,
        "occurred_at": utcnow(),
    }
    await emit_events(session, tenant_id, [(event_type, payload)])


async def campaign_created(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    *,
    campaign_id: uuid.UUID,
    name: str,
    status: str,
    actor_id: uuid.UUID | None,
) -> None:
    """A campaign was created: `campaign.created`."""
    await _campaign_event(
        session,
        tenant_id,
        "campaign.created",
        campaign_id=campaign_id,
        name=name,
        status=status,
        actor_id=actor_id,
    )


async def campaign_status_changed(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    *,
    campaign_id: uuid.UUID,
    name: str,
    previous_status: str,
    status: str,
    actor_id: uuid.UUID | None,
    event_type: str | None = None,
) -> None:
    """A campaign moved through its lifecycle: `campaign.launched|paused|resumed|...`, or the
    event named (a scheduled start announces `campaign.started`)."""
    event_type = event_type or lifecycle_event(previous_status, status)
    if event_type is not None:
        await _campaign_event(
            session,
            tenant_id,
            event_type,
            campaign_id=campaign_id,
            name=name,
            status=status,
            actor_id=actor_id,
        )


async def leads_enrolled(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    *,
    campaign_id: uuid.UUID,
    lead_ids: list[uuid.UUID],
) -> None:
    """Leads were enrolled in a campaign: one `campaign.leads_enrolled`."""
    payload = {
        "campaign_id": campaign_id,
        "lead_ids": lead_ids,
        "count": len(lead_ids),
        "occurred_at": utcnow(),
    }
    await emit_events(session, tenant_id, [("campaign.leads_enrolled", payload)])


def _engagement_webhook(event: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """The webhook (type, payload) announcing one ingested engagement event, if any."""
    kind = str(event["type"])
    properties: dict[str, Any] = event.get("properties") or {}
    base = {
        "lead_id": event["lead_id"],
        "campaign_id": event["campaign_id"],
        "occurred_at": event["occurred_at"],
    }
    if kind.endswith(".replied"):
        return "lead.replied", {
            **base,
            "sentiment": properties.get("sentiment"),
            "message_id": properties.get("message_id"),
        }
    if kind.endswith(".bounced"):
        return "lead.bounced", {
            **base,
            "bounce_type": str(properties.get("bounce_type") or "hard"),
            "reason": properties.get("reason"),
        }
    if kind.endswith(".unsubscribed"):
        return "lead.unsubscribed", base
    if kind == "meeting.booked":
        return "meeting.booked", {
            **base,
            "meeting_at": properties.get("meeting_at"),
            "calendar_url": properties.get("calendar_url"),
        }
    return None


async def engagement_recorded(
    session: AsyncSession, tenant_id: uuid.UUID, *, events: list[dict[str, Any]]
) -> None:
    """Replies, bounces, unsubscribes and meetings were ingested (never simulated ones)."""
    webhooks = [hook for hook in map(_engagement_webhook, events) if hook is not None]
    await emit_events(session, tenant_id, webhooks)
