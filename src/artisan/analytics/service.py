"""Analytics over the per-lead state and the 15-minute rollups; raw events are never scanned.

Unique counts: a lead counts once per campaign and metric, in the bucket (and channel) of its
first occurrence. Totals count every event. docs/analytics.md states every formula.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Mapping
from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from artisan.analytics import formulas
from artisan.analytics.ranges import MAX_BUCKETS, Range, bucket_starts
from artisan.analytics.schemas import (
    Activity,
    Bucket,
    CampaignReport,
    ChannelFigures,
    ChannelsReport,
    Dashboard,
    Figures,
    Funnel,
    FunnelStep,
    Kpi,
    StepFigures,
    Timeseries,
    TopCampaign,
)
from artisan.auth.principal import Principal
from artisan.campaigns.service import check_campaign, get_campaign
from artisan.core.errors import ValidationFailed
from artisan.events.catalog import EVENT_CHANNELS, MAX_STEP, METRICS

DEFAULT_FUNNEL = ("contacted", "delivered", "opened", "clicked", "replied", "meeting_booked")
KPI_METRICS = ("contacted", "delivered", "opened", "replied", "positive_replied", "meeting_booked")


async def _plan_per_request(session: AsyncSession) -> None:
    # Ranges and tenants vary widely in size; a cached generic plan chosen for one shape is
    # several times slower on another, so these queries are planned with their real values.
    await session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))


def _simulated(include: bool) -> list[bool]:
    return [False, True] if include else [False]


def _figures(counts: Mapping[str, int]) -> dict[str, Any]:
    delivered, source = formulas.delivered(counts)
    return {
        "counts": dict(sorted(counts.items())),
        "delivered": delivered,
        "delivered_source": source,
        "rates": formulas.rates(counts),
    }


async def campaign_report(
    session: AsyncSession,
    principal: Principal,
    campaign_id: uuid.UUID,
    *,
    count: str,
    include_simulated: bool,
) -> CampaignReport:
    """A campaign's all-time totals and rates, per step and per channel."""
    await _plan_per_request(session)
    campaign = await get_campaign(session, principal, campaign_id)
    params = {"t": principal.tenant_id, "c": campaign_id, "sim": _simulated(include_simulated)}
    value = "sum(uniques)" if count == "unique" else "sum(total)"
    by_channel: dict[str, dict[str, int]] = defaultdict(dict)
    totals: dict[str, int] = defaultdict(int)
    rows = await session.execute(
        text(
            f"SELECT channel, metric, {value} AS n FROM analytics_campaign_rollups "  # noqa: S608 - only internal constants are interpolated
            "WHERE tenant_id = :t AND campaign_id = :c AND simulated = ANY(:sim) "
            "GROUP BY channel, metric"
        ),
        params,
    )
    for row in rows:
        by_channel[row.channel][row.metric] = int(row.n)
        totals[row.metric] += int(row.n)
    by_step: dict[int, dict[str, int]] = defaultdict(dict)
    if count == "unique":
        # A lead counts once on each step whose bit it carries.
        step_sql = (
            "SELECT k.step, s.metric, count(*) AS n FROM lead_metric_state s "
            "CROSS JOIN generate_series(1, :max_step) AS k(step) "
            "WHERE s.tenant_id = :t AND s.campaign_id = :c AND s.simulated = ANY(:sim) "
            "AND s.steps <> 0 AND s.steps & (1 << k.step) <> 0 GROUP BY k.step, s.metric"
        )
    else:
        step_sql = (
            "SELECT step, metric, sum(total) AS n FROM analytics_step_rollups "
            "WHERE tenant_id = :t AND campaign_id = :c AND simulated = ANY(:sim) "
            "GROUP BY step, metric"
        )
    rows = await session.execute(text(step_sql), {**params, "max_step": MAX_STEP})
    for row in rows:
        by_step[row.step][row.metric] = int(row.n)
    steps = list(campaign.steps or [])
    return CampaignReport(
        campaign_id=campaign.id,
        name=campaign.name,
        status=campaign.status,
        count=count,
        include_simulated=include_simulated,
        totals=Figures(**_figures({k: v for k, v in totals.items() if v})),
        steps=[
            StepFigures(
                step=number,
                channel=steps[number - 1]["channel"] if number <= len(steps) else None,
                **_figures({k: v for k, v in by_step.get(number, {}).items() if v}),
            )
            for number in range(1, max([len(steps), *by_step.keys(), 0]) + 1)
        ],
        channels=[
            ChannelFigures(
                channel=channel, **_figures({k: v for k, v in by_channel[channel].items() if v})
            )
            for channel in EVENT_CHANNELS
            if channel in by_channel
        ],
    )


