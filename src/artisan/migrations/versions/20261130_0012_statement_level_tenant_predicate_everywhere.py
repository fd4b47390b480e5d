"""every tenant table's row-level security reads the tenant settings once per statement

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 02:50:00.000000+00:00
"""

from collections.abc import Sequence

from alembic import op

from artisan.core.rls import PER_ROW_TENANT_PREDICATE, TENANT_PREDICATE

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Migration 0010 did this for the analytics tables; the webhook engine's bulk claims and outcome
# writes, event ingestion and audit recording check as many rows per statement on these.
TABLES = (
    "users",
    "auth_sessions",
    "refresh_tokens",
    "audit_log",
    "audit_log_targets",
    "audit_checkpoints",
    "api_keys",
    "webhook_endpoints",
    "webhook_messages",
    "webhook_deliveries",
    "webhook_attempts",
    "leads",
    "lead_suppressions",
    "campaigns",
    "campaign_enrollments",
    "events",
)


def _alter(predicate: str) -> None:
    for table in TABLES:
        op.execute(
            f"ALTER POLICY tenant_isolation ON {table} USING {predicate} WITH CHECK {predicate}"
        )


def upgrade() -> None:
    _alter(TENANT_PREDICATE)


def downgrade() -> None:
    _alter(PER_ROW_TENANT_PREDICATE)
