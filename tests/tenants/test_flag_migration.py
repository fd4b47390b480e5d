"""Migration 0015 turns the stored flags into overrides of the plan's defaults, and back."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import psycopg
import pytest
from psycopg.types.json import Jsonb
from sqlalchemy.engine import make_url

from artisan.bootstrap import migrate
from artisan.config import Settings
from artisan.models.tenant import Plan
from artisan.tenants.features import enabled_features
from tests.conftest import TEST_DATABASE_URL, recreate_database


@pytest.fixture
async def scratch_url() -> AsyncIterator[str]:
    """A database of its own, so the shared test schema is never downgraded."""
    url = make_url(Settings(database_url=TEST_DATABASE_URL).database_url or "")
    scratch = url.set(database=f"{url.database}_flag_migration").render_as_string(
        hide_password=False
    )
    await recreate_database(scratch)
    yield scratch
    await recreate_database(scratch, drop_only=True)


def _plain(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def test_stored_flags_become_overrides_and_come_back(scratch_url: str) -> None:
    settings = Settings(database_url=scratch_url)
    migrate(settings, "0014")
    tenants = {
        # (plan, flags as a tenant admin could leave them before)
        uuid.uuid4(): ("growth", {"webhooks": False, "api_access": True, "beta_analytics": True}),
        uuid.uuid4(): ("free", {"llm_workflows": True, "webhooks": True}),
        uuid.uuid4(): ("enterprise", {}),
    }
    with psycopg.connect(_plain(scratch_url), autocommit=True) as conn:
        for tenant_id, (plan, flags) in tenants.items():
            conn.execute(
                "INSERT INTO tenants (id, name, slug, plan, status, limit_overrides, "
                "feature_flags, settings) VALUES (%s, %s, %s, %s, 'active', '{}', %s, '{}')",
                [tenant_id, f"T {plan}", f"t-{tenant_id.hex[:8]}", plan, Jsonb(flags)],
            )
    migrate(settings)
    with psycopg.connect(_plain(scratch_url)) as conn:
        found = dict(conn.execute("SELECT id, feature_flag_overrides FROM tenants").fetchall())
    # Only what differed from the plan's default is kept; a flag that is gone is dropped.
    growth, free, enterprise = tenants
    assert found[growth] == {"webhooks": False}
    assert found[free] == {"llm_workflows": True}
    assert found[enterprise] == {}
    # Every tenant keeps exactly the features it had.
    for tenant_id, (plan, flags) in tenants.items():
        kept = enabled_features(Plan(plan), found[tenant_id])
        for flag, value in flags.items():
            if flag != "beta_analytics":
                assert (flag in kept) is value, (plan, flag)
    migrate(settings, "0014", down=True)
    with psycopg.connect(_plain(scratch_url)) as conn:
        back = dict(conn.execute("SELECT id, feature_flags FROM tenants").fetchall())
    assert back[growth]["webhooks"] is False
    assert back[free]["llm_workflows"] is True
    assert back[free]["ai_assistant"] is True
    assert back[enterprise]["llm_workflows"] is True
