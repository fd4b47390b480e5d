"""Request and response bodies of campaigns, enrolment, preview and simulation."""

from __future__ import annotations

import uuid
from datetime import datetime, time
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from artisan.campaigns.templates import template_errors
from artisan.core.fields import TimeZoneName
from artisan.core.free_json import FreeJsonObject
from artisan.leads.schemas import check_timezone
from artisan.models.campaign import CampaignStatus
from artisan.models.lead import LeadStatus

StepChannel = Literal["email", "linkedin", "call", "task"]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WORKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri")
MAX_STEPS = 20
MAX_ENROL = 1000


class Step(BaseModel):
    """One step; subject and body may use `{{variable}}` or `{{variable|fallback}}`."""

    model_config = ConfigDict(extra="forbid")

    channel: StepChannel
    delay_days: int = Field(default=0, ge=0, le=365, description="Wait after the previous step")
    delay_hours: int = Field(default=0, ge=0, le=23)
    subject: Annotated[str, StringConstraints(max_length=300)] | None = None
    body: Annotated[str, StringConstraints(max_length=20_000)] = ""

    @model_validator(mode="after")
    def _check(self) -> Step:
        if self.channel == "email" and not (self.subject and self.subject.strip()):
            raise ValueError("an email step needs a subject")
        if self.channel in ("email", "linkedin") and not self.body.strip():
            raise ValueError(f"a {self.channel} step needs a body")
        errors = template_errors(self.subject or "") + template_errors(self.body)
        if errors:
            raise ValueError("; ".join(errors))
        return self


