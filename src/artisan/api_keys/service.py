"""Issuing, listing, changing, rolling and revoking a tenant's API keys."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Literal

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from artisan.api_keys import domain_events, keys
from artisan.api_keys.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyOut,
    ApiKeyRoll,
    ApiKeyUpdate,
)
from artisan.api_keys.verifier import ApiKeyAuthenticator
from artisan.audit.recorder import Target, record
from artisan.auth.principal import Principal
from artisan.auth.scopes import ROLE_SCOPES, effective_scopes
from artisan.core.db import on_commit, one_or_404
from artisan.core.errors import Conflict, Forbidden, ValidationFailed
from artisan.core.ids import iso_utc, utcnow
from artisan.core.pagination import PageParams, paginate
from artisan.models.api_key import ApiKey
from artisan.models.user import Role, User
from artisan.tenants.features import require_feature
from artisan.tenants.service import check_limit


async def keys_out(session: AsyncSession, keys: Sequence[ApiKey]) -> list[ApiKeyOut]:
    """The wire form of keys (never a secret), with the scopes each may use today."""
    creators = {key.created_by_id for key in keys if key.created_by_id is not None}
    roles: dict[uuid.UUID, Role] = {}
    if creators:
        # The creators of the tenant's own keys; the verifier reads the same role per key.
        found = await session.execute(
            select(User.id, User.role).where(
                User.tenant_id == keys[0].tenant_id, User.id.in_(creators)
            )
        )
        roles = {user_id: role for user_id, role in found.all()}
    return [
        key_out(key, roles.get(key.created_by_id) if key.created_by_id else None) for key in keys
    ]


async def key_wire(session: AsyncSession, key: ApiKey) -> ApiKeyOut:
    """The wire form of one key."""
    return (await keys_out(session, [key]))[0]


def key_out(key: ApiKey, creator_role: Role | None) -> ApiKeyOut:
    """The wire form of a key (without any secret), its creator's current role given."""
    now = utcnow()
    status: Literal["active", "expired", "revoked"] = "active"
    if key.revoked_at is not None:
        status = "revoked"
    elif key.expires_at is not None and key.expires_at <= now:
        status = "expired"
    grace = key.previous_secret_expires_at
    return ApiKeyOut(
        id=key.id,
        tenant_id=key.tenant_id,
        name=key.name,
        description=key.description,
        display_prefix=key.display_prefix,
        last_four=key.last_four,
        redacted_key=keys.redacted(key.display_prefix, key.last_four),
        status=status,
        scopes=sorted(key.scopes),
        effective_scopes=sorted(effective_scopes(key.scopes, creator_role)),
        expires_at=key.expires_at,
        allowed_ips=list(key.allowed_ips or []),
        rate_limit_per_minute=key.rate_limit_per_minute,
        created_by_id=key.created_by_id,
        rolled_at=key.rolled_at,
        previous_secret_expires_at=grace if grace is not None and grace > now else None,
        revoked_at=key.revoked_at,
        last_used_at=key.last_used_at,
        last_used_ip=key.last_used_ip,
        request_count=key.request_count,
        created_at=key.created_at,
        updated_at=key.updated_at,
    )


async def _created(session: AsyncSession, key: ApiKey, secret: str) -> ApiKeyCreated:
    return ApiKeyCreated(**(await key_wire(session, key)).model_dump(), secret=secret)


def _target(key: ApiKey) -> Target:
    return Target("api_key", str(key.id), key.name)


def _invalidate_after_commit(
    session: AsyncSession, authenticator: ApiKeyAuthenticator, key_id: uuid.UUID
) -> None:
    async def invalidate() -> None:
        await authenticator.invalidate(key_id)

    on_commit(session, invalidate)


