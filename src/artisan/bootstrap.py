"""Operator tasks behind the CLI: migrations, tenants, superusers and the demo data."""

from __future__ import annotations

from dataclasses import dataclass

from alembic import command
from alembic.config import Config
from sqlalchemy import func, select

from artisan.audit.recorder import SYSTEM, Target, install_audit, record
from artisan.auth.passwords import Passwords
from artisan.config import Settings
from artisan.core.db import Database
from artisan.core.errors import Conflict
from artisan.models.tenant import Plan, Tenant
from artisan.models.user import Role, User
from artisan.tenants.service import create_tenant

DEMO_TENANT_SLUG = "demo"
DEMO_ADMIN_EMAIL = "admin@demo.artisan.dev"
DEMO_ADMIN_PASSWORD = "artisan-demo-password"  # noqa: S105 - local quickstart only, printed
PLATFORM_TENANT_SLUG = "platform"


def alembic_config(settings: Settings) -> Config:
    """An Alembic configuration pointing at the packaged migrations and the settings' database."""
    config = Config()
    config.set_main_option("script_location", "artisan:migrations")
    config.attributes["database_url"] = settings.database_url
    config.attributes["configure_logging"] = False
    return config


def migrate(settings: Settings, revision: str = "head", *, down: bool = False) -> None:
    """Upgrade (or downgrade) the schema to `revision`."""
    config = alembic_config(settings)
    if down:
        command.downgrade(config, revision)
    else:
        command.upgrade(config, revision)


@dataclass(frozen=True)
class CreatedAccount:
    """A tenant and the user created in it."""

    tenant_slug: str
    email: str
    created: bool


async def create_tenant_with_admin(
    settings: Settings,
    *,
    name: str,
    slug: str | None,
    plan: Plan,
    admin_email: str,
    admin_password: str,
    admin_name: str = "Administrator",
    superuser: bool = False,
) -> CreatedAccount:
    """Create a tenant with a first admin (idempotent when the slug and admin already exist)."""
    database = Database(settings)
    install_audit(database, settings)
    passwords = Passwords(settings)
    try:
        async with database.transaction(bypass_rls=True) as session:
            tenant = None
            if slug:
                tenant = (
                    await session.execute(select(Tenant).where(Tenant.slug == slug))
                ).scalar_one_or_none()
            if tenant is None:
                tenant = await create_tenant(
                    session, name=name, slug=slug, plan=plan, trial_days=None
                )
            existing = (
                await session.execute(
                    select(User).where(
                        User.tenant_id == tenant.id,
                        func.lower(User.email) == admin_email.lower(),
                    )
                )
            ).scalar_one_or_none()
            if existing is not None:
                if superuser and not existing.is_superuser:
                    raise Conflict(f"{admin_email} exists in {tenant.slug} and is not a superuser")
                return CreatedAccount(tenant.slug, existing.email, created=False)
            user = User(
                tenant_id=tenant.id,
                email=admin_email,
                full_name=admin_name,
                password_hash=passwords.hash(admin_password),
                role=Role.admin,
                is_superuser=superuser,
            )
            session.add(user)
            await session.flush()
            await record(
                session,
                "user.created",
                tenant_id=tenant.id,
                actor=SYSTEM,
                targets=[Target("user", str(user.id), user.email)],
                metadata={"role": "admin", "superuser": superuser, "via": "cli"},
            )
            return CreatedAccount(tenant.slug, user.email, created=True)
    finally:
        await database.dispose()


async def seed_demo(settings: Settings) -> CreatedAccount:
    """The demo tenant and its admin (idempotent)."""
    return await create_tenant_with_admin(
        settings,
        name="Demo Company",
        slug=DEMO_TENANT_SLUG,
        plan=Plan.growth,
        admin_email=DEMO_ADMIN_EMAIL,
        admin_password=DEMO_ADMIN_PASSWORD,
        admin_name="Demo Admin",
    )
