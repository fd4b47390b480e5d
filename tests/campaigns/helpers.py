"""Small helpers shared by the campaign, lead, event and analytics tests."""

from __future__ import annotations

from typing import Any

import httpx

STEPS = [
    {
        "channel": "email",
        "delay_days": 0,
        "subject": "Hi {{first_name}}",
        "body": "Hello {{first_name}} at {{company}}",
    },
    {"channel": "linkedin", "delay_days": 2, "body": "Connecting, {{first_name}}"},
    {
        "channel": "email",
        "delay_days": 3,
        "subject": "Following up",
        "body": "Any thoughts, {{first_name}}?",
    },
]


async def make_lead(
    client: httpx.AsyncClient, headers: dict[str, str], **fields: Any
) -> dict[str, Any]:
    """Create a lead through the API."""
    body = {"email": f"lead-{id(fields)}-{len(fields)}@example.com", "first_name": "Ada", **fields}
    response = await client.post("/api/leads", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


async def make_campaign(
    client: httpx.AsyncClient, headers: dict[str, str], **fields: Any
) -> dict[str, Any]:
    """Create a draft campaign through the API."""
    body = {"name": "Q1 outreach", "steps": STEPS, **fields}
    response = await client.post("/api/campaigns", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()