class Schedule(BaseModel):
    """When sending happens: a window of dates and, within it, days of the week and hours."""

    model_config = ConfigDict(extra="forbid")

    start_at: datetime | None = None
    end_at: datetime | None = None
    timezone: TimeZoneName = "UTC"
    days: list[Weekday] = Field(default_factory=lambda: list(WORKDAYS), max_length=7)
    send_from: time = time(9, 0)
    send_until: time = time(17, 0)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        checked = check_timezone(value)
        if checked is None:
            raise ValueError("a time zone is required")
        return checked

    @field_validator("start_at", "end_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("times must carry a UTC offset")
        return value

    @field_validator("send_from", "send_until")
    @classmethod
    def _wall_clock(cls, value: time) -> time:
        # Sending hours are wall-clock times in the schedule's time zone, never an offset.
        if value.tzinfo is not None:
            raise ValueError(
                "sending hours are local times in `timezone`; give them without an offset"
            )
        return value

    @model_validator(mode="after")
    def _check(self) -> Schedule:
        if self.start_at and self.end_at and self.end_at <= self.start_at:
            raise ValueError("end_at must be after start_at")
        if self.send_until <= self.send_from:
            raise ValueError("send_until must be after send_from")
        if not self.days:
            raise ValueError("at least one sending day is required")
        if len(set(self.days)) != len(self.days):
            raise ValueError("sending days repeat")
        return self


class CampaignCreate(BaseModel):
    """A new campaign (created as a draft)."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    description: Annotated[str, StringConstraints(max_length=5000)] | None = None
    channels: list[StepChannel] | None = Field(
        default=None,
        max_length=len(get_args(StepChannel)),
        description="Defaults to the channels of the steps",
    )
    steps: list[Step] = Field(default_factory=list, max_length=MAX_STEPS)
    schedule: Schedule = Field(default_factory=Schedule)
    owner_id: uuid.UUID | None = Field(default=None, description="A user of the tenant")


class CampaignUpdate(BaseModel):
    """Fields to change; omitted fields stay as they are."""

    model_config = ConfigDict(extra="forbid")

    name: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
        | None
    ) = None
    description: Annotated[str, StringConstraints(max_length=5000)] | None = None
    channels: list[StepChannel] | None = Field(default=None, max_length=len(get_args(StepChannel)))
    steps: list[Step] | None = Field(default=None, max_length=MAX_STEPS)
    schedule: Schedule | None = None
    owner_id: uuid.UUID | None = None


class StepOut(Step):
    """A step with its 1-based position."""

    number: int


class CampaignOut(BaseModel):
    """A campaign."""

    id: uuid.UUID
    name: str
    description: str | None
    channels: list[str]
    steps: list[StepOut]
    schedule: dict[str, Any]
    status: CampaignStatus
    allowed_actions: list[str]
    owner_id: uuid.UUID | None
    enrolled: int
    launched_at: datetime | None
    completed_at: datetime | None
    archived_at: datetime | None
    created_at: datetime
    updated_at: datetime


class EnrolRequest(BaseModel):
    """Leads to enrol (up to 1,000 per call)."""

    model_config = ConfigDict(extra="forbid")

    lead_ids: list[uuid.UUID] = Field(min_length=1, max_length=MAX_ENROL)


class EnrolReport(BaseModel):
    """What enrolment did with each lead."""

    enrolled: list[uuid.UUID]
    already_enrolled: list[uuid.UUID]
    suppressed: list[uuid.UUID] = Field(
        description="On the suppression list, or bounced/unsubscribed"
    )
    not_found: list[uuid.UUID]
    over_limit: list[uuid.UUID] = Field(description="Refused: the campaign's enrolment limit")


class EnrolledLead(BaseModel):
    """A lead enrolled in a campaign."""

    enrollment_id: uuid.UUID
    lead_id: uuid.UUID
    email: str
    first_name: str | None
    last_name: str | None
    company: str | None
    lead_status: LeadStatus
    enrollment_status: str
    enrolled_at: datetime


class PreviewRequest(BaseModel):
    """Render one step for an existing lead or for sample values."""

    model_config = ConfigDict(extra="forbid")

    step: int = Field(ge=1, le=MAX_STEPS, description="1-based step number")
    lead_id: uuid.UUID | None = None
    sample: FreeJsonObject | None = Field(default=None, description="Lead fields to render with")

    @model_validator(mode="after")
    def _one_source(self) -> PreviewRequest:
        if (self.lead_id is None) == (self.sample is None):
            raise ValueError("give exactly one of lead_id and sample")
        return self


class PreviewOut(BaseModel):
    """A rendered step."""

    step: int
    channel: str
    subject: str | None
    body: str
    missing_variables: list[str]


class SimulationRates(BaseModel):
    """Probabilities of each outcome, each conditional on the stage before it."""

    model_config = ConfigDict(extra="forbid")

    bounce: float = Field(default=0.03, ge=0, le=1)
    open: float = Field(default=0.5, ge=0, le=1)
    click: float = Field(default=0.2, ge=0, le=1, description="Of opened")
    reply: float = Field(default=0.08, ge=0, le=1, description="Of delivered")
    positive_reply: float = Field(default=0.4, ge=0, le=1, description="Of replied")
    unsubscribe: float = Field(default=0.01, ge=0, le=1, description="Of delivered")
    meeting: float = Field(default=0.3, ge=0, le=1, description="Of positive replies")
    connection_accept: float = Field(default=0.35, ge=0, le=1)


class SimulateRequest(BaseModel):
    """Generate a reproducible, simulated event stream for the campaign's enrolled leads."""

    model_config = ConfigDict(extra="forbid")

    seed: int = Field(ge=0, le=2**63 - 1)
    start: datetime
    end: datetime
    rates: SimulationRates = Field(default_factory=SimulationRates)

    @model_validator(mode="after")
    def _span(self) -> SimulateRequest:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("start and end must carry a UTC offset")
        if self.end <= self.start:
            raise ValueError("end must be after start")
        if (self.end - self.start).days > 366:
            raise ValueError("a simulation spans at most 366 days")
        return self


class SimulateOut(BaseModel):
    """What the simulation generated (identical for the same seed, leads and steps)."""

    seed: int
    leads: int
    generated: int
    inserted: int = Field(description="New events; a repeated run inserts none")
    by_type: dict[str, int]
