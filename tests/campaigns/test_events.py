"""Event ingestion: single and batch routes, idempotency, per-event errors, lead state."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import ValidationError

from artisan.auth.scopes import ROLE_SCOPES
from artisan.core.ids import new_id
from artisan.events.schemas import EventIn
from artisan.models.user import Role
from tests.campaigns.helpers import make_campaign, make_lead
from tests.factories import signed_in_user

T0 = "2026-02-02T10:00:00Z"


def ev(kind: str, campaign: dict, lead: dict, **extra: Any) -> dict[str, Any]:
    """An event body."""
    return {
        "type": kind,
        "campaign_id": campaign["id"],
        "lead_id": lead["id"],
        "occurred_at": T0,
        **extra,
    }


async def test_single_event_and_idempotency(app: FastAPI, client: httpx.AsyncClient) -> None:
    me = await signed_in_user(app, client, role=Role.user)
    campaign = await make_campaign(client, me.headers)
    lead = await make_lead(client, me.headers, email="e@example.com")
    body = ev("email.sent", campaign, lead, step=1, client_id="msg-1")
    first = await client.post("/api/events", json=body, headers=me.headers)
    assert first.status_code == 201, first.text
    again = await client.post("/api/events", json=body, headers=me.headers)
    assert again.status_code == 200
    assert again.json() == {"id": first.json()["id"], "duplicate": True}
    lead_now = (await client.get(f"/api/leads/{lead['id']}", headers=me.headers)).json()
    assert lead_now["status"] == "contacted"
    for bad in (
        {**body, "type": "email.teleported"},
        {**body, "occurred_at": "2026-02-02T10:00:00"},
        {**body, "lead_id": str(new_id())},
        {**body, "campaign_id": None},
        {**body, "step": 2},
        {**body, "occurred_at": (datetime.now(UTC) + timedelta(days=2)).isoformat()},
        {**body, "properties": {"sentiment": "ecstatic"}},
        {**body, "occurred_at": "0001-01-01T00:00:00+05:00"},
        {k: v for k, v in body.items() if k != "lead_id"},
    ):
        response = await client.post(
            "/api/events", json={**bad, "client_id": None}, headers=me.headers
        )
        assert response.status_code == 422, bad
        assert response.headers["content-type"].startswith("application/problem+json")


async def test_batch_reports_each_event(app: FastAPI, client: httpx.AsyncClient) -> None:
    me = await signed_in_user(app, client)
    other = await signed_in_user(app, client)
    campaign = await make_campaign(client, me.headers)
    lead = await make_lead(client, me.headers, email="b@example.com")
    foreign_lead = await make_lead(client, other.headers, email="f@example.com")
    foreign_campaign = await make_campaign(client, other.headers)
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    events = [
        ev("email.sent", campaign, lead, step=1, client_id="a"),  # 0 accepted
        ev("email.opened", campaign, lead, step=1, client_id="a"),  # 1 duplicate in batch
        ev("email.opened", campaign, foreign_lead),  # 2 another tenant's lead
        ev("email.opened", foreign_campaign, lead),  # 3 another tenant's campaign
        ev("email.opened", campaign, lead, occurred_at=future),  # 4 future
        ev("email.opened", campaign, lead, step=2),  # 5 step 2 is LinkedIn
        ev("email.opened", campaign, lead, step=9),  # 6 no such step
        {"type": "nope"},  # 7 malformed
        "not an object",  # 8 malformed
        ev(
            "linkedin.connection_sent", campaign, lead, step=2, occurred_at="2026-01-01T00:00:00Z"
        ),  # 9
        ev("email.opened", campaign, lead, channel="linkedin"),  # 10 channel mismatch
    ]
    response = await client.post("/api/events/batch", json={"events": events}, headers=me.headers)
    assert response.status_code == 200, response.text
    report = response.json()
    statuses = [r["status"] for r in report["results"]]
    assert statuses == ["accepted", "duplicate", *["rejected"] * 7, "accepted", "rejected"]
    assert report["results"][1]["id"] == report["results"][0]["id"]
    assert (report["accepted"], report["duplicates"], report["rejected"]) == (2, 1, 8)
    assert "lead_id" in report["results"][2]["errors"][0]
    assert "future" in report["results"][4]["errors"][0]
    # A second delivery of the same batch stores nothing new.
    replay = (
        await client.post("/api/events/batch", json={"events": events[:1]}, headers=me.headers)
    ).json()
    assert replay["results"][0] == {
        "index": 0,
        "status": "duplicate",
        "id": report["results"][0]["id"],
        "errors": [],
    }
    # The other tenant may reuse the client id: idempotency is per tenant.
    theirs = await client.post(
        "/api/events/batch",
        json={"events": [ev("email.sent", foreign_campaign, foreign_lead, client_id="a")]},
        headers=other.headers,
    )
    assert theirs.json()["accepted"] == 1
    for bad in ({"events": []}, {"events": [{}] * 1001}, {"evts": []}, []):
        assert (
            await client.post("/api/events/batch", json=bad, headers=me.headers)
        ).status_code == 422


async def test_campaign_events_route(app: FastAPI, client: httpx.AsyncClient) -> None:
    me = await signed_in_user(app, client)
    campaign = await make_campaign(client, me.headers)
    other_campaign = await make_campaign(client, me.headers)
    lead = await make_lead(client, me.headers, email="c@example.com")
    body = {"type": "email.sent", "lead_id": lead["id"], "occurred_at": T0, "step": 1}
    report = (
        await client.post(
            f"/api/campaigns/{campaign['id']}/events",
            json={"events": [body, {**body, "campaign_id": other_campaign["id"]}]},
            headers=me.headers,
        )
    ).json()
    assert [r["status"] for r in report["results"]] == ["accepted", "rejected"]
    missing = await client.post(
        f"/api/campaigns/{new_id()}/events", json={"events": [body]}, headers=me.headers
    )
    assert missing.status_code == 404
    assert (
        await client.post(
            f"/api/campaigns/{campaign['id']}/events", json={"events": "x"}, headers=me.headers
        )
    ).status_code == 422


async def test_engagement_updates_lead_state(app: FastAPI, client: httpx.AsyncClient) -> None:
    me = await signed_in_user(app, client)
    campaign = await make_campaign(client, me.headers)
    replier = await make_lead(client, me.headers, email="r@example.com")
    bouncer = await make_lead(client, me.headers, email="x@example.com")
    leaver = await make_lead(client, me.headers, email="u@example.com")
    meeter = await make_lead(client, me.headers, email="m@example.com")
    events = [
        ev("email.sent", campaign, replier, step=1, occurred_at="2026-02-01T09:00:00Z"),
        ev("email.replied", campaign, replier, step=1, properties={"sentiment": "positive"}),
        ev("email.bounced", campaign, bouncer, step=1),
        ev("email.unsubscribed", campaign, leaver, step=1),
        ev("meeting.booked", campaign, meeter, occurred_at="2026-02-03T10:00:00Z"),
        # Earlier than the meeting, arriving later: must not move the lead back.
        ev("email.replied", campaign, meeter, step=1, occurred_at="2026-02-01T10:00:00Z"),
    ]
    report = (
        await client.post("/api/events/batch", json={"events": events}, headers=me.headers)
    ).json()
    assert report["accepted"] == 6, report
    late = ev(
        "email.replied",
        campaign,
        meeter,
        step=3,
        occurred_at="2026-02-04T10:00:00Z",
        properties={"sentiment": "negative"},
    )
    await client.post("/api/events", json=late, headers=me.headers)

    async def status_of(lead: dict) -> tuple[str, bool]:
        body = (await client.get(f"/api/leads/{lead['id']}", headers=me.headers)).json()
        return body["status"], body["suppressed"]

    assert await status_of(replier) == ("interested", False)
    assert await status_of(bouncer) == ("bounced", True)
    assert await status_of(leaver) == ("unsubscribed", True)
    assert await status_of(meeter) == ("meeting_booked", False)
    reasons = {
        s["email"]: s["reason"]
        for s in (await client.get("/api/leads/suppressions", headers=me.headers)).json()["data"]
    }
    assert reasons == {"x@example.com": "bounced", "u@example.com": "unsubscribed"}
    enrol = (
        await client.post(
            f"/api/campaigns/{campaign['id']}/leads",
            json={"lead_ids": [bouncer["id"], replier["id"]]},
            headers=me.headers,
        )
    ).json()
    assert enrol["suppressed"] == [bouncer["id"]]


@pytest.mark.parametrize(
    ("scope", "method", "url"),
    [
        ("events:write", "POST", "/api/events"),
        ("events:write", "POST", "/api/events/batch"),
        ("leads:read", "GET", "/api/leads"),
        ("leads:write", "POST", "/api/leads"),
        ("campaigns:read", "GET", "/api/campaigns"),
        ("campaigns:write", "POST", "/api/campaigns"),
        ("analytics:read", "GET", "/api/analytics/dashboard"),
        ("analytics:read", "GET", "/api/analytics/timeseries"),
        ("analytics:read", "GET", "/api/analytics/funnel"),
        ("analytics:read", "GET", "/api/analytics/channels"),
    ],
)
async def test_routes_require_their_scope(
    app: FastAPI,
    client: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
    scope: str,
    method: str,
    url: str,
) -> None:
    me = await signed_in_user(app, client, role=Role.user)
    monkeypatch.setitem(ROLE_SCOPES, Role.user, ROLE_SCOPES[Role.user] - {scope})
    response = await client.request(method, url, json={}, headers=me.headers)
    assert response.status_code == 403
    assert response.json()["required_scope"] == scope


def test_ids_parse_alike_in_every_form() -> None:
    """The canonical form takes a faster path; every form still gives the same id, and a
    malformed one the standard error."""
    lead = uuid.uuid4()
    body = {"type": "email.opened", "occurred_at": T0}
    for form in (str(lead), str(lead).upper(), lead.hex, f"urn:uuid:{lead}", lead):
        parsed = EventIn.model_validate({**body, "lead_id": form}).lead_id
        assert isinstance(parsed, uuid.UUID)
        assert parsed == lead
        assert hash(parsed) == hash(lead)
        assert str(parsed) == str(lead)
    for bad in ("not-a-uuid", f"{lead}x", str(lead).replace("-", "")[:31], 42):
        with pytest.raises(ValidationError) as caught:
            EventIn.model_validate({**body, "lead_id": bad})
        assert caught.value.errors()[0]["loc"] == ("lead_id",)


async def test_the_event_list_filters_pages_and_stays_in_its_tenant(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    me = await signed_in_user(app, client)
    campaign = await make_campaign(client, me.headers)
    other_campaign = await make_campaign(client, me.headers, name="Other")
    ada = await make_lead(client, me.headers, email="ada@example.com")
    bob = await make_lead(client, me.headers, email="bob@example.com")
    events = [
        ev("email.sent", campaign, ada, step=1, occurred_at="2026-02-01T09:00:00Z"),
        ev("email.opened", campaign, ada, step=1, occurred_at="2026-02-01T10:00:00Z"),
        ev("email.sent", campaign, bob, step=1, occurred_at="2026-02-01T11:00:00Z"),
        ev(
            "email.replied",
            other_campaign,
            bob,
            step=1,
            occurred_at="2026-02-02T08:00:00Z",
            properties={"sentiment": "positive"},
        ),
        ev("linkedin.connection_sent", campaign, bob, step=2, occurred_at="2026-02-03T08:00:00Z"),
    ]
    stored = await client.post("/api/events/batch", json={"events": events}, headers=me.headers)
    assert stored.json()["accepted"] == 5, stored.text

    async def listed(**params: Any) -> list[dict[str, Any]]:
        response = await client.get("/api/events", params=params, headers=me.headers)
        assert response.status_code == 200, response.text
        return list(response.json()["data"])

    everything = await listed()
    assert [e["occurred_at"] for e in everything] == [
        "2026-02-03T08:00:00Z",
        "2026-02-02T08:00:00Z",
        "2026-02-01T11:00:00Z",
        "2026-02-01T10:00:00Z",
        "2026-02-01T09:00:00Z",
    ]
    assert {e["type"] for e in await listed(campaign_id=other_campaign["id"])} == {"email.replied"}
    assert len(await listed(lead_id=ada["id"])) == 2
    assert len(await listed(type="email.sent")) == 2
    assert [e["type"] for e in await listed(channel="linkedin")] == ["linkedin.connection_sent"]
    window = await listed(
        occurred_after="2026-02-01T10:00:00Z", occurred_before="2026-02-02T08:00:00Z"
    )
    assert [e["occurred_at"] for e in window] == ["2026-02-01T11:00:00Z", "2026-02-01T10:00:00Z"]
    assert await listed(simulated=True) == []
    assert len(await listed(simulated=False)) == 5
    # Cursor pages cover everything once, in order.
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/api/events", params=params, headers=me.headers)).json()
        seen += [e["id"] for e in page["data"]]
        cursor = page["next_cursor"]
        assert page["has_more"] is (cursor is not None)
        if cursor is None:
            break
    assert seen == [e["id"] for e in everything]
    # Bad input is a 422 problem; another tenant sees none of it; the scope is analytics:read.
    for bad in (
        {"cursor": "not-a-cursor"},
        {"occurred_after": "2026-02-01T10:00:00"},
        {"type": "email.teleported"},
        {"channel": "fax"},
        {"campaign_id": "nope"},
        {"limit": 0},
    ):
        response = await client.get("/api/events", params=bad, headers=me.headers)
        assert response.status_code == 422, bad
        assert response.headers["content-type"].startswith("application/problem+json")
    other = await signed_in_user(app, client)
    theirs = await client.get("/api/events", headers=other.headers)
    assert theirs.json()["data"] == []
    by_campaign = await client.get(
        "/api/events", params={"campaign_id": campaign["id"]}, headers=other.headers
    )
    assert by_campaign.json()["data"] == []
    key = await client.post(
        f"/api/admin/{me.tenant_id}/api-keys",
        headers=me.headers,
        json={"name": "writer", "scopes": ["events:write"]},
    )
    denied = await client.get(
        "/api/events", headers={"Authorization": f"Bearer {key.json()['secret']}"}
    )
    assert denied.status_code == 403
    assert denied.json()["required_scope"] == "analytics:read"
    assert (await client.get("/api/events")).status_code == 401
