"""What the users domain announces to the tenant's webhook endpoints."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from artisan.models.user import User
from artisan.webhooks.emit import emit_event
from artisan.webhooks.events import UserInvited


async def user_invited(session: AsyncSession, user: User, *, invited_by: uuid.UUID | None) -> None:
    """`user.invited` (the invitation token itself is never sent)."""
    payload = UserInvited(
        user_id=user.id,
        email=user.email,
        role=user.role.value,
        invited_by=invited_by,
        invitation_expires_at=user.invitation_expires_at,
    )
    await emit_event(session, user.tenant_id, "user.invited", payload)
