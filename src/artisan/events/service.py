"""Event ingestion: validate each event (`validation`), store it once, and keep the per-lead
state and the rollups that analytics read exact, in the same transaction (set-based upserts)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, select, text, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from artisan.audit.recorder import SYSTEM, Actor, Target, record
from artisan.auth.principal import Principal
from artisan.core.pagination import PageParams, decode_time_cursor, encode_time_cursor
from artisan.events import domain_events
from artisan.events.catalog import (
    EPOCH,
    STATUS_RANK,
    SUPPRESSING,
    lead_status_after,
    metric_map_sql,
)
from artisan.events.schemas import BatchReport, EventFilters, EventOut, EventResult
from artisan.events.validation import ValidEvent, validate_events
from artisan.leads import domain_events as lead_events
from artisan.leads.service import add_suppressions
from artisan.models.event import Event

_dumps = json.JSONEncoder(separators=(",", ":")).encode


def tenant_events(principal: Principal) -> Select[Event]:
    """The tenant's stored events: the one place the tenant filter is written."""
    return select(Event).where(Event.tenant_id == principal.tenant_id)


def event_out(event: Event) -> EventOut:
    """The wire form of a stored event."""
    return EventOut(
        id=event.id,
        type=event.type,
        channel=event.channel,
        campaign_id=event.campaign_id,
        lead_id=event.lead_id,
        step=event.step,
        occurred_at=event.occurred_at,
        received_at=event.received_at,
        properties=dict(event.properties or {}),
        client_id=event.client_id,
        simulated=event.simulated,
    )


async def list_events(
    session: AsyncSession, principal: Principal, params: PageParams, filters: EventFilters
) -> tuple[list[Event], str | None]:
    """One page of the tenant's events, most recent occurrence first."""
    query = tenant_events(principal)
    if filters.campaign_id is not None:
        query = query.where(Event.campaign_id == filters.campaign_id)
    if filters.lead_id is not None:
        query = query.where(Event.lead_id == filters.lead_id)
    if filters.type is not None:
        query = query.where(Event.type == filters.type)
    if filters.channel is not None:
        query = query.where(Event.channel == filters.channel)
    if filters.occurred_after is not None:
        query = query.where(Event.occurred_at >= filters.occurred_after)
    if filters.occurred_before is not None:
        query = query.where(Event.occurred_at < filters.occurred_before)
    if filters.simulated is not None:
        query = query.where(Event.simulated.is_(filters.simulated))
    if params.cursor:
        # Ordered by occurrence (the tenant's occurrence index), ties broken by id.
        at, last_id = decode_time_cursor(params.cursor)
        query = query.where(tuple_(Event.occurred_at, Event.id) < tuple_(at, last_id))
    query = query.order_by(Event.occurred_at.desc(), Event.id.desc()).limit(params.limit + 1)
    rows = list((await session.execute(query)).scalars())
    more = len(rows) > params.limit
    rows = rows[: params.limit]
    cursor = encode_time_cursor(rows[-1].occurred_at, rows[-1].id) if more and rows else None
    return rows, cursor


# Answers only the ids that were not stored (a client id seen before): usually none, so the
# reply stays small whatever the batch size.
_INSERT_EVENTS = text(
    """
    WITH batch AS (
        SELECT * FROM unnest(CAST(:ids AS uuid[]), CAST(:types AS text[]),
                             CAST(:channels AS text[]), CAST(:campaigns AS uuid[]),
                             CAST(:leads AS uuid[]), CAST(:steps AS int[]),
                             CAST(:times AS timestamptz[]), CAST(:props AS text[]),
                             CAST(:client_ids AS text[]))
             AS e(id, type, channel, campaign_id, lead_id, step, occurred_at, properties,
                  client_id)
    ),
    stored AS (
        INSERT INTO events (id, tenant_id, type, channel, campaign_id, lead_id, step,
                            occurred_at, properties, client_id, simulated)
        SELECT e.id, :tenant_id, e.type, e.channel, e.campaign_id, e.lead_id, e.step,
               e.occurred_at, e.properties::jsonb, e.client_id, :simulated
        FROM batch AS e
        ON CONFLICT (tenant_id, client_id) WHERE client_id IS NOT NULL DO NOTHING
        RETURNING id
    )
    SELECT id FROM batch EXCEPT SELECT id FROM stored
    """
)