async def forget_keys_of_creator(
    session: AsyncSession,
    authenticator: ApiKeyAuthenticator,
    tenant_id: uuid.UUID,
    creator_id: uuid.UUID,
) -> None:
    """After commit, make every process re-read the keys a user created (their role changed)."""
    key_ids = (
        (
            await session.execute(
                select(ApiKey.id).where(
                    ApiKey.tenant_id == tenant_id,
                    ApiKey.created_by_id == creator_id,
                    ApiKey.revoked_at.is_(None),
                )
            )
        )
        .scalars()
        .all()
    )
    for key_id in key_ids:
        _invalidate_after_commit(session, authenticator, key_id)


def tenant_keys(principal: Principal) -> Select[ApiKey]:
    """The tenant's keys: the one place the tenant filter is written."""
    return select(ApiKey).where(ApiKey.tenant_id == principal.tenant_id)


async def get_key(
    session: AsyncSession, principal: Principal, key_id: uuid.UUID, *, for_update: bool = False
) -> ApiKey:
    """One of the tenant's keys; 404 for any other."""
    query = tenant_keys(principal).where(ApiKey.id == key_id)
    return await one_or_404(session, query, "No such API key", for_update=for_update)


async def list_keys(
    session: AsyncSession, principal: Principal, params: PageParams, *, include_revoked: bool
) -> tuple[list[ApiKey], str | None]:
    """One page of the tenant's keys, newest first."""
    query = tenant_keys(principal)
    if not include_revoked:
        query = query.where(ApiKey.revoked_at.is_(None))
    rows, cursor = await paginate(session, query, ApiKey.id, params)
    return list(rows), cursor


def _ensure_scopes_allowed(principal: Principal, scopes: list[str]) -> None:
    held = ROLE_SCOPES[principal.role] if principal.role is not None else principal.scopes
    beyond = sorted(set(scopes) - held)
    if beyond:
        raise Forbidden(
            "A key cannot hold scopes beyond its creator's role",
            code="scope_not_allowed",
            scopes=beyond,
        )


async def _insert_with_fresh_secret(
    session: AsyncSession, authenticator: ApiKeyAuthenticator, key: ApiKey
) -> keys.NewKey:
    # A digest collision of 190 random bits does not happen; the retry only guards the
    # unique index against the impossible rather than answering 500.
    for _ in range(3):
        minted = keys.generate(authenticator.hmac_secret)
        key.secret_hash = minted.digest
        key.display_prefix = minted.display_prefix
        key.last_four = minted.last_four
        try:
            async with session.begin_nested():
                session.add(key)
                await session.flush()
        except IntegrityError:
            continue
        return minted
    raise Conflict("Could not mint a unique key; try again", code="key_collision")


async def create_key(
    session: AsyncSession,
    principal: Principal,
    authenticator: ApiKeyAuthenticator,
    data: ApiKeyCreate,
) -> ApiKeyCreated:
    """Issue a key; the response is the only place its secret ever appears."""
    require_feature(principal.tenant, "api_access")
    _ensure_scopes_allowed(principal, data.scopes)
    if data.expires_at is not None and data.expires_at <= utcnow():
        raise ValidationFailed("expires_at must be in the future", code="expiry_in_past")
    await check_limit(session, principal.tenant_id, "api_keys")
    key = ApiKey(
        tenant_id=principal.tenant_id,
        name=data.name,
        description=data.description,
        scopes=data.scopes,
        expires_at=data.expires_at,
        allowed_ips=data.allowed_ips,
        rate_limit_per_minute=data.rate_limit_per_minute,
        created_by_id=principal.user_id,
        request_count=0,
    )
    minted = await _insert_with_fresh_secret(session, authenticator, key)
    await domain_events.key_created(session, key, actor_id=principal.user_id)
    await record(
        session,
        "api_key.created",
        tenant_id=principal.tenant_id,
        actor=principal,
        targets=[_target(key)],
        metadata={
            "display_prefix": key.display_prefix,
            "scopes": key.scopes,
            "expires_at": iso_utc(key.expires_at) if key.expires_at else None,
            "allowed_ips": key.allowed_ips,
            "rate_limit_per_minute": key.rate_limit_per_minute,
        },
    )
    await session.refresh(key)
    return await _created(session, key, minted.secret)


