"""Request and response models of the webhooks API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from artisan.models.webhook import DeliveryStatus

# An event type or a family of them (`campaign.*`); the catalogue decides which exist.
EventPattern = Annotated[str, StringConstraints(max_length=100)]

EventPatterns = list[str]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WebhookCreate(_In):
    """A new endpoint."""

    url: str = Field(min_length=1, max_length=2048, examples=["https://example.com/hooks"])
    description: str | None = Field(default=None, max_length=500)
    event_types: list[EventPattern] = Field(
        default_factory=list,
        max_length=100,
        description="Event types or families (`campaign.*`); empty subscribes to everything",
    )
    enabled: bool = True
    ordered: bool = Field(
        default=False, description="Send one message at a time, in order, to this endpoint"
    )
    rate_limit: int | None = Field(
        default=None, ge=1, le=10_000, description="At most this many deliveries per second"
    )


class WebhookUpdate(_In):
    """Changes to an endpoint; absent fields stay as they are."""

    url: str | None = Field(default=None, min_length=1, max_length=2048)
    description: str | None = Field(default=None, max_length=500)
    event_types: list[EventPattern] | None = Field(default=None, max_length=100)
    enabled: bool | None = None
    ordered: bool | None = None
    rate_limit: int | None = Field(default=None, ge=1, le=10_000)


class WebhookOut(BaseModel):
    """An endpoint (its secret is shown only on create and by the reveal route)."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    url: str
    description: str | None
    event_types: list[str]
    enabled: bool
    disabled_reason: str | None
    disabled_at: datetime | None
    ordered: bool
    rate_limit: int | None
    previous_secret_expires_at: datetime | None = Field(
        description="Until when the previous secret still signs (after a rotation)"
    )
    failing_since: datetime | None
    consecutive_failures: int
    created_at: datetime
    updated_at: datetime


class WebhookCreated(WebhookOut):
    """A new endpoint with its signing secret."""

    secret: str


class WebhookSecret(BaseModel):
    """The endpoint's signing secret(s)."""

    secret: str
    previous_secret_expires_at: datetime | None


class RotateSecret(_In):
    """How long the previous secret keeps signing alongside the new one."""

    window_hours: float = Field(default=24, ge=0, le=168)


class RecoverRequest(_In):
    """Re-send every failed delivery of the endpoint created in a time range."""

    since: AwareDatetime
    until: AwareDatetime | None = None

    @model_validator(mode="after")
    def _ordered_range(self) -> RecoverRequest:
        if self.until is not None and self.until <= self.since:
            raise ValueError("until must be after since")
        return self


class RecoverResult(BaseModel):
    """How many failed deliveries were scheduled again."""

    recovered: int


class AttemptOut(BaseModel):
    """One HTTP attempt of a delivery."""

    id: uuid.UUID
    attempt_number: int
    trigger: str
    started_at: datetime
    duration_ms: float
    request_url: str
    request_headers: dict[str, str]
    response_status: int | None
    response_headers: dict[str, str] | None = Field(
        description="Kept for attempts that did not succeed (a `Retry-After`, a redirect's "
        "`Location`); null for a 2xx answer"
    )
    response_body: str | None
    error_class: str | None
    error_detail: str | None
    succeeded: bool
    next_attempt_at: datetime | None


class DeliveryOut(BaseModel):
    """One message to one endpoint."""

    id: uuid.UUID
    endpoint_id: uuid.UUID
    message_id: uuid.UUID
    webhook_id: str = Field(description="The `webhook-id` header the receiver sees")
    event_type: str
    status: DeliveryStatus
    attempt_count: int
    max_attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None
    created_at: datetime
    updated_at: datetime


class DeliveryDetail(DeliveryOut):
    """A delivery with its payload (until purged) and every attempt."""

    payload: dict[str, Any] | None
    attempts: list[AttemptOut]


class EventTypeOut(BaseModel):
    """An event type of the catalogue with the JSON Schema of its payload."""

    name: str
    description: str
    schema_: dict[str, Any] = Field(alias="schema")

    model_config = ConfigDict(populate_by_name=True)
