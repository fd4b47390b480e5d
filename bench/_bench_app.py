"""The app under benchmark: the real app plus one cheap read route, with and without auth."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI
from sqlalchemy import text

from artisan.app import create_app
from artisan.auth.dependencies import require_tenant_scope
from artisan.auth.principal import Principal
from artisan.core.db import SessionDep, set_tenant


async def _cheap_read(session: SessionDep) -> dict[str, int]:
    count = (await session.execute(text("SELECT count(*) FROM api_keys"))).scalar_one()
    return {"keys": int(count)}


def create() -> FastAPI:
    """The app with `/bench/{tenant_id}/scoped` (leads:read) and `/bench/{tenant_id}/open`."""
    app = create_app()
    router = APIRouter(prefix="/bench/{tenant_id}")

    @router.get("/scoped")
    async def scoped(
        tenant_id: uuid.UUID,
        principal: Annotated[Principal, Depends(require_tenant_scope("leads:read"))],
        session: SessionDep,
    ) -> dict[str, int]:
        return await _cheap_read(session)

    @router.get("/open")
    async def open_(tenant_id: uuid.UUID, session: SessionDep) -> dict[str, int]:
        # Authentication switched off: the same tenant binding and read, nothing verified.
        await set_tenant(session, tenant_id)
        return await _cheap_read(session)

    app.include_router(router)
    return app
