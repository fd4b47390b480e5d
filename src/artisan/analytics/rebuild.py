"""Recompute the per-lead state and the rollups of a tenant from its raw events.

Ingestion keeps these exact incrementally; this set-based rebuild is for bulk loads made
outside the API (COPY), for recovery, and as the check that both ways agree.
"""

from __future__ import annotations

import uuid

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from artisan.events.catalog import metric_map_sql

_EXPANDED = f"""
    SELECT e.tenant_id, e.campaign_id, e.lead_id, e.step, e.channel, e.occurred_at, e.id,
           e.simulated, mm.metric
    FROM events e JOIN {metric_map_sql()} ON mm.type = e.type
    WHERE e.tenant_id = :t
      AND (NOT mm.positive_only OR e.properties->>'sentiment' = 'positive')
"""  # noqa: S608 - the metric map is built from the static catalogue
_BUCKET = "to_timestamp(floor(extract(epoch FROM {col}) / 900) * 900)"


async def rebuild_tenant(session: AsyncSession, tenant_id: uuid.UUID) -> None:
    """Replace the tenant's per-lead state and rollups with a recomputation from raw events."""
    params = {"t": tenant_id}
    for table in (
        "lead_metric_state",
        "lead_metric_firsts",
        "analytics_campaign_rollups",
        "analytics_tenant_rollups",
        "analytics_tenant_daily",
        "analytics_step_rollups",
    ):
        await session.execute(text(f"DELETE FROM {table} WHERE tenant_id = :t"), params)  # noqa: S608
    # Ties on time go to the older id, as the incremental path keeps the stored first.
    state = (
        "INSERT INTO lead_metric_state (tenant_id, campaign_id, lead_id, metric, simulated, "  # noqa: S608
        "channel, first_at, last_at, total, steps) "
        "SELECT x.tenant_id, x.campaign_id, x.lead_id, x.metric, x.simulated, "
        "(array_agg(x.channel ORDER BY x.occurred_at, x.id))[1], min(x.occurred_at), "
        "max(x.occurred_at), count(*), COALESCE(bit_or(1 << x.step), 0) "
        f"FROM ({_EXPANDED}) x GROUP BY 1, 2, 3, 4, 5"
    )
    await session.execute(text(state), params)
    await session.execute(
        text(
            "INSERT INTO lead_metric_firsts (tenant_id, metric, first_at, campaign_id, lead_id, "
            "simulated) SELECT tenant_id, metric, first_at, campaign_id, lead_id, simulated "
            "FROM lead_metric_state WHERE tenant_id = :t"
        ),
        params,
    )
    steps = (
        "INSERT INTO analytics_step_rollups (tenant_id, campaign_id, step, metric, simulated, "  # noqa: S608
        "total) SELECT x.tenant_id, x.campaign_id, x.step, x.metric, x.simulated, count(*) "
        f"FROM ({_EXPANDED}) x WHERE x.step IS NOT NULL GROUP BY 1, 2, 3, 4, 5"
    )
    await session.execute(text(steps), params)
    totals = (
        "INSERT INTO analytics_campaign_rollups (tenant_id, campaign_id, metric, bucket, "  # noqa: S608
        "channel, simulated, total, uniques) "
        f"SELECT x.tenant_id, x.campaign_id, x.metric, {_BUCKET.format(col='x.occurred_at')}, "
        f"x.channel, x.simulated, count(*), 0 FROM ({_EXPANDED}) x "
        "GROUP BY 1, 2, 3, 4, 5, 6"
    )
    await session.execute(text(totals), params)
    uniques = (
        "INSERT INTO analytics_campaign_rollups AS r (tenant_id, campaign_id, metric, bucket, "  # noqa: S608
        "channel, simulated, total, uniques) "
        f"SELECT tenant_id, campaign_id, metric, {_BUCKET.format(col='first_at')}, channel, "
        "simulated, 0, count(*) FROM lead_metric_state WHERE tenant_id = :t "
        "GROUP BY 1, 2, 3, 4, 5, 6 "
        "ON CONFLICT (tenant_id, campaign_id, metric, bucket, channel, simulated) "
        "DO UPDATE SET uniques = EXCLUDED.uniques"
    )
    await session.execute(text(uniques), params)
    await session.execute(
        text(
            "INSERT INTO analytics_tenant_rollups (tenant_id, metric, bucket, channel, simulated, "
            "total, uniques) SELECT tenant_id, metric, bucket, channel, simulated, sum(total), "
            "sum(uniques) FROM analytics_campaign_rollups WHERE tenant_id = :t "
            "GROUP BY 1, 2, 3, 4, 5"
        ),
        params,
    )
    await session.execute(
        text(
            "INSERT INTO analytics_tenant_daily (tenant_id, metric, day, channel, simulated, "
            "total, uniques) SELECT tenant_id, metric, (bucket AT TIME ZONE 'UTC')::date, "
            "channel, simulated, sum(total), sum(uniques) FROM analytics_tenant_rollups "
            "WHERE tenant_id = :t GROUP BY 1, 2, 3, 4, 5"
        ),
        params,
    )
