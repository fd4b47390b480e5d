"""Campaign, lead and engagement events reach the tenant's webhook endpoints."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.campaigns.helpers import make_campaign, make_lead
from tests.factories import Account, signed_in_user

T0 = "2026-03-02T10:00:00+00:00"


async def _subscribe(client: httpx.AsyncClient, admin: Account, *patterns: str) -> None:
    response = await client.post(
        f"/api/admin/{admin.tenant_id}/webhooks",
        json={"url": "https://hooks.example.com/sales", "event_types": list(patterns)},
        headers=admin.headers,
    )
    assert response.status_code == 201, response.text


async def _emitted(engine: AsyncEngine, tenant_id: object) -> list[tuple[str, dict[str, Any]]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT m.event_type, m.payload FROM webhook_messages m "
                "WHERE m.tenant_id = :t ORDER BY m.id"
            ),
            {"t": tenant_id},
        )
        return [(row[0], row[1]) for row in rows]


async def test_lifecycle_and_engagement_emit_webhooks(
    app: FastAPI, client: httpx.AsyncClient, admin_engine: AsyncEngine
) -> None:
    admin = await signed_in_user(app, client)
    await _subscribe(client, admin, "campaign.*", "lead.replied", "lead.bounced", "meeting.booked")
    campaign = await make_campaign(client, admin.headers)
    lead = await make_lead(client, admin.headers, email="ada@example.com")
    other = await make_lead(client, admin.headers, email="bob@example.com")
    enrol = await client.post(
        f"/api/campaigns/{campaign['id']}/leads",
        json={"lead_ids": [lead["id"], other["id"]]},
        headers=admin.headers,
    )
    assert enrol.status_code == 200, enrol.text
    for action in ("launch", "pause", "resume"):
        moved = await client.post(
            f"/api/campaigns/{campaign['id']}/{action}", headers=admin.headers
        )
        assert moved.status_code == 200, moved.text

    def event(kind: str, who: dict[str, Any], **properties: Any) -> dict[str, Any]:
        return {
            "type": kind,
            "campaign_id": campaign["id"],
            "lead_id": who["id"],
            "occurred_at": T0,
            "properties": properties,
        }

    batch = await client.post(
        "/api/events/batch",
        json={
            "events": [
                event("email.sent", lead),
                event("email.replied", lead, sentiment="positive"),
                event("meeting.booked", lead),
                event("email.bounced", other),
            ]
        },
        headers=admin.headers,
    )
    assert batch.status_code == 200, batch.text
    assert batch.json()["accepted"] == 4

    emitted = await _emitted(admin_engine, admin.tenant_id)
    types = [event_type for event_type, _ in emitted]
    assert types == [
        "campaign.created",
        "campaign.leads_enrolled",
        "campaign.launched",
        "campaign.paused",
        "campaign.resumed",
        "lead.replied",
        "meeting.booked",
        "lead.bounced",
    ]
    payloads = dict(emitted)
    assert payloads["campaign.leads_enrolled"]["count"] == 2
    assert payloads["lead.replied"]["sentiment"] == "positive"
    assert payloads["lead.replied"]["lead_id"] == lead["id"]
    assert payloads["lead.bounced"]["bounce_type"] == "hard"
    assert payloads["campaign.paused"]["status"] == "paused"


async def test_simulated_events_emit_nothing_and_no_endpoint_writes_nothing(
    app: FastAPI, client: httpx.AsyncClient, admin_engine: AsyncEngine
) -> None:
    quiet = await signed_in_user(app, client)
    campaign = await make_campaign(client, quiet.headers)
    lead = await make_lead(client, quiet.headers, email="q@example.com")
    replied = await client.post(
        "/api/events",
        json={
            "type": "email.replied",
            "campaign_id": campaign["id"],
            "lead_id": lead["id"],
            "occurred_at": T0,
        },
        headers=quiet.headers,
    )
    assert replied.status_code == 201, replied.text
    assert await _emitted(admin_engine, quiet.tenant_id) == []

    listening = await signed_in_user(app, client)
    await _subscribe(client, listening, "lead.*")
    campaign = await make_campaign(client, listening.headers)
    lead = await make_lead(client, listening.headers, email="s@example.com")
    await client.post(
        f"/api/campaigns/{campaign['id']}/leads",
        json={"lead_ids": [lead["id"]]},
        headers=listening.headers,
    )
    await client.post(f"/api/campaigns/{campaign['id']}/launch", headers=listening.headers)
    simulated = await client.post(
        f"/api/campaigns/{campaign['id']}/simulate",
        json={
            "seed": 7,
            "start": "2026-01-01T00:00:00Z",
            "end": "2026-02-01T00:00:00Z",
            "rates": {"reply": 0.9, "bounce": 0.1},
        },
        headers=listening.headers,
    )
    assert simulated.status_code == 200, simulated.text
    assert simulated.json()["generated"] > 0
    types = {event_type for event_type, _ in await _emitted(admin_engine, listening.tenant_id)}
    assert types == {"lead.created"}


async def test_bounces_and_unsubscribes_in_one_batch_announce_each_new_suppression(
    app: FastAPI, client: httpx.AsyncClient, admin_engine: AsyncEngine
) -> None:
    admin = await signed_in_user(app, client)
    await _subscribe(client, admin, "lead.suppressed", "lead.status_changed")
    campaign = await make_campaign(client, admin.headers)
    bouncer = await make_lead(client, admin.headers, email="Bounce@Example.com")
    leaver = await make_lead(client, admin.headers, email="leaver@example.com")
    known = await make_lead(client, admin.headers, email="known@example.com")
    listed = await client.post(
        "/api/leads/suppressions", json={"email": "known@example.com"}, headers=admin.headers
    )
    assert listed.status_code == 201, listed.text

    def event(kind: str, who: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": kind,
            "campaign_id": campaign["id"],
            "lead_id": who["id"],
            "occurred_at": T0,
        }

    batch = await client.post(
        "/api/events/batch",
        json={
            "events": [
                event("email.bounced", bouncer),
                event("email.unsubscribed", leaver),
                event("email.bounced", known),
                event("email.bounced", bouncer),
            ]
        },
        headers=admin.headers,
    )
    assert batch.status_code == 200, batch.text
    assert batch.json()["accepted"] == 4

    emitted = await _emitted(admin_engine, admin.tenant_id)
    suppressed = sorted(
        (payload["email"], payload["reason"])
        for event_type, payload in emitted
        if event_type == "lead.suppressed"
    )
    # The address suppressed by hand beforehand is announced once, by that earlier request.
    assert suppressed == [
        ("bounce@example.com", "bounced"),
        ("known@example.com", "manual"),
        ("leaver@example.com", "unsubscribed"),
    ]
    changed = {
        payload["lead_id"]: payload["status"]
        for event_type, payload in emitted
        if event_type == "lead.status_changed"
    }
    assert changed == {
        bouncer["id"]: "bounced",
        leaver["id"]: "unsubscribed",
        known["id"]: "bounced",
    }
    async with admin_engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT email, reason FROM lead_suppressions WHERE tenant_id = :t"),
            {"t": admin.tenant_id},
        )
        assert sorted(tuple(row) for row in rows) == [
            ("bounce@example.com", "bounced"),
            ("known@example.com", "manual"),
            ("leaver@example.com", "unsubscribed"),
        ]