# One statement keeps the per-lead state, its copy of first occurrences and the rollups,
# aggregating the batch's stored rows itself: the database groups them in a fraction of the time
# the API process took to group them and encode the result as ~20 parameter arrays, and an event
# turned away by its client id cannot be counted. A first occurrence that moves earlier replaces
# its row in lead_metric_firsts (the old key is deleted, the new one inserted). The row lock
# taken by the state upsert makes prev_* the exact values it replaced, even when concurrent
# batches touch the same lead; a lead counts once per metric and campaign, in the bucket of its
# first occurrence (ties on time go to the older id, as in the rebuild), so an out-of-order event
# that moves the first occurrence earlier moves that count with it. Every upsert takes its rows
# in key order, the same order in every batch, so batches cannot deadlock.
_MAINTAIN_ANALYTICS = text(
    f"""
    WITH expanded AS (
        SELECT e.id, e.campaign_id, e.lead_id, e.step, e.channel, e.occurred_at, mm.metric
        FROM events AS e JOIN {metric_map_sql()} ON mm.type = e.type
        WHERE e.tenant_id = :tenant_id AND e.id = ANY(CAST(:ids AS uuid[]))
          AND (NOT mm.positive_only OR e.properties->>'sentiment' = 'positive')
    ),
    state AS (
        INSERT INTO lead_metric_state AS s (tenant_id, campaign_id, lead_id, metric, simulated,
                                            channel, first_at, last_at, total, steps,
                                            prev_first_at, prev_channel)
        SELECT :tenant_id, x.campaign_id, x.lead_id, x.metric, :simulated,
               (array_agg(x.channel ORDER BY x.occurred_at, x.id))[1], min(x.occurred_at),
               max(x.occurred_at), count(*), COALESCE(bit_or(1 << x.step), 0), NULL, NULL
        FROM expanded AS x
        GROUP BY x.campaign_id, x.lead_id, x.metric
        ORDER BY x.campaign_id, x.lead_id, x.metric
        ON CONFLICT (tenant_id, campaign_id, lead_id, metric, simulated) DO UPDATE SET
            prev_first_at = s.first_at,
            prev_channel = s.channel,
            channel = CASE WHEN EXCLUDED.first_at < s.first_at THEN EXCLUDED.channel
                           ELSE s.channel END,
            first_at = LEAST(s.first_at, EXCLUDED.first_at),
            last_at = GREATEST(s.last_at, EXCLUDED.last_at),
            total = s.total + EXCLUDED.total,
            steps = s.steps | EXCLUDED.steps
        RETURNING campaign_id, lead_id, metric, channel, first_at, prev_first_at, prev_channel
    ),
    moved AS (
        SELECT campaign_id, lead_id, metric, first_at, channel, prev_first_at, prev_channel
        FROM state
        WHERE prev_first_at IS NULL OR first_at < prev_first_at
    ),
    unfirsted AS (
        DELETE FROM lead_metric_firsts AS f
        USING moved AS m
        WHERE m.prev_first_at IS NOT NULL AND f.tenant_id = :tenant_id
          AND f.metric = m.metric AND f.first_at = m.prev_first_at
          AND f.campaign_id = m.campaign_id AND f.lead_id = m.lead_id
          AND f.simulated = :simulated
    ),
    firsted AS (
        INSERT INTO lead_metric_firsts (tenant_id, metric, first_at, campaign_id, lead_id,
                                        simulated)
        SELECT :tenant_id, metric, first_at, campaign_id, lead_id, :simulated
        FROM moved
        ORDER BY metric, first_at, campaign_id, lead_id
    ),
    delta AS (
        SELECT d.campaign_id, d.metric, d.bucket, d.channel,
               sum(d.total)::bigint AS total, sum(d.uniques)::bigint AS uniques
        FROM (
            SELECT campaign_id, metric, date_bin('15 minutes', occurred_at, :origin) AS bucket,
                   channel, 1 AS total, 0 AS uniques
            FROM expanded
            UNION ALL
            SELECT campaign_id, metric, date_bin('15 minutes', first_at, :origin), channel, 0, 1
            FROM moved
            UNION ALL
            SELECT campaign_id, metric, date_bin('15 minutes', prev_first_at, :origin),
                   prev_channel, 0, -1
            FROM moved
            WHERE prev_first_at IS NOT NULL
        ) AS d
        GROUP BY d.campaign_id, d.metric, d.bucket, d.channel
        HAVING sum(d.total) <> 0 OR sum(d.uniques) <> 0
    ),
    campaign_rollup AS (
        INSERT INTO analytics_campaign_rollups AS r (tenant_id, campaign_id, metric, bucket,
                                                      channel, simulated, total, uniques)
        SELECT :tenant_id, campaign_id, metric, bucket, channel, :simulated, total, uniques
        FROM delta
        ORDER BY campaign_id, metric, bucket, channel
        ON CONFLICT (tenant_id, campaign_id, metric, bucket, channel, simulated) DO UPDATE SET
            total = r.total + EXCLUDED.total,
            uniques = r.uniques + EXCLUDED.uniques
    ),
    step_rollup AS (
        INSERT INTO analytics_step_rollups AS r (tenant_id, campaign_id, step, metric,
                                                  simulated, total)
        SELECT :tenant_id, campaign_id, step, metric, :simulated, count(*)
        FROM expanded
        WHERE step IS NOT NULL
        GROUP BY campaign_id, step, metric
        ORDER BY campaign_id, step, metric
        ON CONFLICT (tenant_id, campaign_id, step, metric, simulated) DO UPDATE SET
            total = r.total + EXCLUDED.total
    ),
    tenant_rollup AS (
        INSERT INTO analytics_tenant_rollups AS r (tenant_id, metric, bucket, channel, simulated,
                                                    total, uniques)
        SELECT :tenant_id, metric, bucket, channel, :simulated, sum(total), sum(uniques)
        FROM delta
        GROUP BY metric, bucket, channel
        HAVING sum(total) <> 0 OR sum(uniques) <> 0
        ORDER BY metric, bucket, channel
        ON CONFLICT (tenant_id, metric, bucket, channel, simulated) DO UPDATE SET
            total = r.total + EXCLUDED.total,
            uniques = r.uniques + EXCLUDED.uniques
    ),
    tenant_daily AS (
        INSERT INTO analytics_tenant_daily AS r (tenant_id, metric, day, channel, simulated,
                                                 total, uniques)
        SELECT :tenant_id, metric, (bucket AT TIME ZONE 'UTC')::date, channel, :simulated,
               sum(total), sum(uniques)
        FROM delta
        GROUP BY metric, (bucket AT TIME ZONE 'UTC')::date, channel
        HAVING sum(total) <> 0 OR sum(uniques) <> 0
        ORDER BY metric, (bucket AT TIME ZONE 'UTC')::date, channel
        ON CONFLICT (tenant_id, metric, day, channel, simulated) DO UPDATE SET
            total = r.total + EXCLUDED.total,
            uniques = r.uniques + EXCLUDED.uniques
    )
    SELECT count(*) FROM delta
    """  # noqa: S608 - the metric map is built from the static catalogue
)


