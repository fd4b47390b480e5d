"""Event validation: each event of a batch parsed and checked on its own, against the tenant's
campaigns and leads, so one bad event is reported without refusing its batch."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from artisan.core.ids import new_bulk_id, utcnow
from artisan.events.catalog import EPOCH, EVENT_CHANNELS, default_channel
from artisan.events.schemas import EventIn

# Nothing happened before the rollups' first bucket.
EARLIEST = EPOCH


@dataclass(slots=True)
class ValidEvent:
    """An event that passed validation, ready to store."""

    index: int
    id: uuid.UUID
    type: str
    channel: str
    campaign_id: uuid.UUID
    lead_id: uuid.UUID
    step: int | None
    occurred_at: datetime
    properties: dict[str, Any]
    client_id: str | None


_EVENT_LIST = TypeAdapter(list[EventIn])


def _messages(exc: ValidationError) -> list[str]:
    return [
        f"{'.'.join(str(p) for p in err.get('loc', ())) or 'event'}: {err.get('msg', 'invalid')}"
        for err in exc.errors()
    ]


async def _references(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    campaign_ids: set[uuid.UUID],
    lead_ids: set[uuid.UUID],
) -> tuple[dict[uuid.UUID, list[str | None]], set[uuid.UUID]]:
    """The batch's campaigns (each step's channel) and known leads, in one round trip."""
    # Ingestion reads the campaigns' and leads' tables itself, set-based, instead of through
    # their services: one round trip per batch of a thousand events, not one per reference.
    rows = await session.execute(
        text(
            "SELECT true AS is_campaign, c.id, ARRAY(SELECT s.value->>'channel' "
            "FROM jsonb_array_elements(COALESCE(c.steps, '[]'::jsonb)) WITH ORDINALITY "
            "AS s(value, n) ORDER BY s.n) AS channels "
            "FROM campaigns c WHERE c.tenant_id = :t AND c.id = ANY(:campaigns) "
            "UNION ALL "
            "SELECT false, l.id, NULL FROM leads l WHERE l.tenant_id = :t AND l.id = ANY(:leads)"
        ),
        {"t": tenant_id, "campaigns": list(campaign_ids), "leads": list(lead_ids)},
    )
    campaigns: dict[uuid.UUID, list[str | None]] = {}
    leads: set[uuid.UUID] = set()
    for is_campaign, row_id, channels in rows:
        if is_campaign:
            campaigns[row_id] = channels
        else:
            leads.add(row_id)
    return campaigns, leads


async def validate_events(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    items: Sequence[Any],
    *,
    campaign_id: uuid.UUID | None,
    max_future: timedelta,
) -> tuple[list[ValidEvent], dict[int, list[str]]]:
    """Parse and check each event on its own; the errors are keyed by batch position."""
    errors: dict[int, list[str]] = {}
    parsed: list[tuple[int, EventIn]] = []
    latest = utcnow() + max_future
    try:
        # One pass over the whole batch; only a batch with a malformed event pays per-item.
        models: list[EventIn | ValidationError] = list(_EVENT_LIST.validate_python(items))
    except ValidationError:
        models = []
        for item in items:
            try:
                models.append(EventIn.model_validate(item))
            except ValidationError as exc:
                models.append(exc)
    for index, event in enumerate(models):
        if isinstance(event, ValidationError):
            errors[index] = _messages(event)
            continue
        problems: list[str] = []
        if campaign_id is not None:
            if event.campaign_id not in (None, campaign_id):
                problems.append("campaign_id: differs from the campaign of the route")
            event.campaign_id = campaign_id
        elif event.campaign_id is None:
            problems.append("campaign_id: required")
        if event.occurred_at > latest:
            problems.append("occurred_at: too far in the future")
        elif event.occurred_at < EARLIEST:
            problems.append("occurred_at: before 2000-01-01")
        if problems:
            errors[index] = problems
        else:
            parsed.append((index, event))
    campaigns, leads = (
        await _references(
            session,
            tenant_id,
            {e.campaign_id for _, e in parsed if e.campaign_id},
            {e.lead_id for _, e in parsed},
        )
        if parsed
        else ({}, set())
    )
    valid: list[ValidEvent] = []
    for index, event in parsed:
        assert event.campaign_id is not None
        problems = []
        steps = campaigns.get(event.campaign_id)
        if steps is None:
            problems.append("campaign_id: no such campaign")
        if event.lead_id not in leads:
            problems.append("lead_id: no such lead")
        step_channel: str | None = None
        if steps is not None and event.step is not None:
            if event.step > len(steps):
                problems.append(f"step: the campaign has {len(steps)} steps")
            else:
                step_channel = steps[event.step - 1]
        implied = default_channel(event.type)
        channel = implied or event.channel or step_channel or "email"
        if channel not in EVENT_CHANNELS:
            channel = "email"
        if event.channel is not None and implied is not None and event.channel != implied:
            problems.append(f"channel: a {event.type} event is on the {implied} channel")
        if implied is not None and step_channel in EVENT_CHANNELS and step_channel != implied:
            problems.append(f"step: step {event.step} is a {step_channel} step")
        if problems:
            errors[index] = problems
            continue
        valid.append(
            ValidEvent(
                index=index,
                id=new_bulk_id(),
                type=event.type,
                channel=channel,
                campaign_id=event.campaign_id,
                lead_id=event.lead_id,
                step=event.step,
                occurred_at=event.occurred_at.astimezone(UTC),
                properties=event.properties,
                client_id=event.client_id,
            )
        )
    return valid, errors
