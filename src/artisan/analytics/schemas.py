"""Response bodies of the analytics reports."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

CountMode = Literal["unique", "total"]
Interval = Literal["hour", "day", "week", "month"]
Metric = Literal[
    "contacted",
    "sent",
    "delivered",
    "opened",
    "clicked",
    "replied",
    "positive_replied",
    "bounced",
    "unsubscribed",
    "spam_reported",
    "connection_sent",
    "connection_accepted",
    "call_completed",
    "meeting_booked",
    "meeting_held",
]


class Figures(BaseModel):
    """Counts per metric, delivered by the documented formula, and the rates."""

    counts: dict[str, int]
    delivered: int
    delivered_source: Literal["reported", "derived"]
    rates: dict[str, float | None]


class StepFigures(Figures):
    """Figures of one step of the sequence."""

    step: int
    channel: str | None


class ChannelFigures(Figures):
    """Figures of one channel."""

    channel: str


class CampaignReport(BaseModel):
    """A campaign's totals and rates, per step and per channel (all time)."""

    campaign_id: uuid.UUID
    name: str
    status: str
    count: CountMode
    include_simulated: bool
    totals: Figures
    steps: list[StepFigures]
    channels: list[ChannelFigures]


class Bucket(BaseModel):
    """One bucket of a time series (its start, in the requested time zone)."""

    start: datetime
    value: int


class Timeseries(BaseModel):
    """A metric over time; every bucket of the range is present."""

    metric: str
    interval: Interval
    timezone: str
    count: CountMode
    start: date
    end: date
    total: int
    buckets: list[Bucket]
    previous: list[Bucket] | None = Field(
        default=None, description="The same buckets one period earlier (with compare=true)"
    )
    previous_total: int | None = None
    change: float | None = Field(default=None, description="(total - previous) / previous")


class FunnelStep(BaseModel):
    """One step of a funnel."""

    metric: str
    leads: int
    conversion_from_previous: float | None
    conversion_from_first: float | None


class Funnel(BaseModel):
    """Unique leads reaching each step in order within the conversion window."""

    steps: list[FunnelStep]
    window_days: int
    start: date
    end: date
    timezone: str


class ChannelsReport(BaseModel):
    """Figures per channel over a range."""

    start: date
    end: date
    timezone: str
    count: CountMode
    channels: list[ChannelFigures]


class Kpi(BaseModel):
    """One headline figure with the previous period's value."""

    metric: str
    value: float | None
    previous: float | None
    change: float | None


class TopCampaign(BaseModel):
    """A campaign ranked by replies in the range."""

    campaign_id: uuid.UUID
    name: str
    status: str
    contacted: int
    replied: int
    meeting_booked: int
    reply_rate: float | None


class Activity(BaseModel):
    """A recent event."""

    id: uuid.UUID
    type: str
    channel: str
    campaign_id: uuid.UUID
    lead_id: uuid.UUID
    step: int | None
    occurred_at: datetime
    simulated: bool


class Dashboard(BaseModel):
    """The tenant's KPIs over a range with period-over-period change, top campaigns, activity."""

    start: date
    end: date
    timezone: str
    count: CountMode
    kpis: list[Kpi]
    top_campaigns: list[TopCampaign]
    recent_activity: list[Activity]
