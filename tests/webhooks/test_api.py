"""The webhooks admin API: CRUD, secrets, permissions, plan limits, bad input, other tenants."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from artisan.models.tenant import Plan
from artisan.models.user import Role
from tests.conftest import client_for
from tests.factories import Account, make_tenant, signed_in_user
from tests.webhooks.conftest import WEBHOOK_SETTINGS, Receiver, create_endpoint


def base(account: Account) -> str:
    return f"/api/admin/{account.tenant_id}/webhooks"


async def test_create_get_list_update_delete(
    wh_client: httpx.AsyncClient, admin: Account, admin_engine: AsyncEngine
) -> None:
    created = await create_endpoint(
        wh_client,
        admin,
        "https://hooks.example.com/in",
        event_types=["campaign.*", "user.invited"],
        description="CRM",
    )
    assert created["secret"].startswith("whsec_")
    assert created["event_types"] == ["campaign.*", "user.invited"]
    assert created["enabled"] is True
    got = await wh_client.get(f"{base(admin)}/{created['id']}", headers=admin.headers)
    assert got.status_code == 200
    assert "secret" not in got.json()
    listed = await wh_client.get(base(admin), headers=admin.headers)
    assert [e["id"] for e in listed.json()["data"]] == [created["id"]]
    patched = await wh_client.patch(
        f"{base(admin)}/{created['id']}",
        json={"ordered": True, "rate_limit": 5, "enabled": False},
        headers=admin.headers,
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["ordered"] is True
    assert patched.json()["rate_limit"] == 5
    assert patched.json()["disabled_reason"] == "Disabled by a user"
    filtered = await wh_client.get(base(admin), params={"enabled": "true"}, headers=admin.headers)
    assert filtered.json()["data"] == []
    deleted = await wh_client.delete(f"{base(admin)}/{created['id']}", headers=admin.headers)
    assert deleted.status_code == 204
    gone = await wh_client.get(f"{base(admin)}/{created['id']}", headers=admin.headers)
    assert gone.status_code == 404
    async with admin_engine.connect() as conn:
        actions = (
            await conn.execute(
                text("SELECT action FROM audit_log WHERE tenant_id = :t ORDER BY id"),
                {"t": admin.tenant_id},
            )
        ).scalars()
        assert [a for a in actions if a.startswith("webhook.")] == [
            "webhook.created",
            "webhook.updated",
            "webhook.deleted",
        ]


async def test_secret_reveal_and_rotation(wh_client: httpx.AsyncClient, admin: Account) -> None:
    created = await create_endpoint(wh_client, admin, "https://hooks.example.com/in")
    url = f"{base(admin)}/{created['id']}"
    revealed = await wh_client.get(f"{url}/secret", headers=admin.headers)
    assert revealed.json() == {"secret": created["secret"], "previous_secret_expires_at": None}
    rotated = await wh_client.post(
        f"{url}/rotate-secret", json={"window_hours": 2}, headers=admin.headers
    )
    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["secret"] != created["secret"]
    assert rotated.json()["previous_secret_expires_at"] is not None
    again = await wh_client.get(f"{url}/secret", headers=admin.headers)
    assert again.json()["secret"] == rotated.json()["secret"]
    too_long = await wh_client.post(
        f"{url}/rotate-secret", json={"window_hours": 169}, headers=admin.headers
    )
    assert too_long.status_code == 422
    default = await wh_client.post(f"{url}/rotate-secret", headers=admin.headers)
    assert default.status_code == 200


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({"url": "ftp://example.com/x"}, "invalid_webhook_url"),
        ({"url": "not a url"}, "invalid_webhook_url"),
        ({"url": "https://user:pw@example.com/"}, "invalid_webhook_url"),
        ({"url": "https://10.0.0.5/hook"}, "invalid_webhook_url"),
        ({"url": "https://169.254.169.254/latest"}, "invalid_webhook_url"),
        ({"url": "https://[fd00::1]/hook"}, "invalid_webhook_url"),
        ({"url": "https://example.com", "event_types": ["nope.never"]}, "unknown_event_type"),
        ({"url": "https://example.com", "event_types": ["nope.*"]}, "unknown_event_type"),
        ({"url": "https://example.com", "rate_limit": 0}, "validation_error"),
        ({"url": "https://example.com", "colour": "red"}, "validation_error"),
        ({}, "validation_error"),
    ],
)
async def test_create_refuses_bad_input(
    wh_client: httpx.AsyncClient, admin: Account, payload: dict[str, Any], code: str
) -> None:
    response = await wh_client.post(base(admin), json=payload, headers=admin.headers)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == code
    listed = await wh_client.get(base(admin), headers=admin.headers)
    assert listed.json()["data"] == []


async def test_private_addresses_refused_without_allow_list(
    app_factory: Any,
) -> None:
    from tests.conftest import client_for

    app = app_factory(webhook_runner="off")
    async with client_for(app) as client:
        account = await signed_in_user(app, client)
        for url in ("http://127.0.0.1:9/x", "http://localhost/x", "http://[::1]/x"):
            response = await client.post(base(account), json={"url": url}, headers=account.headers)
            assert response.status_code == 422, url
            assert response.json()["code"] == "invalid_webhook_url"


async def test_https_required_in_production_mode(app_factory: Any) -> None:
    from tests.conftest import client_for

    app = app_factory(webhook_runner="off", webhook_require_https=True)
    async with client_for(app) as client:
        account = await signed_in_user(app, client)
        response = await client.post(
            base(account), json={"url": "http://example.com/x"}, headers=account.headers
        )
        assert response.status_code == 422
        assert "https" in response.json()["detail"]


async def test_update_bad_input_changes_nothing(
    wh_client: httpx.AsyncClient, admin: Account
) -> None:
    created = await create_endpoint(wh_client, admin, "https://hooks.example.com/in")
    url = f"{base(admin)}/{created['id']}"
    for payload in (
        {"url": "https://192.168.1.1/"},
        {"event_types": ["bogus"]},
        {"enabled": None},
        {"rate_limit": 100_000},
        {"unknown": 1},
    ):
        response = await wh_client.patch(url, json=payload, headers=admin.headers)
        assert response.status_code == 422, payload
    after = await wh_client.get(url, headers=admin.headers)
    assert after.json()["url"] == "https://hooks.example.com/in"
    assert after.json()["event_types"] == []


async def test_bad_ids_and_filters(wh_client: httpx.AsyncClient, admin: Account) -> None:
    created = await create_endpoint(wh_client, admin, "https://hooks.example.com/in")
    url = f"{base(admin)}/{created['id']}"
    assert (
        await wh_client.get(f"{base(admin)}/not-a-uuid", headers=admin.headers)
    ).status_code == 422
    assert (
        await wh_client.get(f"{url}/deliveries", params={"status": "lost"}, headers=admin.headers)
    ).status_code == 422
    assert (
        await wh_client.get(
            f"{url}/deliveries", params={"since": "2020-01-01T00:00:00"}, headers=admin.headers
        )
    ).status_code == 422
    assert (
        await wh_client.get(f"{url}/deliveries", params={"cursor": "!!"}, headers=admin.headers)
    ).status_code == 422
    assert (
        await wh_client.post(f"{url}/replay/{uuid.uuid4()}", headers=admin.headers)
    ).status_code == 404
    assert (
        await wh_client.post(
            f"{url}/recover",
            json={"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"},
            headers=admin.headers,
        )
    ).status_code == 422
    assert (
        await wh_client.post(f"{url}/recover", json={"since": "yesterday"}, headers=admin.headers)
    ).status_code == 422
    assert (
        await wh_client.get(f"{url}/deliveries/{uuid.uuid4()}", headers=admin.headers)
    ).status_code == 404


async def test_event_types_catalogue(wh_client: httpx.AsyncClient, admin: Account) -> None:
    response = await wh_client.get(f"{base(admin)}/event-types", headers=admin.headers)
    assert response.status_code == 200
    catalogue = {e["name"]: e for e in response.json()}
    for name in (
        "campaign.launched",
        "lead.replied",
        "lead.bounced",
        "lead.unsubscribed",
        "meeting.booked",
        "api_key.created",
        "api_key.revoked",
        "user.invited",
        "compliance.request.completed",
        "workflow.run.completed",
        "webhook_endpoint.disabled",
        "webhook.test",
    ):
        assert catalogue[name]["schema"]["type"] == "object", name
    assert "campaign_id" in catalogue["campaign.launched"]["schema"]["properties"]


async def test_plan_limit(wh_app: FastAPI, wh_client: httpx.AsyncClient) -> None:
    tenant = await make_tenant(wh_app, plan=Plan.free)
    account = await signed_in_user(wh_app, wh_client, tenant=tenant)
    for _ in range(2):
        await create_endpoint(wh_client, account, "https://hooks.example.com/in")
    third = await wh_client.post(
        base(account), json={"url": "https://hooks.example.com/in"}, headers=account.headers
    )
    assert third.status_code == 403
    assert third.json()["code"] == "plan_limit_reached"


async def test_roles(wh_app: FastAPI, wh_client: httpx.AsyncClient) -> None:
    tenant = await make_tenant(wh_app)
    admin = await signed_in_user(wh_app, wh_client, tenant=tenant)
    created = await create_endpoint(wh_client, admin, "https://hooks.example.com/in")
    manager = await signed_in_user(wh_app, wh_client, role=Role.manager, tenant=tenant)
    user = await signed_in_user(wh_app, wh_client, role=Role.user, tenant=tenant)
    url = f"{base(admin)}/{created['id']}"
    assert (await wh_client.get(url, headers=manager.headers)).status_code == 200
    assert (
        await wh_client.patch(url, json={"ordered": True}, headers=manager.headers)
    ).status_code == 403
    assert (await wh_client.get(f"{url}/secret", headers=manager.headers)).status_code == 403
    assert (await wh_client.get(url, headers=user.headers)).status_code == 403
    assert (
        await wh_client.post(base(admin), json={"url": "https://a.example"}, headers=user.headers)
    ).status_code == 403


async def test_other_tenant_gets_404_everywhere(
    wh_app: FastAPI, wh_client: httpx.AsyncClient, admin: Account, receiver: Receiver
) -> None:
    created = await create_endpoint(wh_client, admin, receiver.url())
    test = await wh_client.post(f"{base(admin)}/{created['id']}/test", headers=admin.headers)
    delivery_id = test.json()["id"]
    intruder = await signed_in_user(wh_app, wh_client)
    ep = created["id"]
    # Their own tenant path with our ids, and our tenant path with their credentials.
    for prefix in (base(intruder), base(admin)):
        calls = [
            ("GET", f"{prefix}/{ep}", None),
            ("PATCH", f"{prefix}/{ep}", {"ordered": True}),
            ("DELETE", f"{prefix}/{ep}", None),
            ("GET", f"{prefix}/{ep}/secret", None),
            ("POST", f"{prefix}/{ep}/rotate-secret", None),
            ("POST", f"{prefix}/{ep}/test", None),
            ("POST", f"{prefix}/{ep}/replay/{delivery_id}", None),
            ("POST", f"{prefix}/{ep}/recover", {"since": "2020-01-01T00:00:00Z"}),
            ("GET", f"{prefix}/{ep}/deliveries", None),
            ("GET", f"{prefix}/{ep}/deliveries/{delivery_id}", None),
        ]
        if prefix == base(admin):
            calls += [("GET", prefix, None), ("POST", prefix, {"url": "https://a.example"})]
            calls += [("GET", f"{prefix}/event-types", None)]
        for method, path, body in calls:
            response = await wh_client.request(method, path, json=body, headers=intruder.headers)
            assert response.status_code == 404, (method, path, response.text)
    # The intruder's own list stays empty and our endpoint is untouched.
    mine = await wh_client.get(base(intruder), headers=intruder.headers)
    assert mine.json()["data"] == []
    still = await wh_client.get(f"{base(admin)}/{ep}", headers=admin.headers)
    assert still.json()["ordered"] is False


async def test_rls_hides_other_tenants_rows(
    wh_app: FastAPI, wh_client: httpx.AsyncClient, admin: Account
) -> None:
    await create_endpoint(wh_client, admin, "https://hooks.example.com/in")
    other = await make_tenant(wh_app)
    async with wh_app.state.database.transaction(tenant_id=other.id) as session:
        count = (await session.execute(text("SELECT count(*) FROM webhook_endpoints"))).scalar()
    assert count == 0


async def test_user_invited_emits_event(
    wh_client: httpx.AsyncClient, admin: Account, admin_engine: AsyncEngine
) -> None:
    await create_endpoint(wh_client, admin, "https://hooks.example.com/in", event_types=["user.*"])
    await create_endpoint(
        wh_client, admin, "https://hooks.example.com/other", event_types=["campaign.*"]
    )
    invited = await wh_client.post(
        f"/api/admin/{admin.tenant_id}/users",
        json={"email": "new@example.com", "full_name": "New One", "role": "user"},
        headers=admin.headers,
    )
    assert invited.status_code == 201, invited.text
    async with admin_engine.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT d.event_type, e.url, m.payload FROM webhook_deliveries d "
                    "JOIN webhook_endpoints e ON e.id = d.endpoint_id "
                    "JOIN webhook_messages m ON m.id = d.message_id WHERE d.tenant_id = :t"
                ),
                {"t": admin.tenant_id},
            )
        ).all()
    assert len(rows) == 1
    assert rows[0][0] == "user.invited"
    assert rows[0][1].endswith("/in")
    assert rows[0][2]["email"] == "new@example.com"


async def test_api_key_lifecycle_emits_events(
    wh_client: httpx.AsyncClient, admin: Account, admin_engine: AsyncEngine
) -> None:
    await create_endpoint(
        wh_client, admin, "https://hooks.example.com/keys", event_types=["api_key.*"]
    )
    created = await wh_client.post(
        f"/api/admin/{admin.tenant_id}/api-keys",
        json={"name": "etl", "scopes": ["leads:read"]},
        headers=admin.headers,
    )
    assert created.status_code == 201, created.text
    key = created.json()
    revoked = await wh_client.delete(
        f"/api/admin/{admin.tenant_id}/api-keys/{key['id']}", headers=admin.headers
    )
    assert revoked.status_code == 204
    async with admin_engine.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT d.event_type, m.payload FROM webhook_deliveries d "
                    "JOIN webhook_messages m ON m.id = d.message_id WHERE d.tenant_id = :t "
                    "ORDER BY m.id"
                ),
                {"t": admin.tenant_id},
            )
        ).all()
    assert [row[0] for row in rows] == ["api_key.created", "api_key.revoked"]
    for _, payload in rows:
        assert payload["api_key_id"] == key["id"]
        assert key["secret"] not in str(payload)


async def test_a_test_send_answers_202_at_once_while_a_silent_receiver_holds_the_attempt(
    app_factory: Callable[..., FastAPI], receiver: Receiver, admin_engine: AsyncEngine
) -> None:
    # The in-process sender of `artisan serve` is running; the receiver takes 1 s to answer.
    app = app_factory(**{**WEBHOOK_SETTINGS, "webhook_runner": "inprocess"})
    runner = app.state.webhook_runner
    runner.start()
    receiver.answer("/slow", (200, {}, 1.0))
    try:
        async with client_for(app) as client:
            account = await signed_in_user(app, client)
            endpoint = await create_endpoint(client, account, receiver.url("/slow"))
            sent = await client.post(
                f"{base(account)}/{endpoint['id']}/test", headers=account.headers
            )
            assert sent.status_code == 202, sent.text
            # The answer names the delivery before its attempt is over: the log shows the rest.
            delivery = sent.json()
            assert delivery["status"] == "pending"
            assert delivery["attempt_count"] == 0
            await receiver.wait_for(1, "/slow")
            detail_url = f"{base(account)}/{endpoint['id']}/deliveries/{delivery['id']}"
            in_flight = (await client.get(detail_url, headers=account.headers)).json()
            assert in_flight["status"] == "pending"  # the receiver has not answered yet
            for _ in range(100):
                done = (await client.get(detail_url, headers=account.headers)).json()
                if done["status"] == "succeeded":
                    break
                await asyncio.sleep(0.1)
            assert done["status"] == "succeeded"
            assert done["attempts"][0]["response_status"] == 200
    finally:
        await runner.stop()
