"""per-step figures from a step bitmask on the campaign-level state and per-step totals

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 00:50:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from artisan.core.rls import disable_tenant_rls, enable_tenant_rls
from artisan.events.catalog import metric_map_sql
from artisan.migrations.ddl import clear_tenant_analytics_function

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Per-step rows doubled the per-lead state (a step event wrote a campaign-level row and a step
# row), and they were read only to count leads and events per step. A bitmask of the steps on
# the campaign-level row gives the first; per-step totals per campaign give the second.
_KEY = "tenant_id, campaign_id, lead_id, metric, simulated"


DERIVED = (
    "lead_metric_state",
    "analytics_campaign_rollups",
    "analytics_tenant_rollups",
    "analytics_tenant_daily",
)


def upgrade() -> None:
    # Every tenant's rows, whichever role runs the migration.
    op.execute("SELECT set_config('app.rls_bypass', 'on', true)")
    op.create_table(
        "analytics_step_rollups",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("campaign_id", sa.Uuid(), nullable=False),
        sa.Column("step", sa.SmallInteger(), nullable=False),
        sa.Column("metric", sa.String(length=32), nullable=False),
        sa.Column("simulated", sa.Boolean(), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "tenant_id",
            "campaign_id",
            "step",
            "metric",
            "simulated",
            name=op.f("pk_analytics_step_rollups"),
        ),
        postgresql_with={"fillfactor": 70},
    )
    for statement in enable_tenant_rls("analytics_step_rollups"):
        op.execute(statement)
    op.add_column(
        "lead_metric_state",
        sa.Column("steps", sa.Integer(), server_default=sa.text("0"), nullable=False),
    )
    op.execute(
        "INSERT INTO analytics_step_rollups (tenant_id, campaign_id, step, metric, simulated, "
        "total) SELECT tenant_id, campaign_id, step, metric, simulated, sum(total) "
        "FROM lead_metric_state WHERE step > 0 GROUP BY 1, 2, 3, 4, 5"
    )
    op.execute(
        f"UPDATE lead_metric_state AS s SET steps = m.mask FROM (SELECT {_KEY}, "  # noqa: S608 - constant column list
        "bit_or(1 << step) AS mask FROM lead_metric_state WHERE step > 0 "
        f"GROUP BY {_KEY}) AS m WHERE s.step = 0 AND (s.tenant_id, s.campaign_id, s.lead_id, "
        "s.metric, s.simulated) = (m.tenant_id, m.campaign_id, m.lead_id, m.metric, m.simulated)"
    )
    op.execute("DELETE FROM lead_metric_state WHERE step > 0")
    op.drop_index(
        "ix_lead_metric_state_tenant_metric_first",
        table_name="lead_metric_state",
        postgresql_where=sa.text("step = 0"),
    )
    op.drop_constraint(op.f("pk_lead_metric_state"), "lead_metric_state", type_="primary")
    op.drop_column("lead_metric_state", "step")
    op.create_primary_key(
        op.f("pk_lead_metric_state"),
        "lead_metric_state",
        ["tenant_id", "campaign_id", "lead_id", "metric", "simulated"],
    )
    op.create_index(
        "ix_lead_metric_state_tenant_metric_first",
        "lead_metric_state",
        ["tenant_id", "metric", "first_at"],
        unique=False,
    )
    op.execute(clear_tenant_analytics_function((*DERIVED, "analytics_step_rollups")))


def downgrade() -> None:
    op.execute("SELECT set_config('app.rls_bypass', 'on', true)")
    op.execute(clear_tenant_analytics_function(DERIVED))
    op.drop_index("ix_lead_metric_state_tenant_metric_first", table_name="lead_metric_state")
    op.drop_constraint(op.f("pk_lead_metric_state"), "lead_metric_state", type_="primary")
    op.add_column(
        "lead_metric_state",
        sa.Column("step", sa.SmallInteger(), server_default=sa.text("0"), nullable=False),
    )
    op.alter_column("lead_metric_state", "step", server_default=None)
    op.create_primary_key(
        op.f("pk_lead_metric_state"),
        "lead_metric_state",
        ["tenant_id", "campaign_id", "lead_id", "step", "metric", "simulated"],
    )
    op.create_index(
        "ix_lead_metric_state_tenant_metric_first",
        "lead_metric_state",
        ["tenant_id", "metric", "first_at"],
        unique=False,
        postgresql_where=sa.text("step = 0"),
    )
    # Per-step rows cannot be told from a bitmask: they are recomputed from the raw events.
    op.execute(
        "INSERT INTO lead_metric_state (tenant_id, campaign_id, lead_id, step, metric, "  # noqa: S608 - the metric map is built from the static catalogue
        "simulated, channel, first_at, last_at, total) "
        "SELECT e.tenant_id, e.campaign_id, e.lead_id, e.step, mm.metric, e.simulated, "
        "(array_agg(e.channel ORDER BY e.occurred_at, e.id))[1], min(e.occurred_at), "
        f"max(e.occurred_at), count(*) FROM events e JOIN {metric_map_sql()} "
        "ON mm.type = e.type WHERE e.step IS NOT NULL "
        "AND (NOT mm.positive_only OR e.properties->>'sentiment' = 'positive') "
        "GROUP BY 1, 2, 3, 4, 5, 6"
    )
    op.drop_column("lead_metric_state", "steps")
    for statement in disable_tenant_rls("analytics_step_rollups"):
        op.execute(statement)
    op.drop_table("analytics_step_rollups")
