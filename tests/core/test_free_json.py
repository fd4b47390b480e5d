"""Free-form JSON (lead custom fields, event properties, preview samples, audit metadata) is
bounded in encoded size, nesting depth and key length; past a bound it is refused with a 422
problem and nothing is stored (audit metadata is replaced by a marker instead)."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from artisan.audit.recorder import SYSTEM, record
from artisan.config import get_settings
from artisan.core.free_json import JsonLimits, json_problems
from tests.campaigns.helpers import make_campaign, make_lead
from tests.factories import signed_in_user


def nested(depth: int) -> dict[str, Any]:
    """An object nesting `depth` levels deep."""
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(depth - 1):
        value = {"next": value}
    return value


def test_the_limits_measure_bytes_depth_and_keys() -> None:
    limits = JsonLimits(max_bytes=50, max_depth=3, max_key_length=5)
    assert json_problems({"a": [1, {"b": 2}]}, limits) == []
    assert json_problems(nested(4), limits) == ["nests 4 levels deep; the limit is 3"]
    assert json_problems([[[[1]]]], limits) == ["nests 4 levels deep; the limit is 3"]
    assert json_problems({"toolong": 1}, limits)[0].startswith("has keys longer than 5")
    assert json_problems({"a": "x" * 60}, limits) == ["is 68 bytes encoded; the limit is 50"]
    # Bytes, not characters: each of these takes three bytes in UTF-8.
    assert json_problems({"a": "€" * 15}, limits) == ["is 53 bytes encoded; the limit is 50"]


async def test_oversized_and_deep_values_are_refused_and_store_nothing(
    app: FastAPI, client: httpx.AsyncClient, admin_engine: AsyncEngine
) -> None:
    admin = await signed_in_user(app, client)
    limit = get_settings().free_json_max_bytes
    big = {"notes": "x" * (limit + 1)}
    for custom_fields in (big, nested(6), {"k": {"y" * 101: 1}}):
        created = await client.post(
            "/api/leads",
            headers=admin.headers,
            json={"email": "big@example.com", "custom_fields": custom_fields},
        )
        assert created.status_code == 422, created.text
        assert created.json()["code"] == "validation_error"
    assert (await client.get("/api/leads", headers=admin.headers)).json()["data"] == []
    # Imports refuse the row, not the file; an update is refused whole.
    imported = await client.post(
        "/api/leads/import",
        headers=admin.headers,
        json={
            "leads": [
                {"email": "ok@example.com"},
                {"email": "no@example.com", "custom_fields": big},
            ]
        },
    )
    report = imported.json()
    assert report["created"] == 1
    assert report["rejected"][0]["row"] == 2
    lead = await make_lead(client, admin.headers, email="kept@example.com", custom_fields={"a": 1})
    changed = await client.patch(
        f"/api/leads/{lead['id']}", headers=admin.headers, json={"custom_fields": big}
    )
    assert changed.status_code == 422
    kept = await client.get(f"/api/leads/{lead['id']}", headers=admin.headers)
    assert kept.json()["custom_fields"] == {"a": 1}
    # Event properties: the event is rejected in the batch report and nothing is stored.
    campaign = await make_campaign(client, admin.headers)
    batch = await client.post(
        "/api/events/batch",
        headers=admin.headers,
        json={
            "events": [
                {
                    "type": "email.opened",
                    "campaign_id": campaign["id"],
                    "lead_id": lead["id"],
                    "occurred_at": "2026-11-20T10:00:00Z",
                    "properties": nested(6),
                }
            ]
        },
    )
    assert batch.json()["rejected"] == 1, batch.text
    async with admin_engine.connect() as conn:
        stored = await conn.execute(
            text("SELECT count(*) FROM events WHERE tenant_id = :t"), {"t": admin.tenant_id}
        )
        assert stored.scalar_one() == 0
    preview = await client.post(
        f"/api/campaigns/{campaign['id']}/preview",
        headers=admin.headers,
        json={"step": 1, "sample": big},
    )
    assert preview.status_code == 422


async def test_audit_metadata_too_deep_is_replaced_by_a_marker(
    app: FastAPI, client: httpx.AsyncClient, admin_engine: AsyncEngine
) -> None:
    admin = await signed_in_user(app, client)
    async with app.state.database.transaction(tenant_id=admin.tenant_id) as session:
        await record(
            session,
            "lead.updated",
            tenant_id=admin.tenant_id,
            actor=SYSTEM,
            metadata={"changes": nested(12)},
        )
    async with admin_engine.connect() as conn:
        metadata = (
            await conn.execute(
                text(
                    "SELECT metadata FROM audit_log WHERE tenant_id = :t AND action = 'lead.updated'"
                ),
                {"t": admin.tenant_id},
            )
        ).scalar_one()
    assert metadata["truncated"] is True
    assert metadata["original_bytes"] > 0
