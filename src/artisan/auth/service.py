"""Sign-up, sign-in, token rotation, sign-out and invitations (MFA is in `mfa`, a user's own
account in `account`)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import structlog
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from artisan.audit.recorder import Actor, Target, record
from artisan.auth.dependencies import ensure_tenant_usable
from artisan.auth.kit import AuthKit
from artisan.auth.mfa import CodeCheck, check_second_factor
from artisan.auth.principal import Principal
from artisan.auth.schemas import LoginRequest, SignupRequest, TokenResponse
from artisan.core.context import request_meta
from artisan.core.db import enable_rls_bypass, set_tenant
from artisan.core.errors import Conflict, Unauthorized
from artisan.core.ids import utcnow
from artisan.models.tenant import Plan, Tenant
from artisan.models.user import AuthSession, RefreshToken, Role, User
from artisan.tenants.service import create_tenant

log = structlog.get_logger(__name__)


def _user_actor(user: User) -> Actor:
    return Actor(type="user", id=str(user.id), label=user.email)


async def _record_failure(
    kit: AuthKit, tenant_id: uuid.UUID, action: str, actor: Actor, reason: str
) -> None:
    """Write a failure entry in its own transaction: the request's own work rolls back."""
    async with kit.database.transaction(tenant_id=tenant_id) as session:
        await record(
            session,
            action,
            tenant_id=tenant_id,
            actor=actor,
            outcome="failure",
            metadata={"reason": reason},
        )


async def issue_tokens(
    session: AsyncSession, kit: AuthKit, user: User, *, auth_session: AuthSession | None = None
) -> TokenResponse:
    """Start (or continue) a session and mint an access and a refresh token for it."""
    now = utcnow()
    if auth_session is None:
        meta = request_meta()
        auth_session = AuthSession(
            tenant_id=user.tenant_id,
            user_id=user.id,
            ip_address=meta.ip_address,
            user_agent=(meta.user_agent or "")[:512] or None,
        )
        session.add(auth_session)
        await session.flush()
    refresh = kit.tokens.new_refresh_token()
    session.add(
        RefreshToken(
            tenant_id=user.tenant_id,
            session_id=auth_session.id,
            token_hash=kit.tokens.hash_refresh_token(refresh),
            expires_at=now + timedelta(days=kit.settings.refresh_token_days),
        )
    )
    access, expires_at = kit.tokens.issue_access_token(
        user_id=user.id,
        tenant_id=user.tenant_id,
        role=user.role.value,
        session_id=auth_session.id,
        now=now,
    )
    await session.flush()
    return TokenResponse(
        access_token=access,
        expires_in=int((expires_at - now).total_seconds()),
        expires_at=expires_at,
        refresh_token=refresh,
        tenant_id=user.tenant_id,
        user_id=user.id,
    )


async def signup(session: AsyncSession, kit: AuthKit, data: SignupRequest) -> TokenResponse:
    """Create a tenant on a trial plan with its first admin, and sign the admin in.

    An email that already administers a tenant is refused (409 `email_registered`): that person
    signs in and creates another tenant explicitly (`POST /api/auth/tenants`).
    """
    await enable_rls_bypass(session, reason="signup")
    registered = await session.execute(
        select(User.id)
        .join(Tenant, Tenant.id == User.tenant_id)
        .where(
            func.lower(User.email) == str(data.email).lower(),
            User.role == Role.admin,
            User.is_active.is_(True),
            Tenant.deleted_at.is_(None),
        )
        .limit(1)
    )
    if registered.first() is not None:
        raise Conflict(
            "This email already administers a tenant; sign in, then create another tenant "
            "with POST /api/auth/tenants",
            code="email_registered",
        )
    password_hash = await kit.passwords.hash_async(data.password)
    return await start_tenant(
        session, kit, data.company_name, str(data.email), data.name, password_hash
    )


