"""The webhooks feature flag: no new endpoints, no emission, no test sends or replays while it is
off; deliveries already pending wait, unsent, and go out once it returns."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from artisan.webhooks.engine import DeliveryEngine
from artisan.webhooks.runtime import sweep
from artisan.webhooks.sender_pool import deliver_batch
from tests.campaigns.helpers import make_lead
from tests.factories import Account
from tests.tenants.test_feature_flags import assert_disabled, operator, set_overrides
from tests.webhooks.conftest import Receiver, create_endpoint
from tests.webhooks.helpers import rows


async def _messages(engine: AsyncEngine, account: Account) -> int:
    found = await rows(
        engine, f"SELECT count(*) FROM webhook_messages WHERE tenant_id = '{account.tenant_id}'"
    )
    return int(found[0][0])


async def test_webhooks_flag_gates_endpoints_emission_and_sends_and_keeps_what_is_pending(
    wh_app: FastAPI,
    wh_client: httpx.AsyncClient,
    admin: Account,
    receiver: Receiver,
    engine: DeliveryEngine,
    admin_engine: AsyncEngine,
) -> None:
    endpoint = await create_endpoint(wh_client, admin, receiver.url(), event_types=["lead.*"])
    # A delivery committed while the feature is on, then the feature goes off before it is sent.
    await make_lead(wh_client, admin.headers, email="before@example.com")
    assert await _messages(admin_engine, admin) == 1
    op = await operator(wh_app, wh_client)
    await set_overrides(wh_client, op, admin.tenant_id, {"webhooks": False})

    base = f"/api/admin/{admin.tenant_id}/webhooks"
    created = await wh_client.post(base, headers=admin.headers, json={"url": receiver.url("/x")})
    assert_disabled(created, "webhooks")
    test = await wh_client.post(f"{base}/{endpoint['id']}/test", headers=admin.headers)
    assert_disabled(test, "webhooks")
    recover = await wh_client.post(
        f"{base}/{endpoint['id']}/recover",
        headers=admin.headers,
        json={"since": "2026-01-01T00:00:00Z"},
    )
    assert_disabled(recover, "webhooks")
    # Emission writes nothing, and the change itself still succeeds.
    await make_lead(wh_client, admin.headers, email="during@example.com")
    assert await _messages(admin_engine, admin) == 1
    # Reading endpoints and deliveries stays open.
    listed = await wh_client.get(base, headers=admin.headers)
    assert [e["id"] for e in listed.json()["data"]] == [endpoint["id"]]
    # The pending delivery is neither sent nor queued again by the sweeper.
    assert await deliver_batch(engine) == 0
    assert await sweep(wh_app.state.database, wh_app.state.settings, _NoDispatch()) == 0
    assert receiver.requests == []
    pending = await rows(
        admin_engine,
        "SELECT status FROM webhook_deliveries d JOIN webhook_endpoints e "
        f"ON e.id = d.endpoint_id WHERE e.tenant_id = '{admin.tenant_id}'",
    )
    assert [r[0] for r in pending] == ["pending"]

    await set_overrides(wh_client, op, admin.tenant_id, {})
    assert await deliver_batch(engine) == 1
    await receiver.wait_for(1)
    assert b"before@example.com" in receiver.requests[0].body


class _NoDispatch:
    """A dispatcher that must not be asked: nothing may be queued while the feature is off."""

    async def dispatch(self, delivery_ids: object) -> None:
        raise AssertionError(f"dispatched {delivery_ids}")
