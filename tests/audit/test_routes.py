"""The audit-log routes: filters, pagination, export, statistics, access and bad input."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from artisan.audit.recorder import Actor, Target, record
from artisan.core.db import Database
from artisan.models.user import Role
from tests.audit.helpers import entries
from tests.factories import Account, make_tenant, make_user, sign_in, signed_in_user

ALICE = Actor(type="user", id="u-alice", label="alice@example.com")
BOT = Actor(type="api_key", id="k-bot", label="Deploy bot")


async def seed(app: FastAPI, tenant_id: uuid.UUID, n: int, **kw: Any) -> None:
    """`n` entries alternating between two actors, actions and outcomes."""
    database: Database = app.state.database
    async with database.transaction(tenant_id=tenant_id) as session:
        for i in range(n):
            await record(
                session,
                "campaign.created" if i % 2 else "webhook.deleted",
                tenant_id=tenant_id,
                actor=ALICE if i % 3 else BOT,
                targets=[Target("campaign", f"c-{i}", f"Campaign {i}")],
                outcome="failure" if i % 5 == 0 else "success",
                metadata={"i": i, **kw},
            )


async def test_filters_select_exactly_the_matching_entries(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    admin = await signed_in_user(app, client)
    await seed(app, admin.tenant_id, 30)
    everything = [
        e for e in await entries(client, admin) if e["actor"]["id"] in {"u-alice", "k-bot"}
    ]
    assert len(everything) == 30

    def expected(pred: Any) -> list[str]:
        return [e["id"] for e in everything if pred(e)]

    cases: list[tuple[dict[str, str], Any]] = [
        ({"action": "campaign.created"}, lambda e: e["action"] == "campaign.created"),
        ({"action": "webhook.*"}, lambda e: e["action"].startswith("webhook.")),
        ({"action": "campaign."}, lambda e: e["action"].startswith("campaign.")),
        ({"actor_type": "api_key"}, lambda e: e["actor"]["type"] == "api_key"),
        ({"actor_id": "u-alice"}, lambda e: e["actor"]["id"] == "u-alice"),
        ({"outcome": "failure"}, lambda e: e["outcome"] == "failure"),
        ({"target_id": "c-7"}, lambda e: e["targets"][0]["id"] == "c-7"),
        ({"target_type": "campaign", "outcome": "success"}, lambda e: e["outcome"] == "success"),
        ({"q": "Campaign 1"}, lambda e: e["targets"][0]["name"].startswith("Campaign 1")),
        ({"q": "deploy BOT"}, lambda e: e["actor"]["id"] == "k-bot"),
        ({"q": "100%_"}, lambda e: False),
    ]
    for params, pred in cases:
        got = [e["id"] for e in await entries(client, admin, **params)]
        assert got == expected(pred), params

    middle = everything[15]["occurred_at"]
    newer = [e["id"] for e in await entries(client, admin, since=middle, actor_id="u-alice")]
    older = [e["id"] for e in await entries(client, admin, until=middle, actor_id="u-alice")]
    assert newer + older == expected(lambda e: e["actor"]["id"] == "u-alice")
    assert set(newer).isdisjoint(older)


async def test_pages_never_repeat_or_skip_while_entries_are_inserted(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    admin = await signed_in_user(app, client)
    await seed(app, admin.tenant_id, 60)
    existing = {e["id"] for e in await entries(client, admin)}
    seen: list[str] = []
    cursor: str | None = None
    url = f"/api/admin/{admin.tenant_id}/audit-log"
    while True:
        params: dict[str, Any] = {"limit": 7, **({"cursor": cursor} if cursor else {})}
        page, _ = await asyncio.gather(
            client.get(url, params=params, headers=admin.headers),
            seed(app, admin.tenant_id, 2, concurrent=True),
        )
        assert page.status_code == 200, page.text
        seen.extend(e["id"] for e in page.json()["data"])
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen))
    assert existing <= set(seen)
    positions = [e["chain"]["seq"] for e in await entries(client, admin)]
    assert positions == sorted(positions, reverse=True)
    assert len(positions) == len(set(positions))


async def test_concurrent_writers_keep_one_unbroken_chain(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    admin = await signed_in_user(app, client)
    await asyncio.gather(*(seed(app, admin.tenant_id, 5) for _ in range(6)))
    result = await client.get(
        f"/api/admin/{admin.tenant_id}/audit-log/verify", headers=admin.headers
    )
    assert result.status_code == 200
    body = result.json()
    assert body["ok"] is True, body
    assert body["count"] == 31  # the admin's sign-in plus 30


async def test_get_one_entry_and_cross_tenant_refusal(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    admin = await signed_in_user(app, client)
    other = await signed_in_user(app, client)
    await seed(app, other.tenant_id, 3)
    theirs = (await entries(client, other))[0]
    mine = (await entries(client, admin))[0]

    ok = await client.get(
        f"/api/admin/{admin.tenant_id}/audit-log/{mine['id']}", headers=admin.headers
    )
    assert ok.status_code == 200
    assert ok.json() == mine
    # Another tenant's entry through my path is as absent as a made-up id.
    for log_id in (theirs["id"], str(uuid.uuid4())):
        missing = await client.get(
            f"/api/admin/{admin.tenant_id}/audit-log/{log_id}", headers=admin.headers
        )
        assert missing.status_code == 404
        assert missing.headers["content-type"].startswith("application/problem+json")
    for suffix in ("", "/export", "/stats", "/verify", f"/{theirs['id']}"):
        response = await client.get(
            f"/api/admin/{other.tenant_id}/audit-log{suffix}", headers=admin.headers
        )
        assert response.status_code == 404, suffix
    assert all(e["tenant_id"] == str(admin.tenant_id) for e in await entries(client, admin))


async def test_managers_read_and_users_do_not(app: FastAPI, client: httpx.AsyncClient) -> None:
    tenant = await make_tenant(app)
    manager = await sign_in(client, await make_user(app, tenant, role=Role.manager))
    user = await sign_in(client, await make_user(app, tenant, role=Role.user))
    for suffix in ("", "/export", "/stats", "/verify"):
        url = f"/api/admin/{tenant.id}/audit-log{suffix}"
        assert (await client.get(url, headers=manager.headers)).status_code == 200, suffix
        refused = await client.get(url, headers=user.headers)
        assert refused.status_code == 403, suffix
        assert (await client.get(url)).status_code == 401


async def test_bad_input_is_refused_on_every_endpoint(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    admin = await signed_in_user(app, client)
    base = f"/api/admin/{admin.tenant_id}/audit-log"
    bad: list[tuple[str, dict[str, Any]]] = [
        ("", {"limit": 0}),
        ("", {"limit": 201}),
        ("", {"cursor": "not-a-cursor!"}),
        ("", {"cursor": "AAAA"}),
        ("", {"action": "DROP TABLE"}),
        ("", {"actor_type": "robot"}),
        ("", {"outcome": "maybe"}),
        ("", {"since": "yesterday"}),
        ("", {"since": "2026-02-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"}),
        ("", {"q": ""}),
        ("", {"q": "x" * 201}),
        ("/export", {"format": "xlsx"}),
        ("/export", {"outcome": "maybe"}),
        ("/stats", {"since": "2020-01-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"}),
        ("/stats", {"until": "not-a-date"}),
        ("/not-a-uuid", {}),
    ]
    for suffix, params in bad:
        response = await client.get(base + suffix, params=params, headers=admin.headers)
        assert response.status_code == 422, (suffix, params, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
    not_uuid = await client.get("/api/admin/not-a-tenant/audit-log/verify", headers=admin.headers)
    assert not_uuid.status_code == 422


UTC_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{6})?Z$")


def _parse_csv(body: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body)))


async def test_csv_and_jsonl_exports_match_the_list(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    admin = await signed_in_user(app, client)
    await seed(app, admin.tenant_id, 25, note="=1+1")
    listed = await entries(client, admin, action="campaign.*")
    base = f"/api/admin/{admin.tenant_id}/audit-log/export"

    response = await client.get(base, params={"action": "campaign.*"}, headers=admin.headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    today = datetime.now(UTC).date().isoformat()
    assert (
        response.headers["content-disposition"]
        == f'attachment; filename="audit-log_{admin.tenant_slug}_start_{today}.csv"'
    )
    rows = _parse_csv(response.text)
    assert [r["id"] for r in rows] == [e["id"] for e in listed]
    for row, entry in zip(rows, listed, strict=True):
        assert row["action"] == entry["action"]
        assert int(row["seq"]) == entry["chain"]["seq"]
        assert row["hash"] == entry["chain"]["hash"]
        assert datetime.fromisoformat(row["occurred_at"]) == datetime.fromisoformat(
            entry["occurred_at"]
        )
        # One format everywhere: the list's and the export's times are written alike.
        assert UTC_TIME.match(row["occurred_at"]), row["occurred_at"]
        assert UTC_TIME.match(entry["occurred_at"]), entry["occurred_at"]
        assert json.loads(row["targets"]) == entry["targets"]
        assert json.loads(row["metadata"]) == entry["metadata"]
        assert row["actor_label"] == entry["actor"]["label"]

    jsonl = await client.get(
        base,
        params={"action": "campaign.*", "format": "jsonl", "since": "2020-01-01T00:00:00Z"},
        headers=admin.headers,
    )
    assert jsonl.status_code == 200
    assert jsonl.headers["content-type"].startswith("application/x-ndjson")
    assert (
        f"audit-log_{admin.tenant_slug}_2020-01-01_{today}.jsonl"
        in jsonl.headers["content-disposition"]
    )
    lines = [json.loads(line) for line in jsonl.text.splitlines()]
    assert len(lines) == len(listed)
    for line, entry in zip(lines, listed, strict=True):
        occurred = line.pop("occurred_at")
        assert UTC_TIME.match(occurred), occurred
        expected = dict(entry)
        assert datetime.fromisoformat(occurred) == datetime.fromisoformat(
            expected.pop("occurred_at")
        )
        assert line == expected
    # The export itself is audited.
    exported = await entries(client, admin, action="audit.exported")
    assert [e["metadata"]["format"] for e in exported] == ["jsonl", "csv"]


async def test_csv_cells_that_could_run_as_formulas_are_escaped(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    admin = await signed_in_user(app, client)
    database: Database = app.state.database
    dangerous = ['=HYPERLINK("http://x")', "+1", "-2", "@SUM(A1)", "\tx", "\rx"]
    async with database.transaction(tenant_id=admin.tenant_id) as session:
        for label in dangerous:
            await record(
                session,
                "lead.imported",
                tenant_id=admin.tenant_id,
                actor=Actor(type="user", id=label[:10], label=label),
                targets=[Target("lead", "l1", label)],
            )
    response = await client.get(
        f"/api/admin/{admin.tenant_id}/audit-log/export",
        params={"action": "lead.imported"},
        headers=admin.headers,
    )
    rows = _parse_csv(response.text)
    assert sorted(r["actor_label"] for r in rows) == sorted("'" + d for d in dangerous)
    assert all(not r["actor_id"].startswith(("=", "+", "-", "@", "\t", "\r")) for r in rows)


async def test_stats_count_by_action_actor_outcome_and_day(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    admin = await signed_in_user(app, client)
    await seed(app, admin.tenant_id, 20)
    bad = await client.post(
        "/api/auth/login",
        json={"email": admin.email, "password": "wrong", "tenant_slug": admin.tenant_slug},
    )
    assert bad.status_code == 401
    response = await client.get(
        f"/api/admin/{admin.tenant_id}/audit-log/stats", headers=admin.headers
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["total"] == 22  # sign-in, 20 seeded, 1 failed sign-in
    assert body["by_outcome"] == {"success": 17, "failure": 5}
    by_action = {c["action"]: c["count"] for c in body["by_action"]}
    assert by_action == {
        "campaign.created": 10,
        "webhook.deleted": 10,
        "auth.login": 1,
        "auth.login_failed": 1,
    }
    actors = {(c["actor_type"], c["actor_id"]): c["count"] for c in body["by_actor"]}
    assert actors[("user", "u-alice")] == 13
    assert actors[("api_key", "k-bot")] == 7
    assert body["per_day"] == [
        {"day": datetime.now(UTC).date().isoformat(), "count": 22, "failures": 5}
    ]
    narrowed = await client.get(
        f"/api/admin/{admin.tenant_id}/audit-log/stats",
        params={
            "since": (datetime.now(UTC) - timedelta(days=400)).isoformat(),
            "outcome": "failure",
        },
        headers=admin.headers,
    )
    assert narrowed.status_code == 422
    past = await client.get(
        f"/api/admin/{admin.tenant_id}/audit-log/stats",
        params={"until": "2020-01-01T00:00:00Z"},
        headers=admin.headers,
    )
    assert past.json()["total"] == 0


@pytest.mark.parametrize("limit", [1, 50])
async def test_list_pagination_is_complete(
    app: FastAPI, client: httpx.AsyncClient, limit: int
) -> None:
    admin: Account = await signed_in_user(app, client)
    await seed(app, admin.tenant_id, 12)
    seen: list[int] = []
    cursor: str | None = None
    while True:
        response = await client.get(
            f"/api/admin/{admin.tenant_id}/audit-log",
            params={"limit": limit, **({"cursor": cursor} if cursor else {})},
            headers=admin.headers,
        )
        body = response.json()
        seen.extend(e["chain"]["seq"] for e in body["data"])
        assert body["has_more"] is (body["next_cursor"] is not None)
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == list(range(13, 0, -1))
