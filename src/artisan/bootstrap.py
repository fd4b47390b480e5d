"""Operator tasks behind the CLI: migrations, tenants, superusers and the demo data."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from alembic import command
from alembic.config import Config
from sqlalchemy import func, select

from artisan.audit.recorder import SYSTEM, Target, install_audit, record
from artisan.auth.dependencies import user_principal
from artisan.auth.passwords import Passwords
from artisan.campaigns import enrolment, lifecycle, service, simulation
from artisan.campaigns.schemas import CampaignCreate, SimulationRates
from artisan.config import Settings
from artisan.core.db import Database
from artisan.core.errors import Conflict
from artisan.core.ids import utcnow
from artisan.events.service import ingest
from artisan.leads.service import import_leads
from artisan.models.lead import Lead
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
    """The demo tenant and its admin, with something to look at (idempotent)."""
    account = await create_tenant_with_admin(
        settings,
        name="Demo Company",
        slug=DEMO_TENANT_SLUG,
        plan=Plan.growth,
        admin_email=DEMO_ADMIN_EMAIL,
        admin_password=DEMO_ADMIN_PASSWORD,
        admin_name="Demo Admin",
    )
    await seed_demo_content(settings)
    return account


_DEMO_STEPS = [
    {
        "channel": "email",
        "subject": "Quick question, {{first_name}}",
        "body": "Hi {{first_name}}, how does {{company|your team}} handle outreach today?",
    },
    {"channel": "linkedin", "delay_days": 2, "body": "Good to connect, {{first_name}}."},
    {
        "channel": "email",
        "delay_days": 3,
        "subject": "Following up",
        "body": "Any thoughts, {{first_name}}? Happy to share how others do it.",
    },
]
_DEMO_PEOPLE = [
    ("Ada", "Lovelace", "Analytical Engines"),
    ("Grace", "Hopper", "Cobol Corp"),
    ("Alan", "Turing", "Bletchley Labs"),
    ("Katherine", "Johnson", "Orbital Dynamics"),
    ("Edsger", "Dijkstra", "Shortest Path Inc"),
    ("Barbara", "Liskov", "Substitution Co"),
    ("Donald", "Knuth", "Literate Software"),
    ("Margaret", "Hamilton", "Apollo Guidance"),
    ("Dennis", "Ritchie", "Unix Systems"),
    ("Frances", "Allen", "Optimizing Compilers"),
    ("Ken", "Thompson", "Regex Works"),
    ("Radia", "Perlman", "Spanning Tree Networks"),
]


async def seed_demo_content(settings: Settings) -> bool:
    """Leads, a draft and an active campaign with a week of engagement, so every list and report
    of the demo tenant shows something; nothing when the tenant already has leads."""
    database = Database(settings)
    install_audit(database, settings)
    try:
        async with database.transaction(bypass_rls=True) as session:
            found = await session.execute(
                select(Tenant, User)
                .join(User, User.tenant_id == Tenant.id)
                .where(Tenant.slug == DEMO_TENANT_SLUG, User.email == DEMO_ADMIN_EMAIL)
            )
            tenant, user = found.one()
            has_leads = await session.execute(
                select(Lead.id).where(Lead.tenant_id == tenant.id).limit(1)
            )
            if has_leads.first() is not None:
                return False
            principal = user_principal(user, tenant)
            rows = [
                {
                    "email": f"{first.lower()}@{company.lower().replace(' ', '-')}.example.com",
                    "first_name": first,
                    "last_name": last,
                    "company": company,
                    "source": "demo",
                }
                for first, last, company in _DEMO_PEOPLE
            ]
            imported = await import_leads(
                session, principal, rows, on_duplicate="skip", source="demo", via="demo"
            )
            await service.create_campaign(
                session,
                principal,
                CampaignCreate.model_validate({"name": "Q1 nurture (draft)", "steps": _DEMO_STEPS}),
            )
            active = await service.create_campaign(
                session,
                principal,
                CampaignCreate.model_validate({"name": "Spring outreach", "steps": _DEMO_STEPS}),
            )
            await enrolment.enrol(
                session, principal, active.id, imported.created_ids, max_enrolments=10_000
            )
            await lifecycle.transition(session, principal, active.id, "launch")
            # A week of engagement, ingested as real events so the default (non-simulated)
            # reports and the leads' statuses show it.
            now = utcnow()
            events = simulation.simulate_events(
                active.id,
                active.steps,
                imported.created_ids,
                seed=2026,
                start=now - timedelta(days=7),
                end=now,
                rates=SimulationRates(),
            )
            for offset in range(0, len(events), simulation.INGEST_BATCH):
                await ingest(
                    session,
                    tenant.id,
                    events[offset : offset + simulation.INGEST_BATCH],
                    actor=principal,
                    campaign_id=active.id,
                )
        return True
    finally:
        await database.dispose()
