"""Walks every route of the app: tenant paths of another tenant answer 404, and none leaks."""

from __future__ import annotations

import uuid

import httpx
from fastapi import FastAPI

from tests.factories import signed_in_user


def _tenant_routes(app: FastAPI) -> list[tuple[str, str]]:
    """(method, template) of every documented route under a tenant's path."""
    return [
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        if "{tenant_id}" in path
        for method in operations
    ]


async def test_every_tenant_path_of_another_tenant_is_404(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    mine = await signed_in_user(app, client)
    theirs = await signed_in_user(app, client)
    routes = _tenant_routes(app)
    # Every domain's admin area is walked (a guard against a router added without a tenant check).
    prefixes = {path.split("/")[4] if path.count("/") > 3 else "" for _, path in routes}
    assert {"", "users", "usage", "api-keys", "audit-log", "webhooks"} <= prefixes
    for method, template in routes:
        path = template.replace("{tenant_id}", str(theirs.tenant_id))
        while "{" in path:
            start, end = path.index("{"), path.index("}")
            path = path[:start] + str(uuid.uuid4()) + path[end + 1 :]
        response = await client.request(method, path, headers=mine.headers, json={})
        assert response.status_code == 404, (method, template, response.status_code, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
    # Nothing of theirs changed: their tenant still reads as before.
    assert (
        await client.get(f"/api/admin/{theirs.tenant_id}", headers=theirs.headers)
    ).status_code == 200
