"""first occurrences are indexed with the lead's key, so funnels read only the index

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30 03:30:00.000000+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_lead_metric_state_tenant_metric_first"
TABLE = "lead_metric_state"
COLUMNS = ["tenant_id", "metric", "first_at"]


def upgrade() -> None:
    op.drop_index(INDEX, table_name=TABLE)
    op.create_index(
        INDEX, TABLE, COLUMNS, postgresql_include=["campaign_id", "lead_id", "simulated"]
    )


def downgrade() -> None:
    op.drop_index(INDEX, table_name=TABLE)
    op.create_index(INDEX, TABLE, COLUMNS)
