"""Report ranges: local dates in a time zone, their UTC bounds, and the buckets of a series."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from artisan.core.errors import ValidationFailed

MAX_BUCKETS = 2000
EARLIEST_DATE = date(2000, 1, 2)
LATEST_DATE = date(2199, 12, 31)
MAX_RANGE_DAYS = 3 * 366


@dataclass(frozen=True, slots=True)
class Range:
    """A range of local dates (inclusive) in a time zone, and its UTC bounds."""

    start: date
    end: date
    tz: ZoneInfo

    @property
    def lower(self) -> datetime:
        """The first instant of the range."""
        return local_midnight(self.start, self.tz)

    @property
    def upper(self) -> datetime:
        """The instant just after the range."""
        return local_midnight(self.end + timedelta(days=1), self.tz)

    @property
    def days(self) -> int:
        """How many local days the range covers."""
        return (self.end - self.start).days + 1

    def previous(self) -> Range:
        """The period of the same length just before this one."""
        return Range(
            self.start - timedelta(days=self.days), self.start - timedelta(days=1), self.tz
        )


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    """The instant a local date begins."""
    # For a midnight skipped by a DST change, fold=0 reads it with the earlier offset, which is
    # the very instant the day begins.
    return datetime.combine(day, time(0), tzinfo=tz)


def make_range(start: date | None, end: date | None, tz_name: str) -> Range:
    """Validate a date range (default: the last 30 days including today)."""
    try:
        tz = ZoneInfo(tz_name)
    except (KeyError, ValueError) as exc:
        raise ValidationFailed(
            f"{tz_name!r} is not an IANA time zone", code="invalid_timezone"
        ) from exc
    if end is None:
        end = datetime.now(tz).date()
    if start is None:
        start = end - timedelta(days=29)
    if end < start:
        raise ValidationFailed("end is before start", code="invalid_range")
    if start < EARLIEST_DATE or end > LATEST_DATE:
        raise ValidationFailed(
            f"Dates lie between {EARLIEST_DATE} and {LATEST_DATE}", code="invalid_range"
        )
    if (end - start).days + 1 > MAX_RANGE_DAYS:
        raise ValidationFailed(
            f"A range covers at most {MAX_RANGE_DAYS} days", code="invalid_range"
        )
    return Range(start, end, tz)


def bucket_starts(rng: Range, interval: str) -> list[datetime]:
    """Every bucket start of the range, in order, as aware local datetimes."""
    tz = rng.tz
    starts: list[datetime] = []
    if interval == "hour":
        # Step in UTC: arithmetic on zone-aware datetimes is wall-clock and would repeat or
        # skip an hour across a DST change.
        moment, upper = rng.lower.astimezone(UTC), rng.upper.astimezone(UTC)
        while moment < upper:
            starts.append(moment.astimezone(tz))
            moment = moment + timedelta(hours=1)
            if len(starts) > MAX_BUCKETS:
                break
        return starts
    day = rng.start
    if interval == "week":
        day = day - timedelta(days=day.weekday())
    elif interval == "month":
        day = day.replace(day=1)
    while day <= rng.end and len(starts) <= MAX_BUCKETS:
        starts.append(local_midnight(day, tz))
        if interval == "day":
            day = day + timedelta(days=1)
        elif interval == "week":
            day = day + timedelta(days=7)
        else:
            day = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
    return starts
