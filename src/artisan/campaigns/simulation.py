"""Simulation: a seeded, reproducible event stream for a campaign's enrolled leads, ingested as
simulated events (analytics count them apart, and they move no lead and emit no webhook)."""

from __future__ import annotations

import hashlib
import random
import uuid
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from artisan.audit.recorder import record
from artisan.auth.principal import Principal
from artisan.campaigns.enrolment import campaign_enrollments
from artisan.campaigns.schemas import SimulateOut, SimulateRequest, SimulationRates
from artisan.campaigns.service import campaign_target, get_campaign
from artisan.core.errors import Conflict
from artisan.events.schemas import BatchReport
from artisan.events.service import ingest
from artisan.models.campaign import Enrollment
from artisan.tenants.features import require_feature

# Simulated events may lie up to two years ahead (a campaign's whole planned run).
SIMULATION_HORIZON = timedelta(days=366 * 2)
INGEST_BATCH = 1000


def _moment(rng: random.Random, start: datetime, end: datetime) -> datetime:
    span = (end - start).total_seconds()
    return start + timedelta(seconds=int(rng.random() * span))


def simulate_events(
    campaign_id: uuid.UUID,
    steps: list[dict[str, Any]],
    lead_ids: list[uuid.UUID],
    *,
    seed: int,
    start: datetime,
    end: datetime,
    rates: SimulationRates,
) -> list[dict[str, Any]]:
    """A realistic event stream, a pure function of its arguments (same seed, same events)."""
    rng = random.Random(seed)  # noqa: S311 - reproducible simulation, not security
    events: list[dict[str, Any]] = []
    span = end - start
    prefix = hashlib.sha256(f"{campaign_id}:{seed}".encode()).hexdigest()[:16]

    def emit(kind: str, lead_id: uuid.UUID, step: int | None, at: datetime, **props: Any) -> None:
        events.append(
            {
                "type": kind,
                "campaign_id": str(campaign_id),
                "lead_id": str(lead_id),
                "step": step,
                "occurred_at": min(at, end).isoformat(),
                "properties": props,
                "client_id": f"sim:{prefix}:{lead_id}:{step}:{kind}",
            }
        )

    for lead_id in sorted(lead_ids):
        at = _moment(rng, start, start + span / 2)
        stopped = False
        for number, step in enumerate(steps, start=1):
            if stopped:
                break
            at += timedelta(days=step.get("delay_days", 0), hours=step.get("delay_hours", 0))
            if at >= end:
                break
            channel = step["channel"]
            if channel == "email":
                emit("email.sent", lead_id, number, at)
                if rng.random() < rates.bounce:
                    emit("email.bounced", lead_id, number, at + timedelta(minutes=1))
                    stopped = True
                    continue
                emit("email.delivered", lead_id, number, at + timedelta(seconds=30))
                if rng.random() < rates.open:
                    opened = at + timedelta(minutes=rng.randint(5, 600))
                    emit("email.opened", lead_id, number, opened)
                    if rng.random() < rates.click:
                        emit("email.clicked", lead_id, number, opened + timedelta(minutes=1))
                if rng.random() < rates.unsubscribe:
                    emit("email.unsubscribed", lead_id, number, at + timedelta(hours=2))
                    stopped = True
                    continue
                replied = rng.random() < rates.reply
                kind = "email.replied"
            elif channel == "linkedin":
                emit("linkedin.connection_sent", lead_id, number, at)
                if rng.random() >= rates.connection_accept:
                    continue
                emit("linkedin.connection_accepted", lead_id, number, at + timedelta(hours=5))
                emit("linkedin.message_sent", lead_id, number, at + timedelta(hours=6))
                replied = rng.random() < rates.reply
                kind = "linkedin.replied"
            elif channel == "call":
                emit("call.completed", lead_id, number, at)
                replied = False
                kind = ""
            else:
                continue
            if replied:
                positive = rng.random() < rates.positive_reply
                sentiment = "positive" if positive else rng.choice(["neutral", "negative"])
                reply_at = at + timedelta(hours=rng.randint(1, 48))
                emit(kind, lead_id, number, reply_at, sentiment=sentiment)
                if positive and rng.random() < rates.meeting:
                    emit("meeting.booked", lead_id, number, reply_at + timedelta(hours=3))
                stopped = True
    return [e for e in events if datetime.fromisoformat(e["occurred_at"]) < end]


async def simulate(
    session: AsyncSession, principal: Principal, campaign_id: uuid.UUID, data: SimulateRequest
) -> SimulateOut:
    """Generate and ingest simulated events for the enrolled leads (idempotent per seed)."""
    require_feature(principal.tenant, "campaign_simulation")
    campaign = await get_campaign(session, principal, campaign_id)
    if not campaign.steps:
        raise Conflict("A campaign needs at least one step to simulate", code="campaign_incomplete")
    enrolled = campaign_enrollments(campaign).with_only_columns(Enrollment.lead_id)
    lead_ids = list((await session.execute(enrolled)).scalars())
    events = simulate_events(
        campaign.id,
        campaign.steps,
        lead_ids,
        seed=data.seed,
        start=data.start,
        end=data.end,
        rates=data.rates,
    )
    inserted = 0
    for offset in range(0, len(events), INGEST_BATCH):
        report: BatchReport = await ingest(
            session,
            campaign.tenant_id,
            events[offset : offset + INGEST_BATCH],
            actor=principal,
            campaign_id=campaign.id,
            simulated=True,
            max_future=SIMULATION_HORIZON,
        )
        inserted += report.accepted
    await record(
        session,
        "campaign.simulated",
        tenant_id=campaign.tenant_id,
        actor=principal,
        targets=[campaign_target(campaign)],
        metadata={"seed": data.seed, "generated": len(events), "inserted": inserted},
    )
    return SimulateOut(
        seed=data.seed,
        leads=len(lead_ids),
        generated=len(events),
        inserted=inserted,
        by_type=dict(sorted(Counter(e["type"] for e in events).items())),
    )
