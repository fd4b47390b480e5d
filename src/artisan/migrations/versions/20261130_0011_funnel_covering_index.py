"""the per-lead state's first-occurrence index covers the funnel's columns

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 01:40:00.000000+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_lead_metric_state_tenant_metric_first"


def upgrade() -> None:
    # The funnel reads each step's first occurrences in a time range straight from this index
    # (an index-only scan) and groups them by lead, instead of one primary-key probe per lead.
    op.drop_index(INDEX, table_name="lead_metric_state")
    op.create_index(
        INDEX,
        "lead_metric_state",
        ["tenant_id", "metric", "first_at"],
        unique=False,
        postgresql_include=["campaign_id", "lead_id", "simulated"],
    )


def downgrade() -> None:
    op.drop_index(INDEX, table_name="lead_metric_state")
    op.create_index(INDEX, "lead_metric_state", ["tenant_id", "metric", "first_at"], unique=False)
