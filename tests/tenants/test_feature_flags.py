"""Feature flags are the plan's and the platform operator's, read-only to tenant admins, and every
flag is enforced where it applies with a 403 `feature_disabled` problem naming it."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from artisan.models.tenant import Plan
from artisan.tenants.features import FEATURES, PLAN_FEATURES, enabled_features, feature_sql
from tests.api_keys.helpers import issue_key
from tests.campaigns.helpers import make_campaign, make_lead
from tests.factories import Account, bearer, make_tenant, make_user, sign_in, signed_in_user

PLATFORM = "/api/platform/tenants"


async def operator(app: FastAPI, client: httpx.AsyncClient) -> Account:
    """A platform operator (a superuser of their own tenant)."""
    tenant = await make_tenant(app, name="Operators")
    return await sign_in(client, await make_user(app, tenant, is_superuser=True))


async def set_overrides(
    client: httpx.AsyncClient, op: Account, tenant_id: uuid.UUID, overrides: dict[str, Any]
) -> dict[str, Any]:
    """Replace a tenant's flag overrides through the platform route."""
    response = await client.patch(
        f"{PLATFORM}/{tenant_id}", headers=op.headers, json={"feature_flag_overrides": overrides}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def assert_disabled(response: httpx.Response, flag: str) -> None:
    assert response.status_code == 403, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == "feature_disabled"
    assert body["flag"] == flag
    assert flag in body["detail"]


def test_plans_and_overrides_decide_the_flags() -> None:
    assert enabled_features(Plan.growth, {}) == frozenset(FEATURES)
    assert "llm_workflows" not in enabled_features(Plan.free, {})
    assert "llm_workflows" in enabled_features(Plan.free, {"llm_workflows": True})
    assert "webhooks" not in enabled_features(Plan.growth, {"webhooks": False})
    # A stale override of a flag that no longer exists changes nothing.
    assert enabled_features(Plan.growth, {"beta_analytics": True}) == frozenset(FEATURES)
    assert all(flags <= set(FEATURES) for flags in PLAN_FEATURES.values())


async def test_the_sql_condition_agrees_with_the_python_rule(
    app: FastAPI, admin_engine: AsyncEngine
) -> None:
    cases = [
        (Plan.free, {}),
        (Plan.free, {"llm_workflows": True}),
        (Plan.growth, {}),
        (Plan.growth, {"webhooks": False, "api_access": False}),
        (Plan.enterprise, {"ai_assistant": False}),
    ]
    for plan, overrides in cases:
        tenant = await make_tenant(app, plan=plan, feature_flag_overrides=overrides)
        expected = enabled_features(plan, overrides)
        async with admin_engine.connect() as conn:
            for flag in FEATURES:
                found = await conn.execute(
                    text(f"SELECT {feature_sql(flag, 't')} FROM tenants t WHERE t.id = :id"),
                    {"id": tenant.id},
                )
                assert found.scalar_one() is (flag in expected), (plan, overrides, flag)


async def test_admins_read_flags_and_only_operators_change_them(
    app: FastAPI, client: httpx.AsyncClient, admin_engine: AsyncEngine
) -> None:
    admin = await signed_in_user(app, client)
    url = f"/api/admin/{admin.tenant_id}"
    before = (await client.get(url, headers=admin.headers)).json()
    assert before["feature_flags"] == dict.fromkeys(FEATURES, True)  # the growth plan has all
    assert before["feature_flag_overrides"] == {}
    refused = await client.patch(
        url, headers=admin.headers, json={"feature_flags": {"webhooks": False}}
    )
    assert refused.status_code == 422
    assert (await client.get(url, headers=admin.headers)).json() == before

    op = await operator(app, client)
    changed = await set_overrides(client, op, admin.tenant_id, {"webhooks": False})
    assert changed["feature_flags"]["webhooks"] is False
    assert changed["feature_flag_overrides"] == {"webhooks": False}
    mine = (await client.get(url, headers=admin.headers)).json()
    assert mine["feature_flags"]["webhooks"] is False
    assert mine["feature_flags"]["api_access"] is True
    # The change is audited with the new overrides.
    async with admin_engine.connect() as conn:
        entry = await conn.execute(
            text(
                "SELECT actor_type, metadata FROM audit_log WHERE tenant_id = :t "
                "AND action = 'tenant.updated' ORDER BY seq DESC LIMIT 1"
            ),
            {"t": admin.tenant_id},
        )
        actor_type, metadata = entry.one()
    assert actor_type == "operator"
    assert metadata["feature_flag_overrides"] == {"webhooks": False}
    # Unknown flags are refused; an empty object returns the tenant to its plan.
    unknown = await client.patch(
        f"{PLATFORM}/{admin.tenant_id}",
        headers=op.headers,
        json={"feature_flag_overrides": {"time_travel": True}},
    )
    assert unknown.status_code == 422
    cleared = await set_overrides(client, op, admin.tenant_id, {})
    assert cleared["feature_flags"]["webhooks"] is True


async def test_a_free_tenant_lacks_llm_workflows_until_an_operator_grants_it(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app, plan=Plan.free)
    admin = await sign_in(client, await make_user(app, tenant))
    url = f"/api/admin/{tenant.id}"
    assert (await client.get(url, headers=admin.headers)).json()["feature_flags"][
        "llm_workflows"
    ] is False
    op = await operator(app, client)
    granted = await set_overrides(client, op, tenant.id, {"llm_workflows": True})
    assert granted["feature_flags"]["llm_workflows"] is True


async def test_api_access_gates_key_creation_and_key_authentication(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    admin = await signed_in_user(app, client)
    key = await issue_key(client, admin, scopes=["leads:read"])
    assert (await client.get("/api/leads", headers=bearer(key["secret"]))).status_code == 200
    op = await operator(app, client)
    await set_overrides(client, op, admin.tenant_id, {"api_access": False})
    # The key was verified (and cached) a moment ago: it stops at once all the same.
    assert_disabled(await client.get("/api/leads", headers=bearer(key["secret"])), "api_access")
    create = await client.post(
        f"/api/admin/{admin.tenant_id}/api-keys",
        headers=admin.headers,
        json={"name": "another", "scopes": ["leads:read"]},
    )
    assert_disabled(create, "api_access")
    listed = await client.get(f"/api/admin/{admin.tenant_id}/api-keys", headers=admin.headers)
    assert [k["id"] for k in listed.json()["data"]] == [key["id"]]  # nothing was created
    # Users keep working, and keys work again once the feature returns.
    assert (await client.get("/api/leads", headers=admin.headers)).status_code == 200
    await set_overrides(client, op, admin.tenant_id, {})
    assert (await client.get("/api/leads", headers=bearer(key["secret"]))).status_code == 200


async def test_campaign_simulation_is_gated(
    app: FastAPI, client: httpx.AsyncClient, admin_engine: AsyncEngine
) -> None:
    admin = await signed_in_user(app, client)
    campaign = await make_campaign(client, admin.headers)
    lead = await make_lead(client, admin.headers)
    enrolled = await client.post(
        f"/api/campaigns/{campaign['id']}/leads",
        headers=admin.headers,
        json={"lead_ids": [lead["id"]]},
    )
    assert enrolled.status_code == 200, enrolled.text
    op = await operator(app, client)
    await set_overrides(client, op, admin.tenant_id, {"campaign_simulation": False})
    body = {"seed": 7, "start": "2026-11-01T00:00:00Z", "end": "2026-11-20T00:00:00Z"}
    simulate = f"/api/campaigns/{campaign['id']}/simulate"
    assert_disabled(
        await client.post(simulate, headers=admin.headers, json=body), "campaign_simulation"
    )
    async with admin_engine.connect() as conn:
        events = await conn.execute(
            text("SELECT count(*) FROM events WHERE tenant_id = :t"), {"t": admin.tenant_id}
        )
        assert events.scalar_one() == 0
    await set_overrides(client, op, admin.tenant_id, {})
    ran = await client.post(simulate, headers=admin.headers, json=body)
    assert ran.status_code == 200, ran.text
    assert ran.json()["generated"] > 0
