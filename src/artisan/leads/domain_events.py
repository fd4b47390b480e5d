"""What the leads domain announces to the tenant's webhook endpoints.

Each function builds its events' typed payloads (webhooks/events.py) and emits them in the
caller's transaction; bulk paths pass whole lists, so the tenant's endpoints are read once per
call and nothing is written when no endpoint subscribes.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from artisan.core.ids import utcnow
from artisan.webhooks.emit import emit_events
from artisan.webhooks.events import LeadEvent, LeadStatusChanged, LeadSuppressed


async def leads_created(
    session: AsyncSession, tenant_id: uuid.UUID, leads: Sequence[tuple[uuid.UUID, str]]
) -> None:
    """`lead.created` for each (lead id, email): one call per request, imports included."""
    now = utcnow()
    await emit_events(
        session,
        tenant_id,
        [
            ("lead.created", LeadEvent(lead_id=lead_id, email=email, occurred_at=now))
            for lead_id, email in leads
        ],
    )


async def lead_statuses_changed(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    changes: Sequence[tuple[uuid.UUID, str, str]],
    *,
    cause: str,
) -> None:
    """`lead.status_changed` for each (lead id, before, after); `cause` is the event type or
    `manual`."""
    now = utcnow()
    await emit_events(
        session,
        tenant_id,
        [
            (
                "lead.status_changed",
                LeadStatusChanged(
                    lead_id=lead_id,
                    previous_status=before,
                    status=after,
                    cause=cause,
                    occurred_at=now,
                ),
            )
            for lead_id, before, after in changes
        ],
    )


async def addresses_suppressed(
    session: AsyncSession, tenant_id: uuid.UUID, entries: Sequence[tuple[str, str]]
) -> None:
    """`lead.suppressed` for each (email, reason) that joined the suppression list."""
    now = utcnow()
    await emit_events(
        session,
        tenant_id,
        [
            ("lead.suppressed", LeadSuppressed(email=email, reason=reason, occurred_at=now))
            for email, reason in entries
        ],
    )
