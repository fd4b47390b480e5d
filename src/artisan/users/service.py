"""Inviting, changing and removing a tenant's users, never leaving it without an admin."""

from __future__ import annotations

import secrets
import uuid
from datetime import timedelta

from sqlalchemy import Select, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from artisan.api_keys.service import forget_keys_of_creator
from artisan.api_keys.verifier import ApiKeyAuthenticator
from artisan.audit.recorder import Target, record
from artisan.auth.principal import Principal
from artisan.auth.tokens import TokenService
from artisan.core.db import one_or_404
from artisan.core.errors import Conflict, NotFound
from artisan.core.ids import utcnow
from artisan.core.pagination import LIKE_ESCAPE, PageParams, contains_pattern, paginate
from artisan.models.user import AuthSession, Role, User
from artisan.tenants.service import check_limit
from artisan.users import domain_events
from artisan.users.schemas import UserInvite, UserInvited, UserOut, UserUpdate

INVITATION_LIFETIME = timedelta(days=7)


def tenant_users(principal: Principal) -> Select[User]:
    """Users of the principal's tenant: the one place the tenant filter is written."""
    return select(User).where(User.tenant_id == principal.tenant_id)


def user_out(user: User) -> UserOut:
    """The wire form of a user."""
    return UserOut(
        id=user.id,
        tenant_id=user.tenant_id,
        email=user.email,
        full_name=user.full_name,
        role=user.role,
        is_active=user.is_active,
        mfa_enabled=user.mfa_enabled,
        invitation_pending=user.invitation_token_hash is not None,
        last_login_at=user.last_login_at,
        created_at=user.created_at,
        updated_at=user.updated_at,
    )


async def get_user(
    session: AsyncSession, principal: Principal, user_id: uuid.UUID, *, for_update: bool = False
) -> User:
    """One user of the tenant; 404 for anyone else."""
    query = tenant_users(principal).where(User.id == user_id)
    return await one_or_404(session, query, "No such user", for_update=for_update)


async def own_user(session: AsyncSession, principal: Principal) -> User:
    """The signed-in user's own row, locked for a change to their account."""
    if principal.user_id is None:
        raise NotFound("No such user")
    return await get_user(session, principal, principal.user_id, for_update=True)


async def list_users(
    session: AsyncSession,
    principal: Principal,
    params: PageParams,
    *,
    role: Role | None,
    is_active: bool | None,
    q: str | None,
) -> tuple[list[User], str | None]:
    """One page of the tenant's users, newest first, with filters."""
    query = tenant_users(principal)
    if role is not None:
        query = query.where(User.role == role)
    if is_active is not None:
        query = query.where(User.is_active.is_(is_active))
    if q:
        pattern = contains_pattern(q)
        query = query.where(
            or_(
                func.lower(User.email).like(pattern, escape=LIKE_ESCAPE),
                func.lower(User.full_name).like(pattern, escape=LIKE_ESCAPE),
            )
        )
    rows, cursor = await paginate(session, query, User.id, params)
    return list(rows), cursor


async def invite_user(
    session: AsyncSession, principal: Principal, tokens: TokenService, data: UserInvite
) -> UserInvited:
    """Create a user with a role and a one-time invitation token."""
    await check_limit(session, principal.tenant_id, "users")
    email = str(data.email)
    exists = await session.execute(
        tenant_users(principal).where(func.lower(User.email) == email.lower())
    )
    if exists.first() is not None:
        raise Conflict("A user with this email already exists", code="email_taken")
    token = "art_inv_" + secrets.token_urlsafe(32)
    expires_at = utcnow() + INVITATION_LIFETIME
    user = User(
        tenant_id=principal.tenant_id,
        email=email,
        full_name=data.full_name,
        role=data.role,
        password_hash=None,
        invitation_token_hash=tokens.hash_refresh_token(token),
        invitation_expires_at=expires_at,
    )
    session.add(user)
    await session.flush()
    await session.refresh(user)
    await record(
        session,
        "user.invited",
        tenant_id=principal.tenant_id,
        actor=principal,
        targets=[Target("user", str(user.id), user.email)],
        metadata={"role": user.role.value},
    )
    await domain_events.user_invited(session, user, invited_by=principal.user_id)
    return UserInvited(
        **user_out(user).model_dump(), invitation_token=token, invitation_expires_at=expires_at
    )


async def _ensure_another_admin(session: AsyncSession, principal: Principal, user: User) -> None:
    """Refuse a change that would leave the tenant without an active admin."""
    admins = (
        (
            await session.execute(
                tenant_users(principal)
                .where(User.role == Role.admin, User.is_active.is_(True))
                .with_for_update()
            )
        )
        .scalars()
        .all()
    )
    if all(a.id == user.id for a in admins):
        raise Conflict(
            "The tenant's last admin cannot be demoted, deactivated or removed", code="last_admin"
        )