async def start_tenant(
    session: AsyncSession,
    kit: AuthKit,
    company_name: str,
    email: str,
    full_name: str,
    password_hash: str | None,
    *,
    mfa_secret_encrypted: bytes | None = None,
) -> TokenResponse:
    """A new tenant on a trial plan with this person as its first admin, signed in there (with
    the two-factor seed of their other account, when it has one)."""
    tenant = await create_tenant(
        session,
        name=company_name,
        slug=None,
        plan=Plan.starter,
        trial_days=kit.settings.trial_days,
    )
    await set_tenant(session, tenant.id)
    user = User(
        tenant_id=tenant.id,
        email=email,
        full_name=full_name,
        password_hash=password_hash,
        role=Role.admin,
        last_login_at=utcnow(),
        mfa_secret_encrypted=mfa_secret_encrypted,
        mfa_enabled=mfa_secret_encrypted is not None,
    )
    session.add(user)
    await session.flush()
    targets = [
        Target("tenant", str(tenant.id), tenant.name),
        Target("user", str(user.id), user.email),
    ]
    await record(
        session, "tenant.created", tenant_id=tenant.id, actor=_user_actor(user), targets=targets
    )
    return await issue_tokens(session, kit, user)


async def login(session: AsyncSession, kit: AuthKit, data: LoginRequest) -> TokenResponse:
    """Check the password (and MFA code) and start a session."""
    await enable_rls_bypass(session, reason="login")
    query = (
        select(User, Tenant)
        .join(Tenant, Tenant.id == User.tenant_id)
        .where(func.lower(User.email) == str(data.email).lower(), Tenant.deleted_at.is_(None))
    )
    if data.tenant_slug:
        query = query.where(Tenant.slug == data.tenant_slug)
    candidates = (await session.execute(query)).all()
    if not candidates:
        await kit.passwords.verify_async(None, data.password)  # same cost as a real check
        raise Unauthorized("Incorrect email or password", code="invalid_credentials")
    matches = [
        (u, t)
        for u, t in candidates
        if await kit.passwords.verify_async(u.password_hash, data.password)
    ]
    if not matches:
        for user, tenant in candidates:
            await _record_failure(
                kit, tenant.id, "auth.login_failed", _user_actor(user), "bad_password"
            )
        raise Unauthorized("Incorrect email or password", code="invalid_credentials")
    if len(matches) > 1:
        raise Conflict(
            "This email belongs to several tenants; repeat with tenant_slug",
            code="tenant_slug_required",
            tenant_slugs=sorted(t.slug for _, t in matches),
        )
    user, tenant = matches[0]
    if not user.is_active:
        await _record_failure(
            kit, tenant.id, "auth.login_failed", _user_actor(user), "inactive_user"
        )
        raise Unauthorized("Incorrect email or password", code="invalid_credentials")
    try:
        ensure_tenant_usable(tenant)
    except Unauthorized:
        await _record_failure(
            kit, tenant.id, "auth.login_failed", _user_actor(user), "tenant_unavailable"
        )
        raise
    await set_tenant(session, tenant.id)
    now = utcnow()
    if user.mfa_enabled:
        if not data.mfa_code:
            raise Unauthorized(
                "A 6-digit MFA code (or a recovery code) is required", code="mfa_required"
            )
        check = await check_second_factor(session, kit, user, data.mfa_code, now)
        if check is not CodeCheck.valid:
            reason = "reused_mfa_code" if check is CodeCheck.reused else "bad_mfa_code"
            await _record_failure(kit, tenant.id, "auth.login_failed", _user_actor(user), reason)
            if check is CodeCheck.reused:
                raise Unauthorized(
                    "This code was already used; wait for the next one", code="mfa_code_used"
                )
            raise Unauthorized("The MFA code is not valid", code="mfa_invalid")
    if user.password_hash and kit.passwords.needs_rehash(user.password_hash):
        user.password_hash = await kit.passwords.hash_async(data.password)
    user.last_login_at = now
    await record(session, "auth.login", tenant_id=tenant.id, actor=_user_actor(user))
    return await issue_tokens(session, kit, user)


