"""Helpers of the API key tests: issue keys through the API, mount scoped probe routes."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Depends, FastAPI
from sqlalchemy import event

from artisan.auth.dependencies import REQUIRED_SCOPE_ATTR, require_scope, require_tenant_scope
from artisan.auth.principal import Principal
from artisan.auth.scopes import SCOPES
from artisan.core.db import SessionDep
from tests.factories import Account

ALL_SCOPES = sorted(SCOPES)


def keys_path(tenant_id: uuid.UUID) -> str:
    """The admin collection path of a tenant's keys."""
    return f"/api/admin/{tenant_id}/api-keys"


async def issue_key(client: httpx.AsyncClient, admin: Account, **body: Any) -> dict[str, Any]:
    """Create a key through the API and return the create response body."""
    payload: dict[str, Any] = {"name": "integration", "scopes": ["leads:read"]}
    payload.update(body)
    response = await client.post(keys_path(admin.tenant_id), json=payload, headers=admin.headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def mount_probes(app: FastAPI) -> None:
    """Small scoped read routes standing in for the domain routes that arrive later."""
    probes = APIRouter(prefix="/api/probe")

    @probes.get("/{tenant_id}/audit")
    async def tenant_scoped(
        tenant_id: uuid.UUID,
        principal: Annotated[Principal, Depends(require_tenant_scope("audit:read"))],
        session: SessionDep,
    ) -> dict[str, str]:
        return {"tenant_id": str(principal.tenant_id)}

    @probes.get("/leads")
    async def scoped(
        principal: Annotated[Principal, Depends(require_scope("leads:read"))],
    ) -> dict[str, str]:
        return {"kind": principal.kind, "tenant_id": str(principal.tenant_id)}

    @probes.post("/leads")
    async def scoped_write(
        principal: Annotated[Principal, Depends(require_scope("leads:write"))],
    ) -> dict[str, str]:
        return {"written_by": principal.kind}

    app.include_router(probes)


def scoped_routes(app: FastAPI) -> list[tuple[str, str, str]]:
    """(method, path template, scope) of every route declaring a scope."""
    from fastapi.dependencies.models import Dependant
    from fastapi.routing import APIRoute, iter_route_contexts

    def scopes_of(dependant: Dependant) -> Iterator[str]:
        scope = getattr(dependant.call, REQUIRED_SCOPE_ATTR, None)
        if scope is not None:
            yield scope
        for sub in dependant.dependencies:
            yield from scopes_of(sub)

    found = []
    # Included routers are resolved lazily; route contexts give each route its full path.
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIRoute) and context.path is not None:
            for scope in set(scopes_of(route.dependant)):
                for method in sorted(route.methods):
                    found.append((method, context.path, scope))
    return found


@contextmanager
def captured_statements(app: FastAPI) -> Iterator[list[str]]:
    """Every SQL statement the app's engine sends while the block runs."""
    statements: list[str] = []
    engine = app.state.database.engine.sync_engine

    def listener(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", listener)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", listener)
