"""Domain-event hook points of leads, campaigns and events.

Each function is called once per domain event, inside the transaction that caused it, with the
data a webhook payload needs. They are where outbound webhooks are emitted from; until that domain
is wired in they only log.
"""

from __future__ import annotations

import uuid
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

log = structlog.get_logger(__name__)


async def lead_created(session: AsyncSession, tenant_id: uuid.UUID, lead: dict[str, Any]) -> None:
    """A lead was created (one call per lead, imports included)."""
    log.debug("lead.created", tenant_id=str(tenant_id), lead_id=lead.get("id"))


async def lead_state_changed(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    *,
    lead_id: uuid.UUID,
    previous_status: str,
    status: str,
    cause: str,
) -> None:
    """A lead's status changed (reply, bounce, unsubscribe, meeting or a manual edit)."""
    log.debug("lead.status_changed", tenant_id=str(tenant_id), lead_id=str(lead_id), status=status)


async def lead_suppressed(
    session: AsyncSession, tenant_id: uuid.UUID, *, email: str, reason: str
) -> None:
    """An address joined the suppression list."""
    log.debug("lead.suppressed", tenant_id=str(tenant_id), reason=reason)


async def campaign_status_changed(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    *,
    campaign_id: uuid.UUID,
    previous_status: str,
    status: str,
) -> None:
    """A campaign moved through its lifecycle (launch, pause, resume, complete, archive)."""
    log.debug("campaign.status_changed", campaign_id=str(campaign_id), status=status)


async def leads_enrolled(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    *,
    campaign_id: uuid.UUID,
    lead_ids: list[uuid.UUID],
) -> None:
    """Leads were enrolled in a campaign."""
    log.debug("campaign.leads_enrolled", campaign_id=str(campaign_id), count=len(lead_ids))


async def engagement_recorded(
    session: AsyncSession, tenant_id: uuid.UUID, *, events: list[dict[str, Any]]
) -> None:
    """Replies, bounces, unsubscribes, spam reports and meetings were ingested (not simulated)."""
    log.debug("events.engagement", tenant_id=str(tenant_id), count=len(events))
