"""A transaction that loses a deadlock or a serialization check is run again, once; concurrent
writes in one tenant never answer 500; audit entries join their chain only at commit."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import httpx
from fastapi import APIRouter, FastAPI
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from artisan.audit.recorder import SYSTEM, record
from artisan.core.db import Database, SessionDep
from tests.api_keys.helpers import keys_path
from tests.campaigns.helpers import make_campaign
from tests.conftest import client_for
from tests.factories import signed_in_user

LOCK_NAMESPACE = 4242


def _mount_probes(app: FastAPI, calls: list[Any], both_hold: asyncio.Event) -> None:
    probes = APIRouter(prefix="/api/probe")

    holding: list[int] = []

    @probes.post("/locks")
    async def locks(body: dict[str, Any], session: SessionDep) -> dict[str, Any]:
        calls.append(body["order"])
        arrival = len(calls)
        first, second = body["order"]
        await session.execute(
            text("SELECT pg_advisory_xact_lock(:ns, :k)"), {"ns": LOCK_NAMESPACE, "k": first}
        )
        if arrival <= 2:
            # The first two requests each hold one lock before either asks for the other's.
            holding.append(arrival)
            if len(holding) == 2:
                both_hold.set()
            await asyncio.wait_for(both_hold.wait(), 10)
        await session.execute(
            text("SELECT pg_advisory_xact_lock(:ns, :k)"), {"ns": LOCK_NAMESPACE, "k": second}
        )
        return {"order": body["order"], "attempt": len(calls)}

    @probes.post("/always-conflicts")
    async def always_conflicts(body: dict[str, Any], session: SessionDep) -> dict[str, Any]:
        calls.append(body)
        conflict = type("SerializationFailure", (Exception,), {"sqlstate": "40001"})()
        raise DBAPIError("SELECT 1", {}, conflict)

    app.include_router(probes)


async def test_a_deadlock_victim_is_run_again_and_both_requests_succeed(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    calls: list[Any] = []
    _mount_probes(app, calls, asyncio.Event())
    one, two = await asyncio.gather(
        client.post("/api/probe/locks", json={"order": [1, 2]}),
        client.post("/api/probe/locks", json={"order": [2, 1]}),
    )
    assert (one.status_code, two.status_code) == (200, 200), (one.text, two.text)
    # PostgreSQL broke the deadlock by failing one of them; it ran a third time, with its body.
    assert len(calls) == 3
    assert calls[2] in ([1, 2], [2, 1])
    assert {one.json()["attempt"], two.json()["attempt"]} & {3}


async def test_a_second_conflict_answers_503_with_retry_after_not_500(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    calls: list[Any] = []
    _mount_probes(app, calls, asyncio.Event())
    response = await client.post("/api/probe/always-conflicts", json={"n": 1})
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["retry-after"] == "1"
    assert "x-artisan-transient" not in response.headers
    assert response.json()["code"] == "transaction_conflict"
    assert calls == [{"n": 1}, {"n": 1}]  # run twice, the body replayed


async def test_mixed_concurrent_writes_in_one_tenant_never_answer_500(
    app_factory: Callable[..., FastAPI], admin_engine: AsyncEngine
) -> None:
    app = app_factory()
    async with client_for(app) as client:
        admin = await signed_in_user(app, client)
        headers = admin.headers
        campaign = await make_campaign(client, headers)
        seeded = await client.post(
            "/api/leads/import",
            headers=headers,
            json={"leads": [{"email": f"seed{i}@example.com"} for i in range(20)]},
        )
        lead_ids = seeded.json()["created_ids"]
        tenant_url = f"/api/admin/{admin.tenant_id}"

        def writes(round_: int) -> list[Any]:
            tag = f"{round_}-{uuid.uuid4().hex[:6]}"
            return [
                client.post(
                    f"{tenant_url}/users",
                    headers=headers,
                    json={"email": f"invitee-{tag}@example.com", "full_name": tag, "role": "user"},
                ),
                client.post(
                    keys_path(admin.tenant_id),
                    headers=headers,
                    json={"name": f"key {tag}", "scopes": ["leads:read"]},
                ),
                client.patch(tenant_url, headers=headers, json={"name": f"Tenant {tag}"}),
                # Audited without a lock on the tenant row, unlike the creates above.
                client.patch(
                    f"/api/leads/{lead_ids[round_ % len(lead_ids)]}",
                    headers=headers,
                    json={"company": f"Company {tag}"},
                ),
                client.post(
                    "/api/leads/import",
                    headers=headers,
                    json={
                        "leads": [{"email": f"imp-{tag}-{i}@example.com"} for i in range(5)]
                        + [{"email": "seed1@example.com", "company": tag}],
                        "on_duplicate": "update",
                    },
                ),
                client.post(
                    "/api/events/batch",
                    headers=headers,
                    json={
                        "events": [
                            {
                                "type": "email.opened",
                                "campaign_id": campaign["id"],
                                "lead_id": lead_ids[(round_ + i) % len(lead_ids)],
                                "occurred_at": "2026-11-20T10:00:00Z",
                            }
                            for i in range(10)
                        ]
                    },
                ),
            ]

        statuses: list[int] = []
        for round_ in range(6):
            responses = await asyncio.gather(*writes(round_), *writes(round_ + 100))
            statuses += [r.status_code for r in responses]
            for response in responses:
                assert response.status_code < 500, response.text
        assert all(200 <= s < 300 for s in statuses), statuses
    # Every write left its audit entry, and the tenant's chain has no gap or fork.
    async with admin_engine.connect() as conn:
        seqs = (
            (
                await conn.execute(
                    text("SELECT seq FROM audit_log WHERE tenant_id = :t ORDER BY seq"),
                    {"t": admin.tenant_id},
                )
            )
            .scalars()
            .all()
        )
        found = await conn.execute(
            text("SELECT action, count(*) FROM audit_log WHERE tenant_id = :t GROUP BY action"),
            {"t": admin.tenant_id},
        )
        actions = {action: count for action, count in found.all()}
    assert seqs == list(range(1, len(seqs) + 1))
    writes_of_each = len(statuses) // 6
    assert actions["user.invited"] == writes_of_each
    assert actions["api_key.created"] == writes_of_each
    assert actions["tenant.updated"] == writes_of_each
    assert actions["lead.updated"] == writes_of_each
    assert actions["lead.imported"] == writes_of_each + 1  # and the seeding import


async def test_entries_join_the_chain_at_commit_in_order_and_vanish_with_a_rollback(
    app: FastAPI, client: httpx.AsyncClient, admin_engine: AsyncEngine
) -> None:
    admin = await signed_in_user(app, client)
    database: Database = app.state.database

    async def count() -> int:
        async with admin_engine.connect() as conn:
            found = await conn.execute(
                text("SELECT count(*) FROM audit_log WHERE tenant_id = :t"),
                {"t": admin.tenant_id},
            )
            return int(found.scalar_one())

    before = await count()
    async with database.transaction(tenant_id=admin.tenant_id) as session:
        for index in range(3):
            await record(
                session,
                "lead.deleted",
                tenant_id=admin.tenant_id,
                actor=SYSTEM,
                metadata={"i": index},
            )
        # Nothing is written, and no chain lock is taken, before the commit.
        held = await session.execute(
            text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
            )
        )
        assert held.scalar_one() == 0
    assert await count() == before + 3
    async with admin_engine.connect() as conn:
        last = (
            (
                await conn.execute(
                    text(
                        "SELECT metadata->>'i' FROM audit_log WHERE tenant_id = :t "
                        "ORDER BY seq DESC LIMIT 3"
                    ),
                    {"t": admin.tenant_id},
                )
            )
            .scalars()
            .all()
        )
    assert last == ["2", "1", "0"]
    try:
        async with database.transaction(tenant_id=admin.tenant_id) as session:
            await record(session, "lead.deleted", tenant_id=admin.tenant_id, actor=SYSTEM)
            raise RuntimeError("rolled back")
    except RuntimeError:
        pass
    assert await count() == before + 3
    verified = await client.get(
        f"/api/admin/{admin.tenant_id}/audit-log/verify", headers=admin.headers
    )
    assert verified.status_code == 200, verified.text
    assert verified.json()["ok"] is True