def _source(campaign_id: uuid.UUID | None) -> tuple[str, str]:
    if campaign_id is None:
        return "analytics_tenant_rollups", ""
    return "analytics_campaign_rollups", " AND campaign_id = :c"


async def _series(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    rng: Range,
    *,
    metric: str,
    interval: str,
    count: str,
    campaign_id: uuid.UUID | None,
    channel: str | None,
    include_simulated: bool,
) -> list[Bucket]:
    starts = bucket_starts(rng, interval)
    if len(starts) > MAX_BUCKETS:
        raise ValidationFailed(
            f"At most {MAX_BUCKETS} buckets; use a longer interval", code="too_many_buckets"
        )
    table, campaign_filter = _source(campaign_id)
    channel_filter = " AND channel = :channel" if channel else ""
    value = "sum(uniques)" if count == "unique" else "sum(total)"
    # date_trunc in the zone puts each 15-minute bucket into its local hour/day/week/month,
    # DST changes included; every zone's offset is a multiple of 15 minutes.
    rows = await session.execute(
        text(
            f"SELECT date_trunc(:interval, bucket, :tz) AS b, {value} AS n FROM {table} "  # noqa: S608 - only internal constants are interpolated
            "WHERE tenant_id = :t AND metric = :metric AND bucket >= :lower AND bucket < :upper "
            f"AND simulated = ANY(:sim){campaign_filter}{channel_filter} GROUP BY 1"
        ),
        {
            "interval": interval,
            "tz": rng.tz.key,
            "t": tenant_id,
            "metric": metric,
            "lower": rng.lower,
            "upper": rng.upper,
            "sim": _simulated(include_simulated),
            "c": campaign_id,
            "channel": channel,
        },
    )
    values = {row.b: int(row.n) for row in rows}
    return [Bucket(start=start, value=values.get(start, 0)) for start in starts]


async def timeseries(
    session: AsyncSession,
    principal: Principal,
    rng: Range,
    *,
    metric: str,
    interval: str,
    count: str,
    campaign_id: uuid.UUID | None,
    channel: str | None,
    include_simulated: bool,
    compare: bool,
) -> Timeseries:
    """A metric per bucket over the range, zero-filled, optionally beside the previous period."""
    await _plan_per_request(session)
    if campaign_id is not None:
        await check_campaign(session, principal, campaign_id)
    options = {
        "metric": metric,
        "interval": interval,
        "count": count,
        "campaign_id": campaign_id,
        "channel": channel,
        "include_simulated": include_simulated,
    }
    buckets = await _series(session, principal.tenant_id, rng, **options)  # type: ignore[arg-type]
    total = sum(b.value for b in buckets)
    result = Timeseries(
        metric=metric,
        interval=interval,
        timezone=rng.tz.key,
        count=count,
        start=rng.start,
        end=rng.end,
        total=total,
        buckets=buckets,
    )
    if compare:
        previous = await _series(
            session,
            principal.tenant_id,
            rng.previous(),
            **options,  # type: ignore[arg-type]
        )
        result.previous = previous
        result.previous_total = sum(b.value for b in previous)
        result.change = formulas.change(total, result.previous_total)
    return result


