"""What the API keys domain announces to the tenant's webhook endpoints (never a key's secret)."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from artisan.models.api_key import ApiKey
from artisan.webhooks.emit import emit_event
from artisan.webhooks.events import ApiKeyEvent


def _payload(key: ApiKey, actor_id: uuid.UUID | None) -> ApiKeyEvent:
    return ApiKeyEvent(
        api_key_id=key.id,
        name=key.name,
        prefix=key.display_prefix,
        scopes=list(key.scopes),
        actor_id=actor_id,
    )


async def key_created(session: AsyncSession, key: ApiKey, *, actor_id: uuid.UUID | None) -> None:
    """`api_key.created`."""
    await emit_event(session, key.tenant_id, "api_key.created", _payload(key, actor_id))


async def key_revoked(session: AsyncSession, key: ApiKey, *, actor_id: uuid.UUID | None) -> None:
    """`api_key.revoked`."""
    await emit_event(session, key.tenant_id, "api_key.revoked", _payload(key, actor_id))
