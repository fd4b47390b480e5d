"""The documented analytics formulas, applied to metric counts (shared by every report)."""

from __future__ import annotations

from collections.abc import Mapping

RATE_METRICS = {
    "open_rate": "opened",
    "click_rate": "clicked",
    "reply_rate": "replied",
    "positive_reply_rate": "positive_replied",
    "unsubscribe_rate": "unsubscribed",
    "meeting_rate": "meeting_booked",
}


def delivered(counts: Mapping[str, int]) -> tuple[int, str]:
    """Delivered: the reported deliveries when there are any, else sent minus bounced."""
    if counts.get("delivered", 0) > 0:
        return counts["delivered"], "reported"
    return max(0, counts.get("sent", 0) - counts.get("bounced", 0)), "derived"


def rates(counts: Mapping[str, int]) -> dict[str, float | None]:
    """Rates over delivered (bounce rate over sent); None when the denominator is zero."""
    base, _ = delivered(counts)
    result: dict[str, float | None] = {
        name: (counts.get(metric, 0) / base if base else None)
        for name, metric in RATE_METRICS.items()
    }
    sent = counts.get("sent", 0)
    result["bounce_rate"] = counts.get("bounced", 0) / sent if sent else None
    return result


def change(current: float, previous: float) -> float | None:
    """Relative change from the previous period; None when the previous value is zero."""
    return (current - previous) / previous if previous else None
