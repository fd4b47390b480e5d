"""Request and response bodies of event ingestion."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from asyncpg.pgproto.pgproto import UUID as CUUID
from fastapi import Response
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)

from artisan.core.free_json import FreeJsonObject
from artisan.events.catalog import EVENT_CHANNELS, EVENT_TYPES, MAX_STEP

EventType = Literal[
    "email.sent",
    "email.delivered",
    "email.opened",
    "email.clicked",
    "email.replied",
    "email.bounced",
    "email.unsubscribed",
    "email.spam_reported",
    "linkedin.connection_sent",
    "linkedin.connection_accepted",
    "linkedin.message_sent",
    "linkedin.replied",
    "call.completed",
    "meeting.booked",
    "meeting.held",
]
EventChannel = Literal["email", "linkedin", "call"]
MAX_BATCH = 1000
assert set(EventType.__args__) == set(EVENT_TYPES)  # type: ignore[attr-defined]
assert set(EventChannel.__args__) == set(EVENT_CHANNELS)  # type: ignore[attr-defined]


_CANONICAL_UUID = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)


def _c_uuid(value: Any) -> Any:
    # asyncpg's UUID is a uuid.UUID implemented in C, the type it returns for uuid columns: a
    # batch hashes, sorts and encodes its lead and campaign ids thousands of times, and the
    # standard class runs Python code for each. Only the canonical form is taken here; any
    # other input goes on to the standard validation, unchanged, with its usual errors.
    if type(value) is str and _CANONICAL_UUID.fullmatch(value):
        return CUUID(value)
    return value


IdIn = Annotated[uuid.UUID, BeforeValidator(_c_uuid)]


class EventIn(BaseModel):
    """One tracked event; `client_id` makes ingestion idempotent per tenant."""

    model_config = ConfigDict(extra="forbid")

    type: EventType
    campaign_id: IdIn | None = Field(
        default=None, description="Required, except on the per-campaign route"
    )
    lead_id: IdIn
    step: int | None = Field(default=None, ge=1, le=MAX_STEP, description="1-based step number")
    channel: EventChannel | None = Field(
        default=None, description="Implied by the type; meetings default to the step's channel"
    )
    occurred_at: datetime
    properties: FreeJsonObject = Field(default_factory=dict)
    client_id: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None

    @field_validator("occurred_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("occurred_at must carry a UTC offset")
        return value

    @field_validator("properties")
    @classmethod
    def _sentiment(cls, value: dict[str, Any]) -> dict[str, Any]:
        sentiment = value.get("sentiment")
        if sentiment is not None and sentiment not in ("positive", "neutral", "negative"):
            raise ValueError("properties.sentiment is positive, neutral or negative")
        return value


class EventBatch(BaseModel):
    """Up to 1,000 events; each is accepted or refused on its own."""

    model_config = ConfigDict(extra="forbid")

    events: list[Any] = Field(min_length=1, max_length=MAX_BATCH)


class EventResult(BaseModel):
    """The outcome of one event of a batch."""

    index: int = Field(description="0-based position in the batch")
    status: Literal["accepted", "duplicate", "rejected"]
    id: uuid.UUID | None = None
    errors: list[str] = Field(default_factory=list)


class BatchReport(BaseModel):
    """The outcome of a batch."""

    accepted: int
    duplicates: int
    rejected: int
    results: list[EventResult]


def batch_report_response(report: BatchReport) -> Response:
    """A batch's report as the response: built by the service from typed values, it is
    serialised once instead of validated again against the response model."""
    return Response(content=report.model_dump_json(), media_type="application/json")


class EventAccepted(BaseModel):
    """The outcome of a single event."""

    id: uuid.UUID
    duplicate: bool


class EventOut(BaseModel):
    """A stored event."""

    id: uuid.UUID
    type: str
    channel: str
    campaign_id: uuid.UUID
    lead_id: uuid.UUID
    step: int | None
    occurred_at: datetime
    received_at: datetime
    properties: dict[str, Any]
    client_id: str | None
    simulated: bool


class EventFilters(BaseModel):
    """What the event list is narrowed to."""

    campaign_id: uuid.UUID | None = None
    lead_id: uuid.UUID | None = None
    type: EventType | None = None
    channel: EventChannel | None = None
    occurred_after: datetime | None = None
    occurred_before: datetime | None = None
    simulated: bool | None = None
