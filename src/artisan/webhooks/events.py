"""Every event type the platform emits, declared by domain: the one place the catalogue grows.

A domain adds its payload models and `EventType` entries here; its `domain_events.py` builds the
typed payloads and emits them in the transaction of the change.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from artisan.webhooks.catalogue import EventCatalogue, EventType


class _Payload(BaseModel):
    model_config = ConfigDict(extra="allow")


# --- campaigns, leads, engagement -------------------------------------------------------------
class CampaignLifecycle(_Payload):
    """A campaign changed state."""

    campaign_id: uuid.UUID
    name: str
    status: str
    actor_id: uuid.UUID | None = None
    occurred_at: datetime


class LeadEvent(_Payload):
    """Something happened to a lead within a campaign."""

    lead_id: uuid.UUID
    campaign_id: uuid.UUID | None = None
    email: str | None = None
    occurred_at: datetime


class LeadReplied(LeadEvent):
    """A lead replied to a campaign message."""

    message_id: str | None = None
    sentiment: str | None = None


class LeadBounced(LeadEvent):
    """A message to a lead bounced."""

    bounce_type: str = Field(description="hard or soft")
    reason: str | None = None


class MeetingBooked(LeadEvent):
    """A lead booked a meeting."""

    meeting_at: datetime | None = None
    calendar_url: str | None = None


class LeadStatusChanged(LeadEvent):
    """A lead's status moved (an engagement event or a manual edit)."""

    previous_status: str
    status: str
    cause: str = Field(description="The event type or `manual` that caused the change")


class LeadSuppressed(_Payload):
    """An address joined the tenant's suppression list."""

    email: str
    reason: str
    occurred_at: datetime


class CampaignLeadsEnrolled(_Payload):
    """Leads were enrolled in a campaign."""

    campaign_id: uuid.UUID
    lead_ids: list[uuid.UUID]
    count: int
    occurred_at: datetime


# --- api keys, users ---------------------------------------------------------------------------
class ApiKeyEvent(_Payload):
    """An API key was created or revoked (never carries the key itself)."""

    api_key_id: uuid.UUID
    name: str
    prefix: str | None = None
    scopes: list[str] = Field(default_factory=list)
    actor_id: uuid.UUID | None = None


class UserInvited(_Payload):
    """A user was invited to the tenant."""

    user_id: uuid.UUID
    email: str
    role: str
    invited_by: uuid.UUID | None = None
    invitation_expires_at: datetime | None = None


# --- compliance, workflows ---------------------------------------------------------------------
class ComplianceRequestCompleted(_Payload):
    """A data-subject request (export, erasure, ...) was completed."""

    request_id: uuid.UUID
    kind: str
    subject_email: str | None = None
    completed_at: datetime


class WorkflowRunCompleted(_Payload):
    """An LLM workflow run finished."""

    run_id: uuid.UUID
    workflow_id: uuid.UUID | None = None
    status: str
    completed_at: datetime
    usage: dict[str, Any] = Field(default_factory=dict)


# --- webhooks themselves -----------------------------------------------------------------------
class WebhookEndpointDisabled(_Payload):
    """One of the tenant's endpoints was disabled because its deliveries kept failing."""

    endpoint_id: uuid.UUID
    url: str
    reason: str
    disabled_at: datetime


class WebhookTest(_Payload):
    """A test event sent on request to one endpoint."""

    endpoint_id: uuid.UUID
    message: str = "This is a test event from Artisan Platform"


def _campaign(name: str, what: str) -> EventType:
    return EventType(name, f"A campaign was {what}.", CampaignLifecycle)


EVENTS = EventCatalogue(
    [
        _campaign("campaign.created", "created"),
        _campaign("campaign.launched", "launched"),
        _campaign("campaign.started", "started: a scheduled campaign reached its start time"),
        _campaign("campaign.paused", "paused"),
        _campaign("campaign.resumed", "resumed"),
        _campaign("campaign.completed", "completed"),
        _campaign("campaign.archived", "archived"),
        EventType(
            "campaign.leads_enrolled", "Leads were enrolled in a campaign.", CampaignLeadsEnrolled
        ),
        EventType("lead.created", "A lead was created (imports included).", LeadEvent),
        EventType("lead.status_changed", "A lead's status changed.", LeadStatusChanged),
        EventType("lead.suppressed", "An address joined the suppression list.", LeadSuppressed),
        EventType("lead.replied", "A lead replied to a campaign message.", LeadReplied),
        EventType("lead.bounced", "A message to a lead bounced.", LeadBounced),
        EventType("lead.unsubscribed", "A lead unsubscribed.", LeadEvent),
        EventType("meeting.booked", "A lead booked a meeting.", MeetingBooked),
        EventType("api_key.created", "An API key was created.", ApiKeyEvent),
        EventType("api_key.revoked", "An API key was revoked.", ApiKeyEvent),
        EventType("user.invited", "A user was invited to the tenant.", UserInvited),
        EventType(
            "compliance.request.completed",
            "A data-subject request was completed (planned: the compliance centre is not built "
            "yet, so nothing emits it).",
            ComplianceRequestCompleted,
        ),
        EventType(
            "workflow.run.completed",
            "An LLM workflow run finished (planned: workflows are not built yet, so nothing "
            "emits it).",
            WorkflowRunCompleted,
        ),
        EventType(
            "webhook_endpoint.disabled",
            "An endpoint was disabled after its deliveries kept failing.",
            WebhookEndpointDisabled,
        ),
        EventType("webhook.test", "A test event sent to one endpoint on request.", WebhookTest),
    ]
)
