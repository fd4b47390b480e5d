"""A signed-in user's own account: another tenant, the password, and their sign-in sessions."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Select, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from artisan.audit.recorder import Target, record
from artisan.auth.kit import AuthKit
from artisan.auth.principal import Principal
from artisan.auth.schemas import SessionOut, TokenResponse
from artisan.auth.service import start_tenant
from artisan.core.db import enable_rls_bypass, one_or_404
from artisan.core.errors import ValidationFailed
from artisan.core.ids import utcnow
from artisan.core.pagination import PageParams, paginate
from artisan.models.user import AuthSession, RefreshToken
from artisan.users.service import own_user


def own_sessions(principal: Principal) -> Select[AuthSession]:
    """The caller's live sign-in sessions: the one place their filter is written."""
    return select(AuthSession).where(
        AuthSession.tenant_id == principal.tenant_id,
        AuthSession.user_id == principal.user_id,
        AuthSession.revoked_at.is_(None),
    )


async def create_another_tenant(
    session: AsyncSession, kit: AuthKit, principal: Principal, company_name: str
) -> TokenResponse:
    """A new tenant with the caller as its admin (same email and password), signed in there."""
    user = await own_user(session, principal)
    email, full_name, password_hash = user.email, user.full_name, user.password_hash
    # The new account is as protected as this one: the same two-factor seed.
    seed = user.mfa_secret_encrypted if user.mfa_enabled else None
    await record(
        session,
        "tenant.created_by_member",
        tenant_id=principal.tenant_id,
        actor=principal,
        metadata={"company_name": company_name},
    )
    await enable_rls_bypass(session, reason="create_tenant")
    return await start_tenant(
        session, kit, company_name, email, full_name, password_hash, mfa_secret_encrypted=seed
    )


async def change_password(
    session: AsyncSession, kit: AuthKit, principal: Principal, current: str, new: str
) -> int:
    """Set a new password (the current one required); every other session ends. How many did."""
    user = await own_user(session, principal)
    if not await kit.passwords.verify_async(user.password_hash, current):
        raise ValidationFailed("The current password is not correct", code="invalid_password")
    if current == new:
        raise ValidationFailed("The new password is the current one", code="password_unchanged")
    user.password_hash = await kit.passwords.hash_async(new)
    ended = await session.execute(
        update(AuthSession)
        .where(
            AuthSession.tenant_id == principal.tenant_id,
            AuthSession.user_id == user.id,
            AuthSession.id != principal.session_id,
            AuthSession.revoked_at.is_(None),
        )
        .values(revoked_at=utcnow(), revoked_reason="password_changed")
    )
    count = int(getattr(ended, "rowcount", 0) or 0)
    await record(
        session,
        "user.password_changed",
        tenant_id=principal.tenant_id,
        actor=principal,
        targets=[Target("user", str(user.id), user.email)],
        metadata={"sessions_ended": count},
    )
    return count


async def list_sessions(
    session: AsyncSession, principal: Principal, params: PageParams
) -> tuple[list[SessionOut], str | None]:
    """One page of the caller's live sessions, newest first, each with its last use."""
    rows, cursor = await paginate(session, own_sessions(principal), AuthSession.id, params)
    # Every sign-in and refresh mints a refresh token: the newest one is the last use.
    last_used: dict[uuid.UUID, datetime] = {}
    if rows:
        found = await session.execute(
            select(RefreshToken.session_id, func.max(RefreshToken.created_at))
            .where(
                RefreshToken.tenant_id == principal.tenant_id,
                RefreshToken.session_id.in_([row.id for row in rows]),
            )
            .group_by(RefreshToken.session_id)
        )
        last_used = {session_id: at for session_id, at in found.all()}
    return [
        SessionOut(
            id=row.id,
            device=row.user_agent,
            ip_address=row.ip_address,
            created_at=row.created_at,
            last_used_at=last_used.get(row.id, row.created_at),
            current=row.id == principal.session_id,
        )
        for row in rows
    ], cursor


async def revoke_session(
    session: AsyncSession, principal: Principal, session_id: uuid.UUID
) -> None:
    """End one of the caller's sessions (another device's, or this one); 404 for any other."""
    query = own_sessions(principal).where(AuthSession.id == session_id)
    target = await one_or_404(session, query, "No such session", for_update=True)
    target.revoked_at = utcnow()
    target.revoked_reason = "revoked_by_user"
    await record(
        session,
        "auth.session_revoked",
        tenant_id=principal.tenant_id,
        actor=principal,
        targets=[Target("session", str(session_id))],
        metadata={"reason": "revoked_by_user"},
    )
