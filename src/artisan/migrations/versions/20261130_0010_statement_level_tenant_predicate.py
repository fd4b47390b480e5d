"""the analytics tables' row-level security reads the tenant setting once per statement

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 01:05:00.000000+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Ingestion upserts thousands of rows of these per batch, and each upsert evaluated the policy
# up to three times, parsing the settings each time. As uncorrelated sub-selects the settings
# are read once per statement (an InitPlan); the predicate means the same, since a setting
# cannot change during one statement.
TABLES = (
    "lead_metric_state",
    "analytics_campaign_rollups",
    "analytics_tenant_rollups",
    "analytics_tenant_daily",
    "analytics_step_rollups",
)
PER_STATEMENT = (
    "(tenant_id = (SELECT NULLIF(current_setting('app.tenant_id', true), '')::uuid) "
    "OR (SELECT current_setting('app.rls_bypass', true)) = 'on')"
)
PER_ROW = (
    "(tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid "
    "OR current_setting('app.rls_bypass', true) = 'on')"
)


def _alter(predicate: str) -> None:
    for table in TABLES:
        op.execute(
            f"ALTER POLICY tenant_isolation ON {table} USING {predicate} WITH CHECK {predicate}"
        )


def upgrade() -> None:
    _alter(PER_STATEMENT)


def downgrade() -> None:
    _alter(PER_ROW)
