"""feature flags become the plan's defaults plus a platform operator's overrides

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02 13:00:00.000000+00:00
"""

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The plans' defaults as this migration found them (tenants/features.py holds today's). A flag
# stored before that differs from its plan's default becomes an override, so no tenant loses or
# gains a feature by the move; beta_analytics gated nothing and is dropped.
FLAGS = ("api_access", "webhooks", "campaign_simulation", "ai_assistant", "llm_workflows")
ALL = frozenset(FLAGS)
PLAN_DEFAULTS = {
    "free": frozenset({"api_access", "webhooks", "campaign_simulation", "ai_assistant"}),
    "starter": ALL,
    "growth": ALL,
    "enterprise": ALL,
}


def upgrade() -> None:
    op.add_column(
        "tenants",
        sa.Column(
            "feature_flag_overrides",
            postgresql.JSONB(astext_type=sa.Text()),
            nullable=False,
            server_default=sa.text("'{}'::jsonb"),
        ),
    )
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, plan::text, feature_flags FROM tenants")).all()
    for tenant_id, plan, stored in rows:
        defaults = PLAN_DEFAULTS[plan]
        overrides = {
            flag: bool(value)
            for flag, value in (stored or {}).items()
            if flag in ALL and bool(value) != (flag in defaults)
        }
        if overrides:
            conn.execute(
                sa.text(
                    "UPDATE tenants SET feature_flag_overrides = CAST(:o AS jsonb) WHERE id = :id"
                ),
                {"o": json.dumps(overrides, sort_keys=True), "id": tenant_id},
            )
    op.alter_column("tenants", "feature_flag_overrides", server_default=None)
    op.drop_column("tenants", "feature_flags")


def downgrade() -> None:
    op.add_column(
        "tenants",
        sa.Column(
            "feature_flags",
            postgresql.JSONB(astext_type=sa.Text()),
            nullable=False,
            server_default=sa.text("'{}'::jsonb"),
        ),
    )
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, plan::text, feature_flag_overrides FROM tenants")).all()
    for tenant_id, plan, overrides in rows:
        flags = {flag: flag in PLAN_DEFAULTS[plan] for flag in FLAGS}
        flags.update({k: bool(v) for k, v in (overrides or {}).items() if k in ALL})
        flags["beta_analytics"] = False
        conn.execute(
            sa.text("UPDATE tenants SET feature_flags = CAST(:f AS jsonb) WHERE id = :id"),
            {"f": json.dumps(flags, sort_keys=True), "id": tenant_id},
        )
    op.alter_column("tenants", "feature_flags", server_default=None)
    op.drop_column("tenants", "feature_flag_overrides")
