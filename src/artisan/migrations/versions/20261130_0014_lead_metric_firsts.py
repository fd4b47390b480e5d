"""each lead's first occurrences in their own settled table, keyed for funnels' range scans

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30 03:30:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from artisan.core.rls import disable_tenant_rls, enable_tenant_rls
from artisan.migrations.ddl import clear_tenant_analytics_function

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A funnel range-scanned first occurrences in lead_metric_state's (tenant, metric, first_at)
# index and then visited the table for each lead: nearly every page of that table is rewritten
# by the next batches, so no scan of it is index-only. These rows change only when a first
# occurrence does, so a funnel reads both of its sides from this table's key alone; the state
# table loses the index it kept for funnels, so moving a first occurrence there stays heap-only.
OLD_INDEX = "ix_lead_metric_state_tenant_metric_first"
KEY = ["tenant_id", "metric", "first_at", "campaign_id", "lead_id", "simulated"]

DERIVED_BEFORE = (
    "lead_metric_state",
    "analytics_campaign_rollups",
    "analytics_tenant_rollups",
    "analytics_tenant_daily",
    "analytics_step_rollups",
)
DERIVED = (*DERIVED_BEFORE, "lead_metric_firsts")


def upgrade() -> None:
    # Every tenant's rows, whichever role runs the migration.
    op.execute("SELECT set_config('app.rls_bypass', 'on', true)")
    op.create_table(
        "lead_metric_firsts",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("metric", sa.String(length=32), nullable=False),
        sa.Column("first_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("campaign_id", sa.Uuid(), nullable=False),
        sa.Column("lead_id", sa.Uuid(), nullable=False),
        sa.Column("simulated", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint(*KEY, name=op.f("pk_lead_metric_firsts")),
    )
    for statement in enable_tenant_rls("lead_metric_firsts"):
        op.execute(statement)
    columns = ", ".join(KEY)
    backfill = f"INSERT INTO lead_metric_firsts ({columns}) SELECT {columns} FROM lead_metric_state"  # noqa: S608 - constant column names
    op.execute(backfill)
    op.drop_index(OLD_INDEX, table_name="lead_metric_state")
    op.execute(clear_tenant_analytics_function(DERIVED))


def downgrade() -> None:
    op.execute(clear_tenant_analytics_function(DERIVED_BEFORE))
    op.create_index(OLD_INDEX, "lead_metric_state", ["tenant_id", "metric", "first_at"])
    for statement in disable_tenant_rls("lead_metric_firsts"):
        op.execute(statement)
    op.drop_table("lead_metric_firsts")