async def update_user(
    session: AsyncSession,
    principal: Principal,
    user_id: uuid.UUID,
    data: UserUpdate,
    authenticator: ApiKeyAuthenticator,
) -> User:
    """Rename, change the role of, deactivate or reactivate a user."""
    user = await get_user(session, principal, user_id, for_update=True)
    fields = data.model_fields_set
    losing_admin = (
        user.role == Role.admin
        and user.is_active
        and (
            ("role" in fields and data.role not in (None, Role.admin))
            or ("is_active" in fields and data.is_active is False)
        )
    )
    if losing_admin:
        await _ensure_another_admin(session, principal, user)
    changes: dict[str, object] = {}
    if "full_name" in fields and data.full_name is not None and data.full_name != user.full_name:
        user.full_name = changes["full_name"] = data.full_name
    if "role" in fields and data.role is not None and data.role != user.role:
        changes["role"] = {"from": user.role.value, "to": data.role.value}
        user.role = data.role
        # Keys never hold more than their creator's role: cached ones must see the new role now.
        await forget_keys_of_creator(session, authenticator, principal.tenant_id, user.id)
    if "is_active" in fields and data.is_active is not None and data.is_active != user.is_active:
        if data.is_active:
            await check_limit(session, principal.tenant_id, "users")
        user.is_active = data.is_active
        changes["is_active"] = data.is_active
        if not data.is_active:
            await _revoke_sessions(session, user, "deactivated")
    if changes:
        action = "user.role_changed" if set(changes) == {"role"} else "user.updated"
        if changes.get("is_active") is False:
            action = "user.deactivated"
        await record(
            session,
            action,
            tenant_id=principal.tenant_id,
            actor=principal,
            targets=[Target("user", str(user.id), user.email)],
            metadata={"changes": changes},
        )
    await session.flush()
    await session.refresh(user)
    return user


async def _revoke_sessions(session: AsyncSession, user: User, reason: str) -> None:
    await session.execute(
        update(AuthSession)
        .where(AuthSession.user_id == user.id, AuthSession.tenant_id == user.tenant_id)
        .where(AuthSession.revoked_at.is_(None))
        .values(revoked_at=utcnow(), revoked_reason=reason)
    )


async def delete_user(session: AsyncSession, principal: Principal, user_id: uuid.UUID) -> None:
    """Remove a user and end their sessions."""
    user = await get_user(session, principal, user_id, for_update=True)
    if user.role == Role.admin and user.is_active:
        await _ensure_another_admin(session, principal, user)
    await record(
        session,
        "user.deleted",
        tenant_id=principal.tenant_id,
        actor=principal,
        targets=[Target("user", str(user.id), user.email)],
    )
    await session.execute(
        delete(User).where(User.id == user.id, User.tenant_id == principal.tenant_id)
    )


async def _pending_invitee(session: AsyncSession, principal: Principal, user_id: uuid.UUID) -> User:
    user = await get_user(session, principal, user_id, for_update=True)
    if user.invitation_token_hash is None or user.password_hash is not None:
        raise Conflict("This user has no pending invitation", code="no_pending_invitation")
    return user


async def resend_invitation(
    session: AsyncSession, principal: Principal, tokens: TokenService, user_id: uuid.UUID
) -> UserInvited:
    """A new invitation token and expiry for a user who has not accepted; the old one stops."""
    user = await _pending_invitee(session, principal, user_id)
    token = "art_inv_" + secrets.token_urlsafe(32)
    expires_at = utcnow() + INVITATION_LIFETIME
    user.invitation_token_hash = tokens.hash_refresh_token(token)
    user.invitation_expires_at = expires_at
    await session.flush()
    await session.refresh(user)
    await record(
        session,
        "user.invitation_resent",
        tenant_id=principal.tenant_id,
        actor=principal,
        targets=[Target("user", str(user.id), user.email)],
    )
    await domain_events.user_invited(session, user, invited_by=principal.user_id)
    return UserInvited(
        **user_out(user).model_dump(), invitation_token=token, invitation_expires_at=expires_at
    )


async def revoke_invitation(
    session: AsyncSession, principal: Principal, user_id: uuid.UUID
) -> None:
    """Withdraw an invitation nobody accepted: the invited user goes, and the token with it."""
    user = await _pending_invitee(session, principal, user_id)
    await record(
        session,
        "user.invitation_revoked",
        tenant_id=principal.tenant_id,
        actor=principal,
        targets=[Target("user", str(user.id), user.email)],
    )
    await session.delete(user)
    await session.flush()