async def update_key(
    session: AsyncSession,
    principal: Principal,
    authenticator: ApiKeyAuthenticator,
    key_id: uuid.UUID,
    data: ApiKeyUpdate,
) -> ApiKey:
    """Change a key's name, description, allowlist or rate limit."""
    key = await get_key(session, principal, key_id, for_update=True)
    if key.revoked_at is not None:
        raise Conflict("The key is revoked", code="key_revoked")
    fields = data.model_fields_set
    if "name" in fields and data.name is None:
        raise ValidationFailed("name cannot be null", code="invalid_name")
    changed: list[str] = []
    if data.name is not None and data.name != key.name:
        key.name = data.name
        changed.append("name")
    if "description" in fields and data.description != key.description:
        key.description = data.description
        changed.append("description")
    if "allowed_ips" in fields and list(data.allowed_ips or []) != list(key.allowed_ips or []):
        key.allowed_ips = list(data.allowed_ips or [])
        changed.append("allowed_ips")
    new_limit = data.rate_limit_per_minute
    if "rate_limit_per_minute" in fields and new_limit != key.rate_limit_per_minute:
        key.rate_limit_per_minute = new_limit
        changed.append("rate_limit_per_minute")
    if changed:
        await record(
            session,
            "api_key.updated",
            tenant_id=principal.tenant_id,
            actor=principal,
            targets=[_target(key)],
            metadata={"changed": changed},
        )
        await session.flush()
        await session.refresh(key)
        _invalidate_after_commit(session, authenticator, key.id)
    return key


async def roll_key(
    session: AsyncSession,
    principal: Principal,
    authenticator: ApiKeyAuthenticator,
    key_id: uuid.UUID,
    data: ApiKeyRoll,
) -> ApiKeyCreated:
    """Give a key a new secret; the current one keeps working for the grace period."""
    key = await get_key(session, principal, key_id, for_update=True)
    if key.revoked_at is not None:
        raise Conflict("The key is revoked", code="key_revoked")
    now = utcnow()
    old_digest, old_last_four = key.secret_hash, key.last_four
    if data.grace_period_seconds > 0:
        # Only one previous secret is kept: rolling again ends an earlier grace at once.
        key.previous_secret_hash = old_digest
        key.previous_last_four = old_last_four
        key.previous_secret_expires_at = now + timedelta(seconds=data.grace_period_seconds)
    else:
        key.previous_secret_hash = None
        key.previous_last_four = None
        key.previous_secret_expires_at = None
    key.rolled_at = now
    minted = await _insert_with_fresh_secret(session, authenticator, key)
    await record(
        session,
        "api_key.rolled",
        tenant_id=principal.tenant_id,
        actor=principal,
        targets=[_target(key)],
        metadata={
            "display_prefix": key.display_prefix,
            "grace_period_seconds": data.grace_period_seconds,
            "previous_last_four": old_last_four,
        },
    )
    await session.refresh(key)
    _invalidate_after_commit(session, authenticator, key.id)
    return await _created(session, key, minted.secret)


async def revoke_key(
    session: AsyncSession,
    principal: Principal,
    authenticator: ApiKeyAuthenticator,
    key_id: uuid.UUID,
) -> None:
    """Revoke a key (both secrets, at once, in every process); revoking twice changes nothing."""
    key = await get_key(session, principal, key_id, for_update=True)
    if key.revoked_at is not None:
        return
    key.revoked_at = utcnow()
    key.previous_secret_expires_at = None
    await domain_events.key_revoked(session, key, actor_id=principal.user_id)
    await record(
        session,
        "api_key.revoked",
        tenant_id=principal.tenant_id,
        actor=principal,
        targets=[_target(key)],
        metadata={"display_prefix": key.display_prefix},
    )
    await session.flush()
    _invalidate_after_commit(session, authenticator, key.id)