async def funnel(
    session: AsyncSession,
    principal: Principal,
    rng: Range,
    *,
    steps: list[str],
    window_days: int,
    campaign_id: uuid.UUID | None,
    include_simulated: bool,
) -> Funnel:
    """Unique leads reaching each step: first step in the range, each later step at or after
    the previous one and within the window of the first (each lead's first occurrences)."""
    await _plan_per_request(session)
    if campaign_id is not None:
        await check_campaign(session, principal, campaign_id)
    window = timedelta(days=window_days)
    # Two range scans of the first occurrences' key, which carries each lead's key too: the
    # leads that entered (first step first seen in the range), and the later steps' first
    # occurrences that could count. A later step counts only at or after the entry and within
    # the window of it, so only firsts in [lower, upper + window) can, and nothing outside is
    # read; the two sides are then joined by lead in memory instead of probing each entered
    # lead's rows.
    pivots = ", ".join(
        f"min(first_at) FILTER (WHERE metric = :m{i}) AS t{i}" for i in range(1, len(steps))
    )
    reached = ["true"]
    for i in range(1, len(steps)):
        previous = "e.t0" if i == 1 else f"x.t{i - 1}"
        reached.append(f"{reached[-1]} AND x.t{i} >= {previous} AND x.t{i} <= e.t0 + :window")
    counts = ", ".join(f"count(*) FILTER (WHERE {cond}) AS n{i}" for i, cond in enumerate(reached))
    campaign_filter = " AND campaign_id = :c" if campaign_id else ""
    params: dict[str, Any] = {
        "t": principal.tenant_id,
        "first": steps[0],
        "rest": steps[1:],
        "lower": rng.lower,
        "upper": rng.upper,
        "window": window,
        "sim": _simulated(include_simulated),
        "c": campaign_id,
    }
    params.update({f"m{i}": metric for i, metric in enumerate(steps)})
    row = (
        await session.execute(
            text(
                f"SELECT {counts} FROM ("  # noqa: S608 - only internal constants are interpolated
                "SELECT campaign_id, lead_id, simulated, first_at AS t0 FROM lead_metric_firsts "
                "WHERE tenant_id = :t AND metric = :first AND first_at >= :lower "
                f"AND first_at < :upper AND simulated = ANY(:sim){campaign_filter}) AS e "
                f"LEFT JOIN (SELECT campaign_id, lead_id, simulated, {pivots} "
                "FROM lead_metric_firsts WHERE tenant_id = :t AND metric = ANY(:rest) "
                "AND first_at >= :lower AND first_at < :upper + :window "
                f"AND simulated = ANY(:sim){campaign_filter} "
                "GROUP BY campaign_id, lead_id, simulated) AS x "
                "ON x.campaign_id = e.campaign_id AND x.lead_id = e.lead_id "
                "AND x.simulated = e.simulated"
            ),
            params,
        )
    ).one()
    values = [int(row[i]) for i in range(len(steps))]
    return Funnel(
        steps=[
            FunnelStep(
                metric=metric,
                leads=values[i],
                conversion_from_previous=(
                    None if i == 0 else (values[i] / values[i - 1] if values[i - 1] else None)
                ),
                conversion_from_first=values[i] / values[0] if values[0] else None,
            )
            for i, metric in enumerate(steps)
        ],
        window_days=window_days,
        start=rng.start,
        end=rng.end,
        timezone=rng.tz.key,
    )


def _day_split(lower: datetime, upper: datetime) -> tuple[datetime, datetime]:
    """The whole UTC days inside [lower, upper), as [first, last) (empty when first >= last)."""
    lower_utc, upper_utc = lower.astimezone(UTC), upper.astimezone(UTC)
    first = datetime.combine(lower_utc.date(), time(0), tzinfo=UTC)
    if first < lower_utc:
        first += timedelta(days=1)
    last = datetime.combine(upper_utc.date(), time(0), tzinfo=UTC)
    return first, last


