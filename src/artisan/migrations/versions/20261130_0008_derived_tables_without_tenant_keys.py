"""per-lead state and rollups without a foreign key to tenants; a tenant's delete still clears them

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 00:30:00.000000+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Derived from the events table, which keeps its key to tenants. Every row a batch adds to these
# ran a key check against tenants (about 4,000 per 1,000 events, a sixth of the analytics
# statement); their rows are only ever written for the transaction's own tenant, which
# row-level security already enforces.
DERIVED = (
    "lead_metric_state",
    "analytics_campaign_rollups",
    "analytics_tenant_rollups",
    "analytics_tenant_daily",
)

# What ON DELETE CASCADE did, once per statement rather than once per row. Foreign-key actions
# ignore row-level security, so the function lifts it for its own deletes and then restores
# whatever the transaction had.
_CLEAR = "\n".join(
    f"    DELETE FROM {table} WHERE tenant_id IN (SELECT id FROM gone);"  # noqa: S608
    for table in DERIVED
)
CREATE_FUNCTION = f"""
CREATE FUNCTION clear_tenant_analytics() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bypass text := current_setting('app.rls_bypass', true);
BEGIN
    PERFORM set_config('app.rls_bypass', 'on', true);
{_CLEAR}
    PERFORM set_config('app.rls_bypass', COALESCE(bypass, ''), true);
    RETURN NULL;
END $$
"""
CREATE_TRIGGER = """
CREATE TRIGGER tenants_clear_analytics AFTER DELETE ON tenants
REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION clear_tenant_analytics()
"""


def upgrade() -> None:
    for table in DERIVED:
        op.drop_constraint(op.f(f"fk_{table}_tenant_id_tenants"), table, type_="foreignkey")
    op.execute(CREATE_FUNCTION)
    op.execute(CREATE_TRIGGER)


def downgrade() -> None:
    op.execute("DROP TRIGGER tenants_clear_analytics ON tenants")
    op.execute("DROP FUNCTION clear_tenant_analytics()")
    for table in DERIVED:
        op.create_foreign_key(
            op.f(f"fk_{table}_tenant_id_tenants"),
            table,
            "tenants",
            ["tenant_id"],
            ["id"],
            ondelete="CASCADE",
        )
