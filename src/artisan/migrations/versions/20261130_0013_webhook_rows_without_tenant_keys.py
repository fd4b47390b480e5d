"""webhook deliveries and attempts go with their tenant through their parents' cascades

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30 03:05:00.000000+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Every outcome a sender records rewrites a delivery (a new index entry in each index, since its
# status changes) and inserts an attempt; the tenant key check and tenant index were paid on
# each. A tenant's deletion still reaches them: tenants -> endpoints and messages -> deliveries
# -> attempts all cascade. Row-level security keeps keying on the column.
TABLES = ("webhook_deliveries", "webhook_attempts")


def upgrade() -> None:
    for table in TABLES:
        op.drop_constraint(f"fk_{table}_tenant_id_tenants", table, type_="foreignkey")
        op.drop_index(f"ix_{table}_tenant_id", table_name=table)


def downgrade() -> None:
    for table in TABLES:
        op.create_index(f"ix_{table}_tenant_id", table, ["tenant_id"])
        op.create_foreign_key(
            f"fk_{table}_tenant_id_tenants",
            table,
            "tenants",
            ["tenant_id"],
            ["id"],
            ondelete="CASCADE",
        )