async def _counts_by_channel(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    rng: Range,
    *,
    count: str,
    campaign_id: uuid.UUID | None,
    include_simulated: bool,
) -> dict[str, dict[str, int]]:
    value = "uniques" if count == "unique" else "total"
    params: dict[str, Any] = {
        "t": tenant_id,
        "lower": rng.lower,
        "upper": rng.upper,
        "sim": _simulated(include_simulated),
        "c": campaign_id,
        # Naming every metric lets the (tenant, metric, bucket) key serve a bucket range.
        "metrics": list(METRICS),
    }
    first, last = _day_split(rng.lower, rng.upper)
    if campaign_id is not None:
        sql = (
            f"SELECT channel, metric, sum({value}) AS n FROM analytics_campaign_rollups "  # noqa: S608
            "WHERE tenant_id = :t AND campaign_id = :c AND bucket >= :lower AND bucket < :upper "
            "AND simulated = ANY(:sim) GROUP BY channel, metric"
        )
    elif first < last:
        # Whole UTC days from the daily table, the local-midnight edges from 15-minute buckets.
        params.update(first=first, last=last, first_day=first.date(), last_day=last.date())
        sql = (
            f"SELECT channel, metric, sum(n) AS n FROM ("  # noqa: S608
            f" SELECT channel, metric, {value} AS n FROM analytics_tenant_daily"
            " WHERE tenant_id = :t AND day >= :first_day AND day < :last_day"
            " AND simulated = ANY(:sim)"
            f" UNION ALL SELECT channel, metric, {value} FROM analytics_tenant_rollups"
            " WHERE tenant_id = :t AND metric = ANY(:metrics) AND simulated = ANY(:sim)"
            " AND ((bucket >= :lower AND bucket < :first) OR (bucket >= :last AND bucket < :upper))"
            ") AS parts GROUP BY channel, metric"
        )
    else:
        sql = (
            f"SELECT channel, metric, sum({value}) AS n FROM analytics_tenant_rollups "  # noqa: S608
            "WHERE tenant_id = :t AND metric = ANY(:metrics) AND bucket >= :lower "
            "AND bucket < :upper "
            "AND simulated = ANY(:sim) GROUP BY channel, metric"
        )
    result: dict[str, dict[str, int]] = defaultdict(dict)
    for row in await session.execute(text(sql), params):
        if row.n:
            result[row.channel][row.metric] = int(row.n)
    return result


async def channels(
    session: AsyncSession,
    principal: Principal,
    rng: Range,
    *,
    count: str,
    campaign_id: uuid.UUID | None,
    include_simulated: bool,
) -> ChannelsReport:
    """Figures per channel over the range."""
    await _plan_per_request(session)
    if campaign_id is not None:
        await check_campaign(session, principal, campaign_id)
    per_channel = await _counts_by_channel(
        session,
        principal.tenant_id,
        rng,
        count=count,
        campaign_id=campaign_id,
        include_simulated=include_simulated,
    )
    return ChannelsReport(
        start=rng.start,
        end=rng.end,
        timezone=rng.tz.key,
        count=count,
        channels=[
            ChannelFigures(channel=channel, **_figures(per_channel[channel]))
            for channel in EVENT_CHANNELS
            if channel in per_channel
        ],
    )


def _kpi_values(per_channel: Mapping[str, Mapping[str, int]]) -> dict[str, float | None]:
    counts: dict[str, int] = defaultdict(int)
    for figures in per_channel.values():
        for metric, n in figures.items():
            counts[metric] += n
    values: dict[str, float | None] = {m: float(counts.get(m, 0)) for m in KPI_METRICS}
    values["delivered"] = float(formulas.delivered(counts)[0])
    values.update(formulas.rates(counts))
    return values