async def _store(
    session: AsyncSession, tenant_id: uuid.UUID, events: list[ValidEvent], simulated: bool
) -> set[uuid.UUID]:
    """Insert the events; answers the ids of those a stored client id turned away."""
    result = await session.execute(
        _INSERT_EVENTS,
        {
            "tenant_id": tenant_id,
            "simulated": simulated,
            "ids": [e.id for e in events],
            "types": [e.type for e in events],
            "channels": [e.channel for e in events],
            "campaigns": [e.campaign_id for e in events],
            "leads": [e.lead_id for e in events],
            "steps": [e.step for e in events],
            "times": [e.occurred_at for e in events],
            "props": [_dumps(e.properties) if e.properties else "{}" for e in events],
            "client_ids": [e.client_id for e in events],
        },
    )
    return {row.id for row in result}


async def _maintain_analytics(
    session: AsyncSession, tenant_id: uuid.UUID, events: list[ValidEvent], simulated: bool
) -> None:
    await session.execute(
        _MAINTAIN_ANALYTICS,
        {
            "tenant_id": tenant_id,
            "simulated": simulated,
            "ids": [e.id for e in events],
            "origin": EPOCH,
        },
    )


async def _update_leads(
    session: AsyncSession, tenant_id: uuid.UUID, events: list[ValidEvent]
) -> dict[str, list[str]]:
    """Move the leads' statuses on and suppress bounced addresses; the status changes made."""
    # Set-based statements on the leads' table (a batch moves hundreds of leads at once); their
    # webhook events and suppressions still go through the leads domain.
    best: dict[uuid.UUID, tuple[str, ValidEvent]] = {}
    engaged_at: dict[uuid.UUID, datetime] = {}
    suppress: dict[uuid.UUID, str] = {}
    for event in events:
        status = lead_status_after(event.type, event.properties)
        if status is None:
            continue
        if status != "contacted":
            engaged_at[event.lead_id] = max(
                engaged_at.get(event.lead_id, event.occurred_at), event.occurred_at
            )
        if event.type in SUPPRESSING:
            suppress[event.lead_id] = SUPPRESSING[event.type]
        current = best.get(event.lead_id)
        if (
            current is None
            or STATUS_RANK[status] > STATUS_RANK[current[0]]
            or (
                STATUS_RANK[status] == STATUS_RANK[current[0]]
                and event.occurred_at > current[1].occurred_at
            )
        ):
            best[event.lead_id] = (status, event)
    changes: dict[str, list[str]] = {}
    if not best:
        return changes
    contacted_only = sorted(lead for lead, (status, _) in best.items() if status == "contacted")
    if contacted_only:
        contacted_rows = await session.execute(
            text(
                "UPDATE leads SET status = 'contacted', updated_at = now() "
                "WHERE tenant_id = :t AND id = ANY(:ids) AND status = 'new' RETURNING id"
            ),
            {"t": tenant_id, "ids": contacted_only},
        )
        for row in contacted_rows:
            changes[str(row.id)] = ["new", "contacted"]
    engaged = sorted(lead for lead, (status, _) in best.items() if status != "contacted")
    if engaged:
        lead_rows = await session.execute(
            text(
                "SELECT id, email, status, last_engaged_at FROM leads "
                "WHERE tenant_id = :t AND id = ANY(:ids) ORDER BY id FOR UPDATE"
            ),
            {"t": tenant_id, "ids": engaged},
        )
        updates: list[dict[str, Any]] = []
        suppressions: list[tuple[str, str, uuid.UUID]] = []
        for lead in lead_rows.all():
            status, event = best[lead.id]
            new_status = lead.status
            if STATUS_RANK[status] > STATUS_RANK.get(lead.status, 0) or (
                STATUS_RANK[status] == STATUS_RANK.get(lead.status, 0)
                and status != lead.status
                and (lead.last_engaged_at is None or event.occurred_at > lead.last_engaged_at)
            ):
                new_status = status
            last = engaged_at[lead.id]
            if lead.last_engaged_at is not None:
                last = max(last, lead.last_engaged_at)
            updates.append({"id": lead.id, "status": new_status, "last": last})
            if new_status != lead.status:
                changes[str(lead.id)] = [lead.status, new_status]
            if lead.id in suppress:
                suppressions.append((lead.email, suppress[lead.id], lead.id))
        if suppressions:
            await add_suppressions(session, tenant_id, suppressions)
        await session.execute(
            text(
                "UPDATE leads SET status = u.status, last_engaged_at = u.last, updated_at = now() "
                "FROM unnest(CAST(:ids AS uuid[]), CAST(:statuses AS text[]), "
                "CAST(:lasts AS timestamptz[])) AS u(id, status, last) "
                "WHERE leads.tenant_id = :t AND leads.id = u.id"
            ),
            {
                "t": tenant_id,
                "ids": [u["id"] for u in updates],
                "statuses": [u["status"] for u in updates],
                "lasts": [u["last"] for u in updates],
            },
        )
    return changes


