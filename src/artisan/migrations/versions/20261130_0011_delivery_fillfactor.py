"""room on every page of the webhook deliveries for heap-only lease updates

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 01:55:00.000000+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Claiming a delivery writes its lease, which no index covers: with free room on the page
    # that update stays on the page and writes nothing into the table's five indexes.
    op.execute("ALTER TABLE webhook_deliveries SET (fillfactor = 70)")


def downgrade() -> None:
    op.execute("ALTER TABLE webhook_deliveries RESET (fillfactor)")
