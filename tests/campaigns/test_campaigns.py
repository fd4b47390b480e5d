"""Campaigns: CRUD, template validation, the lifecycle, enrolment, preview and simulation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI

from artisan.campaigns.schemas import SimulationRates
from artisan.campaigns.simulation import simulate_events
from artisan.campaigns.states import ACTIONS
from artisan.core.ids import new_id
from artisan.models.user import Role
from tests.campaigns.helpers import STEPS, make_campaign, make_lead
from tests.factories import make_tenant, make_user, sign_in, signed_in_user

ALL_STATUSES = ["draft", "scheduled", "active", "paused", "completed", "archived"]
# The diagram, written out independently of the service's table.
EXPECTED = {
    ("draft", "launch"): "active",
    ("scheduled", "launch"): "active",
    ("active", "pause"): "paused",
    ("paused", "resume"): "active",
    ("active", "complete"): "completed",
    ("paused", "complete"): "completed",
    ("completed", "archive"): "archived",
}
PATHS = {
    "draft": [],
    "scheduled": ["launch"],
    "active": ["launch"],
    "paused": ["launch", "pause"],
    "completed": ["launch", "complete"],
    "archived": ["launch", "complete", "archive"],
}


async def _campaign_in(client: httpx.AsyncClient, headers: dict[str, str], status: str) -> dict:
    schedule = {}
    if status == "scheduled":
        schedule = {"start_at": (datetime.now(UTC) + timedelta(days=3)).isoformat()}
    campaign = await make_campaign(client, headers, schedule=schedule)
    for action in PATHS[status]:
        response = await client.post(f"/api/campaigns/{campaign['id']}/{action}", headers=headers)
        assert response.status_code == 200, response.text
        campaign = response.json()
    assert campaign["status"] == status
    return campaign


@pytest.mark.parametrize("start", ALL_STATUSES)
async def test_every_transition(app: FastAPI, client: httpx.AsyncClient, start: str) -> None:
    me = await signed_in_user(app, client)
    for action in ACTIONS:
        campaign = await _campaign_in(client, me.headers, start)
        response = await client.post(
            f"/api/campaigns/{campaign['id']}/{action}", headers=me.headers
        )
        expected = EXPECTED.get((start, action))
        if expected is None:
            assert response.status_code == 409, (start, action)
            body = response.json()
            assert body["code"] == "invalid_transition"
            assert body["allowed_actions"] == campaign["allowed_actions"]
            assert all(s in ALL_STATUSES for s in body["allowed_transitions"])
            after = (
                await client.get(f"/api/campaigns/{campaign['id']}", headers=me.headers)
            ).json()
            assert after["status"] == start
        else:
            assert response.status_code == 200, (start, action, response.text)
            assert response.json()["status"] == expected
        # Archived campaigns free their place in the plan; keep the test within the limit.
        await client.delete(f"/api/campaigns/{campaign['id']}", headers=me.headers)


async def test_launch_with_future_start_schedules(app: FastAPI, client: httpx.AsyncClient) -> None:
    me = await signed_in_user(app, client)
    campaign = await _campaign_in(client, me.headers, "scheduled")
    assert campaign["launched_at"] is not None
    empty = await make_campaign(client, me.headers, steps=[])
    refused = await client.post(f"/api/campaigns/{empty['id']}/launch", headers=me.headers)
    assert refused.status_code == 409
    assert refused.json()["code"] == "campaign_incomplete"


async def test_crud_and_template_validation(app: FastAPI, client: httpx.AsyncClient) -> None:
    me = await signed_in_user(app, client, role=Role.user)
    campaign = await make_campaign(client, me.headers, description="first")
    assert campaign["channels"] == ["email", "linkedin"]
    assert [s["number"] for s in campaign["steps"]] == [1, 2, 3]
    assert campaign["owner_id"] == str(me.user_id)
    bad_steps = [
        [{"channel": "email", "subject": "Hi {{firstname}}", "body": "x"}],
        [{"channel": "email", "subject": "Hi", "body": "Hello {{first_name"}],
        [{"channel": "email", "body": "no subject"}],
        [{"channel": "fax", "body": "x"}],
        [{"channel": "email", "subject": "s", "body": "b", "delay_days": -1}],
    ]
    for steps in bad_steps:
        response = await client.post(
            "/api/campaigns", json={"name": "x", "steps": steps}, headers=me.headers
        )
        assert response.status_code == 422, steps
    ok = await client.post(
        "/api/campaigns",
        json={
            "name": "ok",
            "steps": [
                {
                    "channel": "email",
                    "subject": "{{custom.industry|there}}",
                    "body": "{{ company }}",
                }
            ],
        },
        headers=me.headers,
    )
    assert ok.status_code == 201, ok.text
    for bad in (
        {"name": ""},
        {"name": "x", "schedule": {"timezone": "Nowhere"}},
        {"name": "x", "schedule": {"send_from": "18:00", "send_until": "09:00"}},
        {"name": "x", "schedule": {"send_from": "00:00:00Z", "end_at": "2000-01-01T00:00:00Z"}},
        {
            "name": "x",
            "schedule": {"start_at": "2026-01-02T00:00:00", "end_at": "2026-01-01T00:00:00Z"},
        },
        {"name": "x", "schedule": {"days": []}},
        {"name": "x", "channels": ["email"], "steps": STEPS},
        {"name": "x", "owner_id": str(new_id())},
        {"name": "x", "extra": True},
    ):
        response = await client.post("/api/campaigns", json=bad, headers=me.headers)
        assert response.status_code == 422, bad
    patched = await client.patch(
        f"/api/campaigns/{campaign['id']}",
        json={
            "name": "Renamed",
            "schedule": {"timezone": "America/New_York", "days": ["mon", "wed"]},
        },
        headers=me.headers,
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["schedule"]["timezone"] == "America/New_York"
    assert (
        await client.patch(
            f"/api/campaigns/{campaign['id']}", json={"steps": None}, headers=me.headers
        )
    ).status_code == 422
    listed = (await client.get("/api/campaigns?q=renamed", headers=me.headers)).json()["data"]
    assert [c["id"] for c in listed] == [campaign["id"]]
    drafts = (await client.get("/api/campaigns?status=draft&limit=1", headers=me.headers)).json()
    assert drafts["has_more"] is True
    assert (await client.get("/api/campaigns?status=nope", headers=me.headers)).status_code == 422
    done = await _campaign_in(client, me.headers, "completed")
    assert (
        await client.patch(f"/api/campaigns/{done['id']}", json={"name": "n"}, headers=me.headers)
    ).status_code == 409
    assert (
        await client.delete(f"/api/campaigns/{done['id']}", headers=me.headers)
    ).status_code == 409
    assert (
        await client.delete(f"/api/campaigns/{campaign['id']}", headers=me.headers)
    ).status_code == 204


async def test_campaign_plan_limit(app: FastAPI, client: httpx.AsyncClient) -> None:
    tenant = await make_tenant(app, limit_overrides={"campaigns": 1})
    me = await sign_in(client, await make_user(app, tenant))
    await make_campaign(client, me.headers)
    refused = await client.post("/api/campaigns", json={"name": "two"}, headers=me.headers)
    assert refused.status_code == 403
    assert refused.json()["code"] == "plan_limit_reached"


async def test_enrolment_respects_suppression_and_limits(
    app_factory, client: httpx.AsyncClient
) -> None:  # type: ignore[no-untyped-def]
    app = app_factory(campaign_max_enrolments=3)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as http:
        me = await signed_in_user(app, http)
        campaign = await make_campaign(http, me.headers)
        leads = [await make_lead(http, me.headers, email=f"e{i}@example.com") for i in range(6)]
        await http.post(
            "/api/leads/suppressions", json={"email": "E1@example.com"}, headers=me.headers
        )
        await http.patch(
            f"/api/leads/{leads[2]['id']}", json={"status": "unsubscribed"}, headers=me.headers
        )
        other = await signed_in_user(app, http)
        foreign = await make_lead(http, other.headers, email="f@example.com")
        ids = [lead["id"] for lead in leads] + [foreign["id"]]
        report = (
            await http.post(
                f"/api/campaigns/{campaign['id']}/leads", json={"lead_ids": ids}, headers=me.headers
            )
        ).json()
        assert report["enrolled"] == [leads[0]["id"], leads[3]["id"], leads[4]["id"]]
        assert report["suppressed"] == [leads[1]["id"], leads[2]["id"]]
        assert report["over_limit"] == [leads[5]["id"]]
        assert report["not_found"] == [foreign["id"]]
        again = (
            await http.post(
                f"/api/campaigns/{campaign['id']}/leads",
                json={"lead_ids": [leads[0]["id"]]},
                headers=me.headers,
            )
        ).json()
        assert again["already_enrolled"] == [leads[0]["id"]]
        page = (
            await http.get(f"/api/campaigns/{campaign['id']}/leads?limit=2", headers=me.headers)
        ).json()
        rest = (
            await http.get(
                f"/api/campaigns/{campaign['id']}/leads?cursor={page['next_cursor']}",
                headers=me.headers,
            )
        ).json()
        assert {e["lead_id"] for e in page["data"] + rest["data"]} == set(report["enrolled"])
        assert (await http.get(f"/api/campaigns/{campaign['id']}", headers=me.headers)).json()[
            "enrolled"
        ] == 3
        assert (
            await http.post(
                f"/api/campaigns/{campaign['id']}/leads", json={"lead_ids": []}, headers=me.headers
            )
        ).status_code == 422
        assert (
            await http.post(
                f"/api/campaigns/{campaign['id']}/leads",
                json={"lead_ids": ["x"]},
                headers=me.headers,
            )
        ).status_code == 422
        done = await _campaign_in(http, me.headers, "completed")
        closed = await http.post(
            f"/api/campaigns/{done['id']}/leads",
            json={"lead_ids": [leads[0]["id"]]},
            headers=me.headers,
        )
        assert closed.status_code == 409


async def test_preview(app: FastAPI, client: httpx.AsyncClient) -> None:
    me = await signed_in_user(app, client)
    campaign = await make_campaign(client, me.headers)
    lead = await make_lead(
        client, me.headers, email="p@example.com", first_name="Grace", company="Navy"
    )
    shown = (
        await client.post(
            f"/api/campaigns/{campaign['id']}/preview",
            json={"step": 1, "lead_id": lead["id"]},
            headers=me.headers,
        )
    ).json()
    assert shown == {
        "step": 1,
        "channel": "email",
        "subject": "Hi Grace",
        "body": "Hello Grace at Navy",
        "missing_variables": [],
    }
    sample = (
        await client.post(
            f"/api/campaigns/{campaign['id']}/preview",
            json={"step": 2, "sample": {}},
            headers=me.headers,
        )
    ).json()
    assert sample["missing_variables"] == ["first_name"]
    odd = await client.post(
        f"/api/campaigns/{campaign['id']}/preview",
        json={"step": 1, "sample": {"first_name": 7, "custom_fields": ["x"]}},
        headers=me.headers,
    )
    assert odd.json()["subject"] == "Hi 7"
    for bad in (
        {"step": 9, "sample": {}},
        {"step": 1},
        {"step": 0, "sample": {}},
        {"step": 1, "sample": {}, "lead_id": lead["id"]},
    ):
        assert (
            await client.post(
                f"/api/campaigns/{campaign['id']}/preview", json=bad, headers=me.headers
            )
        ).status_code == 422, bad
    missing = await client.post(
        f"/api/campaigns/{campaign['id']}/preview",
        json={"step": 1, "lead_id": str(new_id())},
        headers=me.headers,
    )
    assert missing.status_code == 404


def test_simulation_is_a_function_of_its_seed() -> None:
    campaign_id, leads = new_id(), [new_id() for _ in range(50)]
    start, end = datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC)
    steps = [*STEPS, {"channel": "call", "delay_days": 1}]
    args = {"seed": 7, "start": start, "end": end, "rates": SimulationRates()}
    first = simulate_events(campaign_id, steps, leads, **args)
    assert first == simulate_events(campaign_id, steps, list(reversed(leads)), **args)
    assert first != simulate_events(campaign_id, steps, leads, **{**args, "seed": 8})
    assert all(start <= datetime.fromisoformat(e["occurred_at"]) < end for e in first)
    assert {e["type"] for e in first} >= {"email.sent", "email.opened", "linkedin.connection_sent"}


async def test_simulate_route_is_reproducible_and_marked(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    me = await signed_in_user(app, client)
    campaign = await make_campaign(client, me.headers)
    leads = [await make_lead(client, me.headers, email=f"s{i}@example.com") for i in range(20)]
    await client.post(
        f"/api/campaigns/{campaign['id']}/leads",
        json={"lead_ids": [x["id"] for x in leads]},
        headers=me.headers,
    )
    body = {
        "seed": 42,
        "start": "2026-01-01T00:00:00Z",
        "end": "2026-02-01T00:00:00Z",
        "rates": {"reply": 0.5},
    }
    first = await client.post(
        f"/api/campaigns/{campaign['id']}/simulate", json=body, headers=me.headers
    )
    assert first.status_code == 200, first.text
    second = (
        await client.post(
            f"/api/campaigns/{campaign['id']}/simulate", json=body, headers=me.headers
        )
    ).json()
    assert first.json()["generated"] == second["generated"] > 0
    assert first.json()["inserted"] == first.json()["generated"]
    assert second["inserted"] == 0
    assert first.json()["by_type"] == second["by_type"]
    # Simulated events never move real leads.
    statuses = {
        x["status"] for x in (await client.get("/api/leads", headers=me.headers)).json()["data"]
    }
    assert statuses == {"new"}
    for bad in (
        {**body, "end": "2025-01-01T00:00:00Z"},
        {**body, "seed": -1},
        {**body, "start": "2026-01-01T00:00:00"},
        {**body, "rates": {"open": 2}},
    ):
        assert (
            await client.post(
                f"/api/campaigns/{campaign['id']}/simulate", json=bad, headers=me.headers
            )
        ).status_code == 422


async def test_cross_tenant_and_scopes(app: FastAPI, client: httpx.AsyncClient) -> None:
    owner = await signed_in_user(app, client)
    other = await signed_in_user(app, client)
    campaign = await make_campaign(client, owner.headers)
    lead = await make_lead(client, owner.headers, email="o@example.com")
    cid = campaign["id"]
    calls = [
        ("GET", f"/api/campaigns/{cid}", None),
        ("PATCH", f"/api/campaigns/{cid}", {"name": "stolen"}),
        ("DELETE", f"/api/campaigns/{cid}", None),
        *[("POST", f"/api/campaigns/{cid}/{action}", None) for action in ACTIONS],
        ("POST", f"/api/campaigns/{cid}/leads", {"lead_ids": [lead["id"]]}),
        ("GET", f"/api/campaigns/{cid}/leads", None),
        ("POST", f"/api/campaigns/{cid}/preview", {"step": 1, "sample": {}}),
        (
            "POST",
            f"/api/campaigns/{cid}/simulate",
            {"seed": 1, "start": "2026-01-01T00:00:00Z", "end": "2026-01-02T00:00:00Z"},
        ),
        (
            "POST",
            f"/api/campaigns/{cid}/events",
            {
                "events": [
                    {
                        "type": "email.sent",
                        "lead_id": lead["id"],
                        "occurred_at": "2026-01-01T00:00:00Z",
                    }
                ]
            },
        ),
    ]
    for method, url, body in calls:
        response = await client.request(method, url, json=body, headers=other.headers)
        assert response.status_code == 404, (method, url, response.text)
    assert (await client.get("/api/campaigns", headers=other.headers)).json()["data"] == []
    assert (await client.get(f"/api/campaigns/{cid}", headers=owner.headers)).json()[
        "name"
    ] == "Q1 outreach"
    assert (await client.get(f"/api/campaigns/{cid}")).status_code == 401


async def test_bad_ids_and_cursors(app: FastAPI, client: httpx.AsyncClient) -> None:
    me = await signed_in_user(app, client)
    campaign = await make_campaign(client, me.headers)
    for method, url in (
        ("GET", "/api/campaigns/nope"),
        ("POST", "/api/campaigns/nope/launch"),
        ("POST", "/api/campaigns/nope/archive"),
        ("GET", f"/api/campaigns/{campaign['id']}/leads?cursor=***"),
        ("GET", f"/api/campaigns/{campaign['id']}/leads?limit=500"),
        ("GET", "/api/campaigns?cursor=!!"),
        ("DELETE", "/api/leads/suppressions/nope"),
        ("PATCH", f"/api/campaigns/{campaign['id']}"),
    ):
        response = await client.request(method, url, headers=me.headers)
        assert response.status_code == 422, (method, url)
    for action in ACTIONS:
        missing = await client.post(f"/api/campaigns/{new_id()}/{action}", headers=me.headers)
        assert missing.status_code == 404


async def test_list_counts_each_campaigns_enrolments(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    me = await signed_in_user(app, client)
    leads = [await make_lead(client, me.headers, email=f"count{i}@example.com") for i in range(3)]
    expected = {}
    for size in (0, 1, 3):
        campaign = await make_campaign(client, me.headers, name=f"size {size}")
        if size:
            enrol = await client.post(
                f"/api/campaigns/{campaign['id']}/leads",
                json={"lead_ids": [lead["id"] for lead in leads[:size]]},
                headers=me.headers,
            )
            assert enrol.status_code == 200, enrol.text
        expected[campaign["id"]] = size
    listed = (await client.get("/api/campaigns", headers=me.headers)).json()["data"]
    assert {c["id"]: c["enrolled"] for c in listed} == expected
    one = next(iter(expected))
    assert (await client.get(f"/api/campaigns/{one}", headers=me.headers)).json()["enrolled"] == 0