async def _announce(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    changes: dict[str, list[str]],
    inserted: list[ValidEvent],
) -> None:
    if changes:
        await lead_events.lead_statuses_changed(
            session,
            tenant_id,
            [(uuid.UUID(lead_id), before, after) for lead_id, (before, after) in changes.items()],
            cause="event",
        )
    await domain_events.engagement_recorded(session, tenant_id, inserted)


async def ingest(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    items: Sequence[Any],
    *,
    actor: Actor | Principal = SYSTEM,
    campaign_id: uuid.UUID | None = None,
    simulated: bool = False,
    max_future: timedelta = timedelta(minutes=5),
) -> BatchReport:
    """Validate, store and account for a batch; each event is accepted, a duplicate or refused."""
    valid, errors = await validate_events(
        session, tenant_id, items, campaign_id=campaign_id, max_future=max_future
    )
    results: dict[int, EventResult] = {
        index: EventResult(index=index, status="rejected", errors=problems)
        for index, problems in errors.items()
    }
    first_by_client: dict[str, ValidEvent] = {}
    fresh: list[ValidEvent] = []
    for event in valid:
        if event.client_id is not None:
            if event.client_id in first_by_client:
                results[event.index] = EventResult(
                    index=event.index, status="duplicate", id=first_by_client[event.client_id].id
                )
                continue
            first_by_client[event.client_id] = event
        fresh.append(event)
    refused_ids = await _store(session, tenant_id, fresh, simulated) if fresh else set()
    inserted = [e for e in fresh if e.id not in refused_ids]
    repeated = [e for e in fresh if e.id in refused_ids]
    if repeated:
        stored = await session.execute(
            text("SELECT id, client_id FROM events WHERE tenant_id = :t AND client_id = ANY(:c)"),
            {"t": tenant_id, "c": [e.client_id for e in repeated]},
        )
        existing = {row.client_id: row.id for row in stored}
        for event in repeated:
            results[event.index] = EventResult(
                index=event.index, status="duplicate", id=existing.get(event.client_id)
            )
            # Same-batch duplicates point at the stored event, not the discarded new id.
            for other in list(results.values()):
                if other.status == "duplicate" and other.id == event.id:
                    other.id = existing.get(event.client_id)
    for event in inserted:
        results[event.index] = EventResult(index=event.index, status="accepted", id=event.id)
    if inserted:
        # The rollups' recent rows and the audit chain are shared by every batch of the tenant,
        # so concurrent batches queue on them until the holder commits: they come last.
        changes: dict[str, list[str]] = {}
        if not simulated:
            changes = await _update_leads(session, tenant_id, inserted)
            await _announce(session, tenant_id, changes, inserted)
        await _maintain_analytics(session, tenant_id, inserted, simulated)
        if changes:
            # One audit entry per batch: a batch can change hundreds of leads at once.
            await record(
                session,
                "lead.status_changed",
                tenant_id=tenant_id,
                actor=actor,
                targets=[Target("lead", lead_id) for lead_id in sorted(changes)],
                metadata={"cause": "events", "changes": changes},
            )
    ordered = [results[i] for i in sorted(results)]
    return BatchReport(
        accepted=sum(r.status == "accepted" for r in ordered),
        duplicates=sum(r.status == "duplicate" for r in ordered),
        rejected=sum(r.status == "rejected" for r in ordered),
        results=ordered,
    )
