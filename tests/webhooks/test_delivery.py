"""The delivery engine against a real loopback receiver: signing, retries, DLQ, limits, SSRF."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable

import httpx
import pydantic
import pytest
import standardwebhooks
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from artisan.core.errors import PayloadTooLarge
from artisan.webhooks.emit import emit_event, emit_events
from artisan.webhooks.engine import DeliveryEngine
from artisan.webhooks.events import WebhookTest
from artisan.webhooks.sender_pool import deliver_batch, drain
from tests.conftest import client_for
from tests.factories import Account, signed_in_user
from tests.webhooks.conftest import WEBHOOK_SETTINGS, Receiver, create_endpoint
from tests.webhooks.helpers import campaign, emit, rows, run_until


def base(account: Account) -> str:
    return f"/api/admin/{account.tenant_id}/webhooks"


async def test_delivers_signed_message(
    wh_app: FastAPI,
    wh_client: httpx.AsyncClient,
    admin: Account,
    receiver: Receiver,
    engine: DeliveryEngine,
) -> None:
    endpoint = await create_endpoint(wh_client, admin, receiver.url(), event_types=["campaign.*"])
    payload = campaign()
    message_id = await emit(wh_app, admin.tenant_id, "campaign.launched", **payload)
    await run_until(engine)
    [got] = receiver.requests
    assert got.headers["webhook-id"] == f"msg_{message_id.hex}"
    # Response bodies are logged raw, so no compressed answer may be invited.
    assert "accept-encoding" not in {name.lower() for name in got.headers}
    body = standardwebhooks.Webhook(endpoint["secret"]).verify(got.body, got.headers)
    assert body["type"] == "campaign.launched"
    assert body["data"]["campaign_id"] == payload["campaign_id"]
    listed = await wh_client.get(
        f"{base(admin)}/{endpoint['id']}/deliveries", headers=admin.headers
    )
    [delivery] = listed.json()["data"]
    assert delivery["status"] == "succeeded"
    assert delivery["webhook_id"] == got.headers["webhook-id"]
    detail = await wh_client.get(
        f"{base(admin)}/{endpoint['id']}/deliveries/{delivery['id']}", headers=admin.headers
    )
    [attempt] = detail.json()["attempts"]
    assert attempt["response_status"] == 200
    assert attempt["response_body"] == "ok"
    assert attempt["response_headers"] is None  # kept only for attempts that failed
    assert attempt["request_headers"]["webhook-signature"].startswith("v1,")
    # The attempt log shows exactly what went on the wire.
    sent = {name.lower(): value for name, value in got.headers.items()}
    assert attempt["request_headers"] == {
        name: sent[name]
        for name in (
            "content-type",
            "user-agent",
            "webhook-id",
            "webhook-timestamp",
            "webhook-signature",
        )
    }
    assert endpoint["secret"] not in json.dumps(detail.json())
    assert endpoint["secret"].removeprefix("whsec_") not in json.dumps(detail.json())
    assert detail.json()["payload"]["name"] == "Spring"


async def test_subscriptions_and_disabled_endpoints(
    wh_app: FastAPI,
    wh_client: httpx.AsyncClient,
    admin: Account,
    receiver: Receiver,
    engine: DeliveryEngine,
) -> None:
    await create_endpoint(wh_client, admin, receiver.url("/campaigns"), event_types=["campaign.*"])
    await create_endpoint(wh_client, admin, receiver.url("/all"))
    await create_endpoint(wh_client, admin, receiver.url("/off"), enabled=False)
    await emit(wh_app, admin.tenant_id, "campaign.paused", **campaign())
    async with wh_app.state.database.transaction(tenant_id=admin.tenant_id) as session:
        await emit_event(
            session,
            admin.tenant_id,
            "lead.bounced",
            {"lead_id": uuid.uuid4(), "occurred_at": "2026-11-25T10:00:00Z", "bounce_type": "hard"},
        )
    await run_until(engine)
    assert len(receiver.at("/campaigns")) == 1
    assert len(receiver.at("/all")) == 2
    assert receiver.at("/off") == []


async def test_emit_refuses_bad_events(wh_app: FastAPI, admin: Account) -> None:
    async with wh_app.state.database.transaction(tenant_id=admin.tenant_id) as session:
        with pytest.raises(ValueError, match="unknown webhook event type"):
            await emit_event(session, admin.tenant_id, "no.such", {})
        with pytest.raises(pydantic.ValidationError):
            await emit_event(session, admin.tenant_id, "campaign.launched", {"name": 1})
        # A typed payload must be the model its event type declares.
        with pytest.raises(TypeError, match=r"a campaign\.launched payload is a CampaignLifecycle"):
            await emit_event(
                session, admin.tenant_id, "campaign.launched", WebhookTest(endpoint_id=uuid.uuid4())
            )


async def test_payload_limit(app_factory: Callable[..., FastAPI], receiver: Receiver) -> None:
    app = app_factory(**{**WEBHOOK_SETTINGS, "webhook_max_payload_bytes": 2048})
    async with client_for(app) as client:
        account = await signed_in_user(app, client)
        await create_endpoint(client, account, receiver.url())
    payload = {**campaign(), "notes": "x" * 4096}
    with pytest.raises(PayloadTooLarge):
        async with app.state.database.transaction(tenant_id=account.tenant_id) as session:
            await emit_event(session, account.tenant_id, "campaign.launched", payload)


async def test_retries_on_schedule_then_dead_letters(
    wh_app: FastAPI,
    wh_client: httpx.AsyncClient,
    admin: Account,
    receiver: Receiver,
    engine: DeliveryEngine,
    admin_engine: AsyncEngine,
) -> None:
    receiver.answer("/hook", (500, {}, 0.0))
    endpoint = await create_endpoint(wh_client, admin, receiver.url())
    await emit(wh_app, admin.tenant_id, "campaign.launched", **campaign())
    await run_until(engine)
    times = [r.at for r in receiver.requests]
    assert len(times) == 3  # schedule 0, 0.2, 0.4
    assert times[1] - times[0] >= 0.2 * 0.8
    assert times[2] - times[1] >= 0.4 * 0.8
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 1
    failed = await wh_client.get(
        f"{base(admin)}/{endpoint['id']}/deliveries",
        params={"status": "failed"},
        headers=admin.headers,
    )
    [delivery] = failed.json()["data"]
    assert delivery["attempt_count"] == 3
    assert delivery["last_error"] == "http_status"
    attempts = await rows(
        admin_engine,
        "SELECT attempt_number, error_class, next_attempt_at IS NOT NULL FROM webhook_attempts "
        "ORDER BY attempt_number",
    )
    assert [tuple(a) for a in attempts] == [
        (1, "http_status", True),
        (2, "http_status", True),
        (3, "http_status", False),
    ]


async def test_retry_after_is_honoured_within_bounds(
    app_factory: Callable[..., FastAPI], receiver: Receiver, admin_engine: AsyncEngine
) -> None:
    app = app_factory(**{**WEBHOOK_SETTINGS, "webhook_retry_after_max_seconds": 2})
    receiver.answer("/slow", (429, {"Retry-After": "1"}, 0.0), (200, {}, 0.0))
    receiver.answer("/busy", (503, {"Retry-After": "86400"}, 0.0), (200, {}, 0.0))
    async with client_for(app) as client:
        account = await signed_in_user(app, client)
        await create_endpoint(client, account, receiver.url("/slow"))
        await create_endpoint(client, account, receiver.url("/busy"))
    engine = DeliveryEngine(app.state.settings, app.state.database)
    try:
        await emit(app, account.tenant_id, "campaign.launched", **campaign())
        await run_until(engine)
    finally:
        await engine.close()
    slow, busy = receiver.at("/slow"), receiver.at("/busy")
    assert len(slow) == len(busy) == 2
    assert slow[1].at - slow[0].at >= 0.95  # not the 0.2 s of the schedule
    assert busy[1].at - busy[0].at <= 3.5  # a day was asked for; the bound is 2 s
    # The failed attempts keep the headers that explain them; the successes do not.
    async with admin_engine.connect() as conn:
        logged = await conn.execute(
            text(
                "SELECT response_status, response_headers FROM webhook_attempts "
                "ORDER BY response_status DESC, started_at"
            )
        )
        by_status = [(row[0], row[1]) for row in logged]
    assert [status for status, _ in by_status] == [503, 429, 200, 200]
    assert by_status[0][1]["Retry-After"] == "86400"
    assert by_status[1][1]["Retry-After"] == "1"
    assert by_status[2][1] is None
    assert by_status[3][1] is None


async def test_gone_disables_the_endpoint(
    wh_app: FastAPI,
    wh_client: httpx.AsyncClient,
    admin: Account,
    receiver: Receiver,
    engine: DeliveryEngine,
    admin_engine: AsyncEngine,
) -> None:
    receiver.answer("/gone", (410, {}, 0.0))
    gone = await create_endpoint(
        wh_client, admin, receiver.url("/gone"), event_types=["campaign.*"]
    )
    await create_endpoint(
        wh_client, admin, receiver.url("/ops"), event_types=["webhook_endpoint.*"]
    )
    await emit(wh_app, admin.tenant_id, "campaign.launched", **campaign())
    await run_until(engine)
    assert len(receiver.at("/gone")) == 1
    state = await wh_client.get(f"{base(admin)}/{gone['id']}", headers=admin.headers)
    assert state.json()["enabled"] is False
    assert "410" in state.json()["disabled_reason"]
    [notice] = receiver.at("/ops")
    event = json.loads(notice.body)
    assert event["type"] == "webhook_endpoint.disabled"
    assert event["data"]["endpoint_id"] == gone["id"]
    audit = await rows(
        admin_engine,
        "SELECT actor_type FROM audit_log WHERE action = 'webhook.endpoint_disabled'",
    )
    assert [a[0] for a in audit] == ["system"]


async def test_redirects_are_not_followed(
    wh_app: FastAPI,
    wh_client: httpx.AsyncClient,
    admin: Account,
    receiver: Receiver,
    engine: DeliveryEngine,
    admin_engine: AsyncEngine,
) -> None:
    receiver.answer("/moved", (302, {"Location": receiver.url("/elsewhere")}, 0.0))
    await create_endpoint(wh_client, admin, receiver.url("/moved"))
    await emit(wh_app, admin.tenant_id, "campaign.launched", **campaign())
    await run_until(engine)
    assert len(receiver.at("/moved")) == 3
    assert receiver.at("/elsewhere") == []
    errors = await rows(admin_engine, "SELECT DISTINCT error_class FROM webhook_attempts")
    assert [e[0] for e in errors] == ["redirect"]


async def test_timeout(
    app_factory: Callable[..., FastAPI], receiver: Receiver, admin_engine: AsyncEngine
) -> None:
    app = app_factory(
        **{**WEBHOOK_SETTINGS, "webhook_timeout_seconds": 0.3, "webhook_retry_schedule": "0"}
    )
    receiver.answer("/hang", (200, {}, 2.0))
    async with client_for(app) as client:
        account = await signed_in_user(app, client)
        await create_endpoint(client, account, receiver.url("/hang"))
    engine = DeliveryEngine(app.state.settings, app.state.database)
    try:
        await emit(app, account.tenant_id, "campaign.launched", **campaign())
        await run_until(engine)
    finally:
        await engine.close()
    [attempt] = await rows(admin_engine, "SELECT error_class, duration_ms FROM webhook_attempts")
    assert attempt[0] == "timeout"
    assert attempt[1] < 1500


async def test_connection_refused(
    wh_app: FastAPI,
    wh_client: httpx.AsyncClient,
    admin: Account,
    engine: DeliveryEngine,
    admin_engine: AsyncEngine,
) -> None:
    await create_endpoint(wh_client, admin, "http://127.0.0.1:9/nothing-listens")
    await emit(wh_app, admin.tenant_id, "campaign.launched", **campaign())
    await run_until(engine)
    errors = await rows(admin_engine, "SELECT DISTINCT error_class FROM webhook_attempts")
    assert [e[0] for e in errors] == ["connection_refused"]


async def test_replay_and_recover(
    wh_app: FastAPI,
    wh_client: httpx.AsyncClient,
    admin: Account,
    receiver: Receiver,
    engine: DeliveryEngine,
) -> None:
    receiver.answer("/hook", (500, {}, 0.0))
    endpoint = await create_endpoint(wh_client, admin, receiver.url())
    url = f"{base(admin)}/{endpoint['id']}"
    for _ in range(2):
        await emit(wh_app, admin.tenant_id, "campaign.launched", **campaign())
    await run_until(engine)
    assert len(receiver.requests) == 6
    failed = (await wh_client.get(f"{url}/deliveries", headers=admin.headers)).json()["data"]
    assert {d["status"] for d in failed} == {"failed"}
    receiver.answer("/hook", (200, {}, 0.0))
    replayed = await wh_client.post(f"{url}/replay/{failed[0]['id']}", headers=admin.headers)
    assert replayed.status_code == 202, replayed.text
    assert replayed.json()["status"] == "pending"
    again = await wh_client.post(f"{url}/replay/{failed[0]['id']}", headers=admin.headers)
    assert again.status_code == 409
    await run_until(engine)
    assert len(receiver.requests) == 7
    assert receiver.requests[-1].headers["webhook-id"] == failed[0]["webhook_id"]
    detail = await wh_client.get(f"{url}/deliveries/{failed[0]['id']}", headers=admin.headers)
    assert detail.json()["status"] == "succeeded"
    assert [a["trigger"] for a in detail.json()["attempts"]][-1] == "replay"
    recovered = await wh_client.post(
        f"{url}/recover", json={"since": "2020-01-01T00:00:00Z"}, headers=admin.headers
    )
    assert recovered.json() == {"recovered": 1}
    await run_until(engine)
    assert len(receiver.requests) == 8
    assert receiver.requests[-1].headers["webhook-id"] == failed[1]["webhook_id"]
    statuses = (await wh_client.get(f"{url}/deliveries", headers=admin.headers)).json()["data"]
    assert {d["status"] for d in statuses} == {"succeeded"}


async def test_test_event_route(
    wh_client: httpx.AsyncClient, admin: Account, receiver: Receiver, engine: DeliveryEngine
) -> None:
    endpoint = await create_endpoint(wh_client, admin, receiver.url(), event_types=["campaign.*"])
    sent = await wh_client.post(f"{base(admin)}/{endpoint['id']}/test", headers=admin.headers)
    assert sent.status_code == 202
    await run_until(engine)
    [got] = receiver.requests
    assert json.loads(got.body)["type"] == "webhook.test"


async def test_ordering(
    wh_app: FastAPI,
    wh_client: httpx.AsyncClient,
    admin: Account,
    receiver: Receiver,
    engine: DeliveryEngine,
) -> None:
    # The first message fails twice before it succeeds: the later ones must wait for it.
    receiver.answer("/ordered", (500, {}, 0.0), (500, {}, 0.0), (200, {}, 0.0))
    await create_endpoint(wh_client, admin, receiver.url("/ordered"), ordered=True)
    ids = [await emit(wh_app, admin.tenant_id, "campaign.launched", **campaign()) for _ in range(4)]
    await run_until(engine)
    seen = [r.headers["webhook-id"] for r in receiver.requests]
    expected = [f"msg_{i.hex}" for i in ids]
    assert seen == [expected[0]] * 3 + expected[1:]


async def test_unordered_endpoint_does_not_wait(
    wh_app: FastAPI,
    wh_client: httpx.AsyncClient,
    admin: Account,
    receiver: Receiver,
    engine: DeliveryEngine,
) -> None:
    receiver.answer("/free", (500, {}, 0.0), (200, {}, 0.0))
    await create_endpoint(wh_client, admin, receiver.url("/free"))
    for _ in range(3):
        await emit(wh_app, admin.tenant_id, "campaign.launched", **campaign())
    await deliver_batch(engine)
    assert len(receiver.requests) == 3  # all three in the first batch


async def test_rate_limit_is_respected(
    wh_app: FastAPI,
    wh_client: httpx.AsyncClient,
    admin: Account,
    receiver: Receiver,
    engine: DeliveryEngine,
) -> None:
    await create_endpoint(wh_client, admin, receiver.url("/limited"), rate_limit=2)
    await create_endpoint(wh_client, admin, receiver.url("/free"))
    for _ in range(6):
        await emit(wh_app, admin.tenant_id, "campaign.launched", **campaign())
    await run_until(engine)
    limited = [r.at for r in receiver.at("/limited")]
    free = [r.at for r in receiver.at("/free")]
    assert len(limited) == len(free) == 6
    # Six at two per second need at least two more windows after the first burst.
    assert limited[-1] - limited[0] >= 1.5
    assert free[-1] - free[0] < limited[-1] - limited[0]
    for start in limited:
        assert sum(1 for t in limited if start <= t < start + 1.0) <= 3


async def test_auto_disable_after_consecutive_failures(
    app_factory: Callable[..., FastAPI], receiver: Receiver, admin_engine: AsyncEngine
) -> None:
    app = app_factory(
        **{
            **WEBHOOK_SETTINGS,
            "webhook_retry_schedule": "0",
            "webhook_disable_after_failures": 2,
        }
    )
    receiver.answer("/bad", (500, {}, 0.0))
    async with client_for(app) as client:
        account = await signed_in_user(app, client)
        bad = await create_endpoint(
            client, account, receiver.url("/bad"), event_types=["campaign.*"]
        )
        await create_endpoint(
            client, account, receiver.url("/ops"), event_types=["webhook_endpoint.*"]
        )
        engine = DeliveryEngine(app.state.settings, app.state.database)
        try:
            await emit(app, account.tenant_id, "campaign.launched", **campaign())
            await run_until(engine)
            state = await client.get(f"{base(account)}/{bad['id']}", headers=account.headers)
            assert state.json()["enabled"] is True
            assert state.json()["consecutive_failures"] == 1
            await emit(app, account.tenant_id, "campaign.launched", **campaign())
            await run_until(engine)
            state = await client.get(f"{base(account)}/{bad['id']}", headers=account.headers)
            assert state.json()["enabled"] is False
            assert "2 messages in a row" in state.json()["disabled_reason"]
            assert len(receiver.at("/ops")) == 1
            # Re-enabling clears the history.
            enabled = await client.patch(
                f"{base(account)}/{bad['id']}", json={"enabled": True}, headers=account.headers
            )
            assert enabled.json()["consecutive_failures"] == 0
            assert enabled.json()["failing_since"] is None
        finally:
            await engine.close()


async def test_auto_disable_after_failing_period(
    wh_app: FastAPI,
    wh_client: httpx.AsyncClient,
    admin: Account,
    receiver: Receiver,
    engine: DeliveryEngine,
    admin_engine: AsyncEngine,
) -> None:
    receiver.answer("/bad", (500, {}, 0.0))
    bad = await create_endpoint(wh_client, admin, receiver.url("/bad"))
    async with admin_engine.begin() as conn:
        from sqlalchemy import text

        await conn.execute(
            text("UPDATE webhook_endpoints SET failing_since = now() - interval '6 days'")
        )
    await emit(wh_app, admin.tenant_id, "campaign.launched", **campaign())
    await deliver_batch(engine)
    state = await wh_client.get(f"{base(admin)}/{bad['id']}", headers=admin.headers)
    assert state.json()["enabled"] is False
    assert "Every attempt failed since" in state.json()["disabled_reason"]


@pytest.mark.parametrize(
    ("host", "allow"),
    [
        ("127.0.0.1", "127.0.0.0/8"),
        ("localhost", "127.0.0.0/8,::1/128"),
        ("[::1]", "::1/128"),
        ("10.1.2.3", "10.0.0.0/8"),
        ("[::ffff:127.0.0.1]", "127.0.0.0/8"),
    ],
)
async def test_ssrf_refused_at_send_time(
    app_factory: Callable[..., FastAPI],
    receiver: Receiver,
    admin_engine: AsyncEngine,
    host: str,
    allow: str,
) -> None:
    # The endpoint was accepted under a wider allow list; the sender's list is empty.
    creator = app_factory(**{**WEBHOOK_SETTINGS, "webhook_allow_private_networks": allow})
    sender = app_factory(**{**WEBHOOK_SETTINGS, "webhook_allow_private_networks": ""})
    port = receiver.base_url.rsplit(":", 1)[1]
    async with client_for(creator) as client:
        account = await signed_in_user(creator, client)
        await create_endpoint(client, account, f"http://{host}:{port}/hook")
    engine = DeliveryEngine(
        sender.state.settings,
        sender.state.database,
    )
    try:
        await emit(sender, account.tenant_id, "campaign.launched", **campaign())
        await run_until(engine)
    finally:
        await engine.close()
    assert receiver.requests == []
    errors = await rows(admin_engine, "SELECT DISTINCT error_class FROM webhook_attempts")
    assert [e[0] for e in errors] == ["ssrf_blocked"]


async def test_two_senders_never_claim_the_same_delivery(
    wh_app: FastAPI,
    wh_client: httpx.AsyncClient,
    admin: Account,
    receiver: Receiver,
    engine: DeliveryEngine,
) -> None:
    await create_endpoint(wh_client, admin, receiver.url())
    for _ in range(20):
        await emit(wh_app, admin.tenant_id, "campaign.launched", **campaign())
    other = DeliveryEngine(
        wh_app.state.settings,
        wh_app.state.database,
    )
    try:
        first, second = await asyncio.gather(engine.claim(limit=15), other.claim(limit=15))
        ids_a = {c.delivery_id for c in first}
        ids_b = {c.delivery_id for c in second}
        assert not ids_a & ids_b
        assert len(ids_a | ids_b) == 20
        # Leased deliveries are invisible to a third claim until the lease ends.
        third = await other.claim()
        assert third == []
    finally:
        await other.close()


async def test_a_lost_lease_changes_nothing(
    wh_app: FastAPI,
    wh_client: httpx.AsyncClient,
    admin: Account,
    receiver: Receiver,
    engine: DeliveryEngine,
    admin_engine: AsyncEngine,
) -> None:
    await create_endpoint(wh_client, admin, receiver.url())
    await emit(wh_app, admin.tenant_id, "campaign.launched", **campaign())
    claimed = await engine.claim()
    outcome = await engine.send(claimed[0])
    outcome.item.lease_token = uuid.uuid4()  # someone else's lease
    await engine.record([outcome])
    [row] = await rows(admin_engine, "SELECT status, attempt_count FROM webhook_deliveries")
    assert tuple(row) == ("pending", 0)


async def test_purge_keeps_metadata(
    wh_app: FastAPI,
    wh_client: httpx.AsyncClient,
    admin: Account,
    receiver: Receiver,
    engine: DeliveryEngine,
    admin_engine: AsyncEngine,
) -> None:
    from sqlalchemy import text

    from artisan.webhooks.runtime import purge_payloads

    endpoint = await create_endpoint(wh_client, admin, receiver.url())
    await emit(wh_app, admin.tenant_id, "campaign.launched", **campaign())
    await emit(wh_app, admin.tenant_id, "campaign.paused", **campaign())
    await run_until(engine)
    async with admin_engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE webhook_messages SET created_at = now() - interval '40 days' "
                "WHERE event_type = 'campaign.launched'"
            )
        )
    assert await purge_payloads(wh_app.state.database, wh_app.state.settings) == 1
    listed = await wh_client.get(
        f"{base(admin)}/{endpoint['id']}/deliveries",
        params={"event_type": "campaign.launched"},
        headers=admin.headers,
    )
    [delivery] = listed.json()["data"]
    detail = await wh_client.get(
        f"{base(admin)}/{endpoint['id']}/deliveries/{delivery['id']}", headers=admin.headers
    )
    assert detail.json()["payload"] is None
    assert len(detail.json()["attempts"]) == 1
    kept = await rows(
        admin_engine, "SELECT count(*) FROM webhook_messages WHERE payload IS NOT NULL"
    )
    assert kept[0][0] == 1


async def test_delivery_filters_and_pages(
    wh_app: FastAPI,
    wh_client: httpx.AsyncClient,
    admin: Account,
    receiver: Receiver,
    engine: DeliveryEngine,
) -> None:
    endpoint = await create_endpoint(wh_client, admin, receiver.url())
    for _ in range(3):
        await emit(wh_app, admin.tenant_id, "campaign.launched", **campaign())
    await emit(wh_app, admin.tenant_id, "campaign.paused", **campaign())
    url = f"{base(admin)}/{endpoint['id']}/deliveries"
    first = (await wh_client.get(url, params={"limit": 3}, headers=admin.headers)).json()
    assert first["has_more"] is True
    second = (
        await wh_client.get(
            url, params={"limit": 3, "cursor": first["next_cursor"]}, headers=admin.headers
        )
    ).json()
    assert len(first["data"]) + len(second["data"]) == 4
    paused = (
        await wh_client.get(url, params={"event_type": "campaign.paused"}, headers=admin.headers)
    ).json()["data"]
    assert len(paused) == 1
    future = (
        await wh_client.get(url, params={"since": "2999-01-01T00:00:00Z"}, headers=admin.headers)
    ).json()["data"]
    assert future == []
    pending = (
        await wh_client.get(url, params={"status": "pending"}, headers=admin.headers)
    ).json()["data"]
    assert len(pending) == 4


async def test_in_process_runner_delivers_after_commit(
    app_factory: Callable[..., FastAPI], receiver: Receiver
) -> None:
    app = app_factory(**{**WEBHOOK_SETTINGS, "webhook_runner": "inprocess"})
    # The application's own lifespan starts and stops the runner, as `artisan serve` does.
    async with app.router.lifespan_context(app), client_for(app) as client:
        account = await signed_in_user(app, client)
        await create_endpoint(client, account, receiver.url())
        loop = asyncio.get_running_loop()
        started = loop.time()
        await emit(app, account.tenant_id, "campaign.launched", **campaign())
        await receiver.wait_for(1, within=5)
        # Woken by the commit, not by the 2 s polling interval.
        assert loop.time() - started < 1.0
        deadline = loop.time() + 5
        while 'webhook_deliveries_total{outcome="succeeded"} 1.0' not in (
            metrics := (await client.get("/metrics")).text
        ):
            assert loop.time() < deadline, metrics
            await asyncio.sleep(0.1)
        assert "webhook_delivery_latency_seconds_count 1.0" in metrics


async def test_endpoint_deleted_mid_delivery(
    wh_app: FastAPI,
    wh_client: httpx.AsyncClient,
    admin: Account,
    receiver: Receiver,
    engine: DeliveryEngine,
    admin_engine: AsyncEngine,
) -> None:
    doomed = await create_endpoint(wh_client, admin, receiver.url("/doomed"))
    await create_endpoint(wh_client, admin, receiver.url("/kept"))
    await emit(wh_app, admin.tenant_id, "campaign.launched", **campaign())
    claimed = await engine.claim()
    outcomes = [await engine.send(item) for item in claimed]
    deleted = await wh_client.delete(f"{base(admin)}/{doomed['id']}", headers=admin.headers)
    assert deleted.status_code == 204
    await engine.record(outcomes)
    [row] = await rows(admin_engine, "SELECT status FROM webhook_deliveries")
    assert row[0] == "succeeded"
    assert len(await rows(admin_engine, "SELECT id FROM webhook_attempts")) == 1


async def test_drain_pipelines_small_batches_exactly_once_and_in_order(
    app_factory: Callable[..., FastAPI], receiver: Receiver, admin_engine: AsyncEngine
) -> None:
    # Batches of three force several batches in flight at once while draining.
    app = app_factory(**{**WEBHOOK_SETTINGS, "webhook_batch_size": 3})
    async with client_for(app) as http:
        account = await signed_in_user(app, http)
        ordered = await create_endpoint(http, account, receiver.url("/ordered"), ordered=True)
        free = await create_endpoint(http, account, receiver.url("/free"))
        ids = [
            await emit(app, account.tenant_id, "campaign.launched", **campaign()) for _ in range(10)
        ]
    engine = DeliveryEngine(app.state.settings, app.state.database)
    try:
        sent = await drain(engine, budget_seconds=30)
    finally:
        await engine.close()
    expected = [f"msg_{i.hex}" for i in ids]
    assert sent == 20
    assert [r.headers["webhook-id"] for r in receiver.at("/ordered")] == expected
    assert sorted(r.headers["webhook-id"] for r in receiver.at("/free")) == sorted(expected)
    for endpoint, path in ((ordered, "/ordered"), (free, "/free")):
        for got in receiver.at(path):
            standardwebhooks.Webhook(endpoint["secret"]).verify(got.body, got.headers)
    counts = await rows(
        admin_engine,
        "SELECT d.status, count(DISTINCT d.id), count(a.id), bool_and(a.succeeded), "
        "bool_and(d.lease_token IS NULL) FROM webhook_deliveries d "
        "JOIN webhook_attempts a ON a.delivery_id = d.id GROUP BY d.status",
    )
    assert [tuple(row) for row in counts] == [("succeeded", 20, 20, True, True)]


async def test_record_skips_only_the_deliveries_whose_lease_was_lost(
    wh_app: FastAPI,
    wh_client: httpx.AsyncClient,
    admin: Account,
    receiver: Receiver,
    engine: DeliveryEngine,
    admin_engine: AsyncEngine,
) -> None:
    await create_endpoint(wh_client, admin, receiver.url())
    for _ in range(2):
        await emit(wh_app, admin.tenant_id, "campaign.launched", **campaign())
    claimed = await engine.claim()
    kept, lost = sorted(claimed, key=lambda c: c.delivery_id)
    # Another sender took over the second delivery's lease meanwhile.
    async with admin_engine.begin() as conn:
        await conn.execute(
            text("UPDATE webhook_deliveries SET lease_token = :other WHERE id = :id"),
            {"other": uuid.uuid4(), "id": lost.delivery_id},
        )
    outcomes = [await engine.send(item) for item in (kept, lost)]
    await engine.record(outcomes)
    states = await rows(
        admin_engine,
        "SELECT d.id, d.status, d.attempt_count, d.delivered_at IS NOT NULL, count(a.id) "
        "FROM webhook_deliveries d LEFT JOIN webhook_attempts a ON a.delivery_id = d.id "
        "GROUP BY d.id",
    )
    by_id = {row[0]: tuple(row[1:]) for row in states}
    assert by_id[kept.delivery_id] == ("succeeded", 1, True, 1)
    assert by_id[lost.delivery_id] == ("pending", 0, False, 0)


async def test_emit_events_writes_a_batch_at_once_and_refuses_it_whole(
    app_factory: Callable[..., FastAPI], receiver: Receiver, admin_engine: AsyncEngine
) -> None:
    app = app_factory(**{**WEBHOOK_SETTINGS, "webhook_max_payload_bytes": 2048})
    async with client_for(app) as http:
        account = await signed_in_user(app, http)
        await create_endpoint(http, account, receiver.url("/campaigns"), event_types=["campaign.*"])
        await create_endpoint(http, account, receiver.url("/all"))
    bounced = {
        "lead_id": uuid.uuid4(),
        "occurred_at": "2026-11-25T10:00:00Z",
        "bounce_type": "hard",
    }
    # One payload over the limit: nothing of the batch is written.
    with pytest.raises(PayloadTooLarge):
        async with app.state.database.transaction(tenant_id=account.tenant_id) as session:
            await emit_events(
                session,
                account.tenant_id,
                [
                    ("campaign.launched", campaign()),
                    ("campaign.launched", {**campaign(), "notes": "x" * 4096}),
                ],
            )
    async with app.state.database.transaction(tenant_id=account.tenant_id) as session:
        messages = await emit_events(
            session,
            account.tenant_id,
            [
                ("campaign.launched", campaign("A")),
                ("lead.bounced", bounced),
                ("campaign.paused", campaign("B")),
            ],
        )
    assert [m.event_type for m in messages] == [
        "campaign.launched",
        "lead.bounced",
        "campaign.paused",
    ]
    counts = await rows(
        admin_engine,
        "SELECT m.event_type, count(d.id) FROM webhook_messages m "
        "JOIN webhook_deliveries d ON d.message_id = m.id GROUP BY m.event_type ORDER BY 1",
    )
    assert [tuple(row) for row in counts] == [
        ("campaign.launched", 2),
        ("campaign.paused", 2),
        ("lead.bounced", 1),
    ]
    engine = DeliveryEngine(app.state.settings, app.state.database)
    try:
        await run_until(engine)
    finally:
        await engine.close()
    names = sorted(json.loads(r.body)["data"]["name"] for r in receiver.at("/campaigns"))
    assert names == ["A", "B"]
    assert {r.headers["webhook-id"] for r in receiver.at("/all")} == {
        f"msg_{m.id.hex}" for m in messages
    }


async def test_a_delivery_whose_lease_ran_short_is_handed_back_unsent(
    wh_app: FastAPI,
    wh_client: httpx.AsyncClient,
    admin: Account,
    receiver: Receiver,
    engine: DeliveryEngine,
    admin_engine: AsyncEngine,
) -> None:
    await create_endpoint(wh_client, admin, receiver.url())
    await emit(wh_app, admin.tenant_id, "campaign.launched", **campaign())
    [item] = await engine.claim()
    # It waited so long in the sender's queue that its request could outlive its lease.
    item.start_by = 0.0
    outcome = await engine.send_in_time(item)
    assert outcome.released
    await engine.record([outcome])
    [row] = await rows(
        admin_engine,
        "SELECT d.status, d.attempt_count, d.lease_token IS NULL, count(a.id) "
        "FROM webhook_deliveries d LEFT JOIN webhook_attempts a ON a.delivery_id = d.id "
        "GROUP BY d.id",
    )
    assert tuple(row) == ("pending", 0, True, 0)
    assert receiver.at("/hook") == []
    # Handed back, it is due at once for the next claim, which sends it.
    [again] = await engine.claim()
    assert again.delivery_id == item.delivery_id
    await engine.record([await engine.send_in_time(again)])
    [status] = await rows(admin_engine, "SELECT status FROM webhook_deliveries")
    assert status[0] == "succeeded"
    assert len(receiver.at("/hook")) == 1


async def test_drain_with_one_sender_and_batches_of_one(
    app_factory: Callable[..., FastAPI], receiver: Receiver
) -> None:
    # The smallest pool there is: the claimer must still wake up for every single delivery.
    app = app_factory(**{**WEBHOOK_SETTINGS, "webhook_batch_size": 1, "webhook_concurrency": 1})
    async with client_for(app) as http:
        account = await signed_in_user(app, http)
        await create_endpoint(http, account, receiver.url("/solo"))
        for _ in range(4):
            await emit(app, account.tenant_id, "campaign.launched", **campaign())
    engine = DeliveryEngine(app.state.settings, app.state.database)
    try:
        sent = await asyncio.wait_for(drain(engine, budget_seconds=30), timeout=60)
    finally:
        await engine.close()
    assert sent == 4
    assert len(receiver.at("/solo")) == 4


async def test_a_deleted_tenant_takes_its_deliveries_and_attempts_along(
    wh_app: FastAPI,
    wh_client: httpx.AsyncClient,
    admin: Account,
    receiver: Receiver,
    engine: DeliveryEngine,
    admin_engine: AsyncEngine,
) -> None:
    # Deliveries and attempts carry no key to tenants: the cascades through their endpoint,
    # message and delivery must still leave nothing behind.
    await create_endpoint(wh_client, admin, receiver.url())
    await emit(wh_app, admin.tenant_id, "campaign.launched", **campaign())
    await emit(wh_app, admin.tenant_id, "campaign.paused", **campaign())
    await run_until(engine)
    count = (
        "SELECT (SELECT count(*) FROM webhook_deliveries WHERE tenant_id = :t), "
        "(SELECT count(*) FROM webhook_attempts WHERE tenant_id = :t)"
    )
    async with admin_engine.begin() as conn:
        before = (await conn.execute(text(count), {"t": admin.tenant_id})).one()
        assert tuple(before) == (2, 2)
        await conn.execute(text("DELETE FROM tenants WHERE id = :t"), {"t": admin.tenant_id})
        after = (await conn.execute(text(count), {"t": admin.tenant_id})).one()
    assert tuple(after) == (0, 0)


async def test_a_success_makes_a_failing_endpoint_healthy_again(
    app_factory: Callable[..., FastAPI], receiver: Receiver
) -> None:
    app = app_factory(**{**WEBHOOK_SETTINGS, "webhook_retry_schedule": "0"})
    receiver.answer("/flaky", (500, {}, 0.0))
    async with client_for(app) as client:
        account = await signed_in_user(app, client)
        flaky = await create_endpoint(client, account, receiver.url("/flaky"))
        healthy = await create_endpoint(client, account, receiver.url("/healthy"))
        engine = DeliveryEngine(app.state.settings, app.state.database)
        try:
            await emit(app, account.tenant_id, "campaign.launched", **campaign())
            await run_until(engine)
            failing = await client.get(f"{base(account)}/{flaky['id']}", headers=account.headers)
            assert failing.json()["consecutive_failures"] == 1
            assert failing.json()["failing_since"] is not None

            # A batch of successes only takes the engine's one-statement path.
            receiver.answer("/flaky", (204, {}, 0.0))
            await emit(app, account.tenant_id, "campaign.launched", **campaign())
            await run_until(engine)
        finally:
            await engine.close()
        for endpoint in (flaky, healthy):
            state = await client.get(f"{base(account)}/{endpoint['id']}", headers=account.headers)
            assert state.json()["consecutive_failures"] == 0
            assert state.json()["failing_since"] is None
            assert state.json()["enabled"] is True
    assert len(receiver.at("/flaky")) == 2


async def test_engine_connections_see_every_tenant_and_survive_a_server_side_close(
    wh_app: FastAPI,
    wh_client: httpx.AsyncClient,
    admin: Account,
    receiver: Receiver,
    engine: DeliveryEngine,
    admin_engine: AsyncEngine,
) -> None:
    connections = await engine.connections()
    async with connections.acquire() as connection:
        assert await connection.fetchval("SHOW jit") == "off"
        assert await connection.fetchval("SELECT current_setting('app.rls_bypass')") == "on"
        # The same non-privileged role as every other connection: the bypass setting, not a
        # privileged login, is what lets it see every tenant.
        assert (
            await connection.fetchval("SELECT current_user")
            == wh_app.state.settings.database_app_role
        )

    await create_endpoint(wh_client, admin, receiver.url())
    await emit(wh_app, admin.tenant_id, "campaign.launched", **campaign())
    # The server closes the engine's connections, as a restart or a failover would.
    async with admin_engine.begin() as conn:
        closed = await conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = 'artisan-webhooks' AND pid <> pg_backend_pid()"
            )
        )
        assert closed.all()
    assert await deliver_batch(engine) == 1
    await receiver.wait_for(1)
    recorded = await rows(admin_engine, "SELECT status::text FROM webhook_deliveries")
    assert [r[0] for r in recorded] == ["succeeded"]
