"""API keys read the audit trail with the audit:read scope, and only their own tenant's."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from tests.factories import signed_in_user


async def _key(
    client: httpx.AsyncClient, admin_headers: dict[str, str], tenant_id: object, scopes: list[str]
) -> str:
    response = await client.post(
        f"/api/admin/{tenant_id}/api-keys",
        headers=admin_headers,
        json={"name": "siem", "scopes": scopes},
    )
    assert response.status_code == 201, response.text
    return str(response.json()["secret"])


async def test_audit_read_scope_admits_keys(app: FastAPI, client: httpx.AsyncClient) -> None:
    admin = await signed_in_user(app, client)
    other = await signed_in_user(app, client)
    reader = await _key(client, admin.headers, admin.tenant_id, ["audit:read"])
    outsider = await _key(client, admin.headers, admin.tenant_id, ["leads:read"])
    base = f"/api/admin/{admin.tenant_id}/audit-log"

    listed = await client.get(base, headers={"X-API-Key": reader})
    assert listed.status_code == 200, listed.text
    actions = {entry["action"] for entry in listed.json()["data"]}
    assert "api_key.created" in actions
    assert all(entry["tenant_id"] == str(admin.tenant_id) for entry in listed.json()["data"])
    assert (await client.get(f"{base}/verify", headers={"X-API-Key": reader})).json()["ok"] is True
    export = await client.get(
        f"{base}/export", params={"format": "jsonl"}, headers={"X-API-Key": reader}
    )
    assert export.status_code == 200

    denied = await client.get(base, headers={"X-API-Key": outsider})
    assert denied.status_code == 403
    assert denied.json()["required_scope"] == "audit:read"
    foreign = await client.get(
        f"/api/admin/{other.tenant_id}/audit-log", headers={"X-API-Key": reader}
    )
    assert foreign.status_code == 404