async def refresh(session: AsyncSession, kit: AuthKit, token: str) -> TokenResponse:
    """Rotate a refresh token; presenting a used one revokes the whole session."""
    await enable_rls_bypass(session, reason="refresh")
    row = (
        await session.execute(
            select(RefreshToken, AuthSession, User, Tenant)
            .join(AuthSession, AuthSession.id == RefreshToken.session_id)
            .join(User, User.id == AuthSession.user_id)
            .join(Tenant, Tenant.id == User.tenant_id)
            .where(RefreshToken.token_hash == kit.tokens.hash_refresh_token(token))
            .with_for_update(of=RefreshToken)
        )
    ).one_or_none()
    if row is None:
        raise Unauthorized("The refresh token is not valid", code="invalid_refresh_token")
    stored, auth_session, user, tenant = row
    now = utcnow()
    if stored.used_at is not None and auth_session.revoked_at is None:
        await _revoke_after_reuse(kit, auth_session.id, tenant.id, user)
        raise Unauthorized("The refresh token is not valid", code="invalid_refresh_token")
    if (
        auth_session.revoked_at is not None
        or stored.used_at is not None
        or stored.expires_at <= now
    ):
        raise Unauthorized("The refresh token is not valid", code="invalid_refresh_token")
    if not user.is_active:
        raise Unauthorized("The refresh token is not valid", code="invalid_refresh_token")
    ensure_tenant_usable(tenant)
    await set_tenant(session, tenant.id)
    stored.used_at = now
    return await issue_tokens(session, kit, user, auth_session=auth_session)


async def _revoke_after_reuse(
    kit: AuthKit, session_id: uuid.UUID, tenant_id: uuid.UUID, user: User
) -> None:
    """A reused refresh token means it leaked: end the session for everyone holding it."""
    log.warning("refresh_token_reuse", session_id=str(session_id), tenant_id=str(tenant_id))
    async with kit.database.transaction(tenant_id=tenant_id) as session:
        await session.execute(
            update(AuthSession)
            .where(AuthSession.id == session_id, AuthSession.revoked_at.is_(None))
            .values(revoked_at=utcnow(), revoked_reason="refresh_token_reuse")
        )
        await record(
            session,
            "auth.session_revoked",
            tenant_id=tenant_id,
            actor=_user_actor(user),
            outcome="failure",
            targets=[Target("session", str(session_id))],
            metadata={"reason": "refresh_token_reuse"},
        )


async def logout(session: AsyncSession, principal: Principal) -> None:
    """End the caller's session: its refresh tokens and access tokens stop working at once."""
    await session.execute(
        update(AuthSession)
        .where(AuthSession.id == principal.session_id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=utcnow(), revoked_reason="logout")
    )
    await record(session, "auth.logout", tenant_id=principal.tenant_id, actor=principal)


async def accept_invitation(
    session: AsyncSession, kit: AuthKit, token: str, password: str
) -> TokenResponse:
    """Set the invited user's password and sign them in."""
    await enable_rls_bypass(session, reason="accept_invitation")
    row = (
        await session.execute(
            select(User, Tenant)
            .join(Tenant, Tenant.id == User.tenant_id)
            .where(User.invitation_token_hash == kit.tokens.hash_refresh_token(token))
            .with_for_update(of=User)
        )
    ).one_or_none()
    if (
        row is None
        or row[0].invitation_expires_at is None
        or row[0].invitation_expires_at <= utcnow()
    ):
        raise Unauthorized("The invitation is not valid or has expired", code="invalid_invitation")
    user, tenant = row
    if not user.is_active:
        raise Unauthorized("The invitation is not valid or has expired", code="invalid_invitation")
    ensure_tenant_usable(tenant)
    await set_tenant(session, tenant.id)
    user.password_hash = await kit.passwords.hash_async(password)
    user.invitation_token_hash = None
    user.invitation_expires_at = None
    user.last_login_at = utcnow()
    await record(
        session,
        "user.invitation_accepted",
        tenant_id=tenant.id,
        actor=_user_actor(user),
        targets=[Target("user", str(user.id), user.email)],
    )
    return await issue_tokens(session, kit, user)
