"""sign-in sessions remember when they were last used (created or refreshed)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02 14:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("auth_sessions", sa.Column("last_used_at", sa.DateTime(timezone=True)))
    # A session's last refresh is the best record there is of its last use.
    op.execute(
        "UPDATE auth_sessions s SET last_used_at = COALESCE("
        "(SELECT max(r.created_at) FROM refresh_tokens r WHERE r.session_id = s.id), s.created_at)"
    )


def downgrade() -> None:
    op.drop_column("auth_sessions", "last_used_at")
