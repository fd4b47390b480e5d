"""The event catalogue: each type's channel and the analytics metrics it counts towards."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

# Rollup buckets are 15 minutes long, counted from here (every zone's offset is a multiple), and
# no event is older.
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
EVENT_TYPES: dict[str, str] = {
    "email.sent": "An email of a step was sent",
    "email.delivered": "The receiving server accepted it (when the sender reports deliveries)",
    "email.opened": "The recipient opened it",
    "email.clicked": "The recipient clicked a link",
    "email.replied": "The lead replied; `properties.sentiment` is positive, neutral or negative",
    "email.bounced": "The email bounced; the address is suppressed",
    "email.unsubscribed": "The lead unsubscribed; the address is suppressed",
    "email.spam_reported": "The lead reported spam; the address is suppressed",
    "linkedin.connection_sent": "A LinkedIn connection request was sent",
    "linkedin.connection_accepted": "The lead accepted it",
    "linkedin.message_sent": "A LinkedIn message was sent",
    "linkedin.replied": "The lead replied on LinkedIn (`properties.sentiment` as for email)",
    "call.completed": "A call took place",
    "meeting.booked": "The lead booked a meeting",
    "meeting.held": "The meeting took place",
}
EVENT_CHANNELS = ("email", "linkedin", "call")
METRICS: dict[str, str] = {
    "contacted": "email.sent, linkedin.connection_sent, linkedin.message_sent or call.completed",
    "sent": "email.sent or linkedin.message_sent",
    "delivered": "email.delivered (see the delivered formula)",
    "opened": "email.opened",
    "clicked": "email.clicked",
    "replied": "email.replied or linkedin.replied",
    "positive_replied": "a reply whose sentiment is positive",
    "bounced": "email.bounced",
    "unsubscribed": "email.unsubscribed",
    "spam_reported": "email.spam_reported",
    "connection_sent": "linkedin.connection_sent",
    "connection_accepted": "linkedin.connection_accepted",
    "call_completed": "call.completed",
    "meeting_booked": "meeting.booked",
    "meeting_held": "meeting.held",
}
_BASE_METRICS: dict[str, tuple[str, ...]] = {
    "email.sent": ("contacted", "sent"),
    "email.delivered": ("delivered",),
    "email.opened": ("opened",),
    "email.clicked": ("clicked",),
    "email.replied": ("replied",),
    "email.bounced": ("bounced",),
    "email.unsubscribed": ("unsubscribed",),
    "email.spam_reported": ("spam_reported",),
    "linkedin.connection_sent": ("contacted", "connection_sent"),
    "linkedin.connection_accepted": ("connection_accepted",),
    "linkedin.message_sent": ("contacted", "sent"),
    "linkedin.replied": ("replied",),
    "call.completed": ("contacted", "call_completed"),
    "meeting.booked": ("meeting_booked",),
    "meeting.held": ("meeting_held",),
}
# Leads move forward through these; an event never moves a lead back (out-of-order safe).
STATUS_RANK = {
    "new": 0,
    "contacted": 1,
    "replied": 2,
    "interested": 3,
    "not_interested": 3,
    "meeting_booked": 4,
    "bounced": 5,
    "unsubscribed": 6,
}
SUPPRESSING = {
    "email.bounced": "bounced",
    "email.unsubscribed": "unsubscribed",
    "email.spam_reported": "spam_reported",
}


def default_channel(event_type: str) -> str | None:
    """The channel a type implies (meetings take the step's channel, else email)."""
    prefix = event_type.split(".", 1)[0]
    return prefix if prefix in EVENT_CHANNELS else None


# Steps are numbered 1..MAX_STEP; a lead's per-step figures are bits of one integer.
MAX_STEP = 20


def metrics_of(event_type: str, properties: dict[str, Any]) -> tuple[str, ...]:
    """The metrics one event counts towards."""
    metrics = _BASE_METRICS[event_type]
    if metrics == ("replied",) and properties.get("sentiment") == "positive":
        return ("replied", "positive_replied")
    return metrics


def metric_map_sql() -> str:
    """The catalogue's type-to-metric map as a SQL VALUES list `mm(type, metric, positive_only)`."""
    rows: list[str] = []
    for event_type in EVENT_TYPES:
        plain = metrics_of(event_type, {})
        positive = metrics_of(event_type, {"sentiment": "positive"})
        rows += [f"('{event_type}', '{m}', false)" for m in plain]
        rows += [f"('{event_type}', '{m}', true)" for m in positive if m not in plain]
    return "(VALUES " + ", ".join(rows) + ") AS mm(type, metric, positive_only)"


def lead_status_after(event_type: str, properties: dict[str, Any]) -> str | None:
    """The lead status an event implies, if any."""
    if event_type in ("email.sent", "linkedin.connection_sent", "linkedin.message_sent"):
        return "contacted"
    if event_type == "call.completed":
        return "contacted"
    if event_type in ("email.replied", "linkedin.replied"):
        sentiment = properties.get("sentiment")
        return {"positive": "interested", "negative": "not_interested"}.get(
            str(sentiment), "replied"
        )
    if event_type == "email.bounced":
        return "bounced"
    if event_type in ("email.unsubscribed", "email.spam_reported"):
        return "unsubscribed"
    if event_type in ("meeting.booked", "meeting.held"):
        return "meeting_booked"
    return None
