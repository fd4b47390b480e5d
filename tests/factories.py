"""Small async factories: tenants and users written straight to the database, signed in for real."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

import httpx
from fastapi import FastAPI

from artisan.core.db import Database
from artisan.models.tenant import Plan, Tenant, TenantStatus
from artisan.models.user import Role, User
from artisan.tenants.schemas import TenantSettings

DEFAULT_PASSWORD = "correct horse battery staple"
# A sign-up form as the public endpoint takes it.
SIGNUP = {
    "company_name": "Acme Corp",
    "email": "ada@acme.example.com",
    "password": "a-long-password",
    "name": "Ada Lovelace",
}


def bearer(token: str) -> dict[str, str]:
    """The Authorization header for an access token or an API key secret."""
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Account:
    """A user of a tenant, with what a test needs to act as them."""

    tenant_id: uuid.UUID
    tenant_slug: str
    user_id: uuid.UUID
    email: str
    password: str
    role: Role
    headers: dict[str, str] = field(default_factory=dict)


async def make_tenant(
    app: FastAPI,
    *,
    name: str | None = None,
    plan: Plan = Plan.growth,
    trial_ends_at: datetime | None = None,
    status: TenantStatus = TenantStatus.active,
    limit_overrides: dict[str, int] | None = None,
    feature_flag_overrides: dict[str, bool] | None = None,
) -> Tenant:
    """A tenant row."""
    database: Database = app.state.database
    suffix = uuid.uuid4().hex[:8]
    async with database.transaction(bypass_rls=True) as session:
        tenant = Tenant(
            name=name or f"Tenant {suffix}",
            slug=f"t-{suffix}",
            plan=plan,
            status=status,
            limit_overrides=limit_overrides or {},
            feature_flag_overrides=feature_flag_overrides or {},
            settings=TenantSettings().model_dump(),
            trial_ends_at=trial_ends_at,
        )
        session.add(tenant)
        await session.flush()
        await session.refresh(tenant)
    return tenant


async def make_user(
    app: FastAPI,
    tenant: Tenant,
    *,
    role: Role = Role.admin,
    email: str | None = None,
    password: str = DEFAULT_PASSWORD,
    is_active: bool = True,
    is_superuser: bool = False,
) -> Account:
    """A user row in `tenant` (not yet signed in)."""
    database: Database = app.state.database
    email = email or f"{role.value}-{uuid.uuid4().hex[:8]}@example.com"
    async with database.transaction(tenant_id=tenant.id) as session:
        user = User(
            tenant_id=tenant.id,
            email=email,
            full_name=f"{role.value.title()} User",
            password_hash=app.state.auth_kit.passwords.hash(password),
            role=role,
            is_active=is_active,
            is_superuser=is_superuser,
        )
        session.add(user)
        await session.flush()
    return Account(tenant.id, tenant.slug, user.id, email, password, role)


async def sign_in(client: httpx.AsyncClient, account: Account) -> Account:
    """Sign the account in through the API and keep its bearer header."""
    response = await client.post(
        "/api/auth/login",
        json={
            "email": account.email,
            "password": account.password,
            "tenant_slug": account.tenant_slug,
        },
    )
    assert response.status_code == 200, response.text
    account.headers = bearer(response.json()["access_token"])
    return account


async def signed_in_user(
    app: FastAPI,
    client: httpx.AsyncClient,
    *,
    role: Role = Role.admin,
    tenant: Tenant | None = None,
    **kw: object,
) -> Account:
    """A signed-in user of a new (or the given) tenant."""
    tenant = tenant or await make_tenant(app)
    account = await make_user(app, tenant, role=role, **kw)  # type: ignore[arg-type]
    return await sign_in(client, account)


async def load_tenant(app: FastAPI, tenant_id: uuid.UUID) -> Tenant:
    """A tenant row by id, detached (for factories that take a tenant)."""
    database: Database = app.state.database
    async with database.transaction(bypass_rls=True) as session:
        tenant = await session.get(Tenant, tenant_id)
        assert tenant is not None
        session.expunge(tenant)
    return tenant
