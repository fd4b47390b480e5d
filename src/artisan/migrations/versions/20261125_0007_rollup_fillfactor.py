"""room on every page of the per-lead state and rollups for in-place (HOT) updates

Revision ID: 0007
Revises: 0005
Create Date: 2026-11-25 20:45:00.000000+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Ingestion rewrites these rows batch after batch; without free room on the page each update
# writes a new entry into every index of the table. The figures columns are not indexed, so
# with room left the update stays on its page and the indexes are not touched.
FILLFACTOR = {
    "lead_metric_state": 70,
    "analytics_campaign_rollups": 70,
    "analytics_tenant_rollups": 50,
    "analytics_tenant_daily": 50,
}


def upgrade() -> None:
    for table, fillfactor in FILLFACTOR.items():
        op.execute(f"ALTER TABLE {table} SET (fillfactor = {fillfactor})")


def downgrade() -> None:
    for table in FILLFACTOR:
        op.execute(f"ALTER TABLE {table} RESET (fillfactor)")