async def dashboard(
    session: AsyncSession,
    principal: Principal,
    rng: Range,
    *,
    count: str,
    include_simulated: bool,
    top: int = 5,
    recent: int = 20,
) -> Dashboard:
    """KPIs with the previous period, the top campaigns by replies, and the latest events."""
    await _plan_per_request(session)
    tenant_id = principal.tenant_id
    options = {"count": count, "campaign_id": None, "include_simulated": include_simulated}
    now = _kpi_values(await _counts_by_channel(session, tenant_id, rng, **options))  # type: ignore[arg-type]
    before = _kpi_values(
        await _counts_by_channel(session, tenant_id, rng.previous(), **options)  # type: ignore[arg-type]
    )
    kpis = [
        Kpi(
            metric=name,
            value=value,
            previous=before.get(name),
            change=(
                formulas.change(value, before[name] or 0.0)
                if value is not None and before.get(name) is not None
                else None
            ),
        )
        for name, value in now.items()
    ]
    value = "sum(r.uniques)" if count == "unique" else "sum(r.total)"
    rows = await session.execute(
        text(
            "WITH ranked AS ("  # noqa: S608 - only internal constants are interpolated
            f" SELECT r.campaign_id, {value} AS replied FROM analytics_campaign_rollups r"
            " WHERE r.tenant_id = :t AND r.metric = 'replied' AND r.bucket >= :lower"
            " AND r.bucket < :upper AND r.simulated = ANY(:sim)"
            " GROUP BY r.campaign_id ORDER BY 2 DESC, 1 LIMIT :top)"
            f" SELECT k.campaign_id, k.replied, c.name, c.status, r.metric, {value} AS n"
            " FROM ranked k JOIN campaigns c ON c.id = k.campaign_id AND c.tenant_id = :t"
            " LEFT JOIN analytics_campaign_rollups r ON r.tenant_id = :t"
            " AND r.campaign_id = k.campaign_id AND r.bucket >= :lower AND r.bucket < :upper"
            " AND r.simulated = ANY(:sim)"
            " AND r.metric IN ('contacted', 'meeting_booked', 'sent', 'bounced', 'delivered')"
            " GROUP BY k.campaign_id, k.replied, c.name, c.status, r.metric"
        ),
        {
            "t": tenant_id,
            "lower": rng.lower,
            "upper": rng.upper,
            "sim": _simulated(include_simulated),
            "top": top,
        },
    )
    campaigns: dict[uuid.UUID, dict[str, Any]] = {}
    for row in rows:
        entry = campaigns.setdefault(
            row.campaign_id,
            {"name": row.name, "status": row.status, "counts": {"replied": int(row.replied)}},
        )
        if row.metric is not None:
            entry["counts"][row.metric] = int(row.n)
    top_campaigns = sorted(
        (
            TopCampaign(
                campaign_id=cid,
                name=entry["name"],
                status=entry["status"],
                contacted=entry["counts"].get("contacted", 0),
                replied=entry["counts"]["replied"],
                meeting_booked=entry["counts"].get("meeting_booked", 0),
                reply_rate=formulas.rates(entry["counts"])["reply_rate"],
            )
            for cid, entry in campaigns.items()
        ),
        key=lambda c: (-c.replied, str(c.campaign_id)),
    )
    events = await session.execute(
        text(
            "SELECT id, type, channel, campaign_id, lead_id, step, occurred_at, simulated "
            "FROM events WHERE tenant_id = :t AND simulated = ANY(:sim) "
            "ORDER BY occurred_at DESC, id DESC LIMIT :n"
        ),
        {"t": tenant_id, "sim": _simulated(include_simulated), "n": recent},
    )
    return Dashboard(
        start=rng.start,
        end=rng.end,
        timezone=rng.tz.key,
        count=count,
        kpis=kpis,
        top_campaigns=top_campaigns,
        recent_activity=[Activity.model_validate(row, from_attributes=True) for row in events],
    )
