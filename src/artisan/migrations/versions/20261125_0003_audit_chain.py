"""audit chain: hash-chained, append-only audit log with pruning checkpoints

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 19:34:51.721343+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from artisan.core.rls import APP_ROLE, disable_tenant_rls, enable_tenant_rls

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MAINTAINER = "artisan_audit_maintainer"
CHAIN_COLUMNS = ("seq", "prev_hash", "hash", "personal_digest")

# Only the maintainer may delete (pruning) or blank personal fields (erasure); the chain
# fields and everything hashed stay untouchable. A tenant's own removal takes its trail along.
APPEND_ONLY_FUNCTION = """
CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF current_user = 'MAINTAINER'
           OR NOT EXISTS (SELECT 1 FROM tenants WHERE id = OLD.tenant_id) THEN
            RETURN OLD;
        END IF;
    ELSIF current_user = 'MAINTAINER' THEN
        IF (NEW.id, NEW.tenant_id, NEW.seq, NEW.prev_hash, NEW.hash, NEW.personal_digest,
            NEW.occurred_at, NEW.action, NEW.outcome, NEW.actor_type, NEW.actor_id,
            NEW.request_id, NEW.metadata, jsonb_array_length(NEW.targets))
           IS NOT DISTINCT FROM
           (OLD.id, OLD.tenant_id, OLD.seq, OLD.prev_hash, OLD.hash, OLD.personal_digest,
            OLD.occurred_at, OLD.action, OLD.outcome, OLD.actor_type, OLD.actor_id,
            OLD.request_id, OLD.metadata, jsonb_array_length(OLD.targets))
           AND NOT EXISTS (
               SELECT 1 FROM jsonb_array_elements(NEW.targets) WITH ORDINALITY AS n(t, i)
               JOIN jsonb_array_elements(OLD.targets) WITH ORDINALITY AS o(t, i) USING (i)
               WHERE n.t -> 'type' IS DISTINCT FROM o.t -> 'type'
                  OR n.t -> 'id' IS DISTINCT FROM o.t -> 'id')
        THEN
            RETURN NEW;
        END IF;
        RAISE EXCEPTION 'audit_log: only personal fields may be erased'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$
""".replace("MAINTAINER", MAINTAINER)


def _backfill_chain() -> None:
    """Chain entries written before this revision (none on a fresh database)."""
    from artisan.audit.chain import GENESIS_HASH, entry_hash, personal_digest
    from artisan.config import get_settings

    bind = op.get_bind()
    if bind.execute(sa.text("SELECT count(*) FROM audit_log")).scalar_one() == 0:
        return
    key = get_settings().audit_key
    rows = bind.execute(
        sa.text(
            "SELECT id, tenant_id, occurred_at, action, outcome, actor_type, actor_id, "
            "actor_label, targets, ip_address, user_agent, request_id, metadata "
            "FROM audit_log ORDER BY tenant_id, occurred_at, id"
        )
    ).mappings()
    heads: dict[object, tuple[int, str]] = {}
    for row in rows:
        seq, prev = heads.get(row["tenant_id"], (0, GENESIS_HASH))
        digest = personal_digest(
            key,
            actor_label=row["actor_label"],
            ip_address=row["ip_address"],
            user_agent=row["user_agent"],
            targets=row["targets"],
        )
        chained = entry_hash(
            prev,
            id=row["id"],
            tenant_id=row["tenant_id"],
            seq=seq + 1,
            occurred_at=row["occurred_at"],
            action=row["action"],
            outcome=row["outcome"],
            actor_type=row["actor_type"],
            actor_id=row["actor_id"],
            targets=row["targets"],
            request_id=row["request_id"],
            metadata=row["metadata"],
            personal_digest=digest,
        )
        bind.execute(
            sa.text(
                "UPDATE audit_log SET seq = :seq, prev_hash = :prev, hash = :hash, "
                "personal_digest = :digest WHERE id = :id"
            ),
            {"seq": seq + 1, "prev": prev, "hash": chained, "digest": digest, "id": row["id"]},
        )
        heads[row["tenant_id"]] = (seq + 1, chained)


def upgrade() -> None:
    op.create_table(
        "audit_checkpoints",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("through_seq", sa.BigInteger(), nullable=False),
        sa.Column("through_hash", sa.String(length=64), nullable=False),
        sa.Column("pruned_count", sa.BigInteger(), nullable=False),
        sa.Column("cutoff", sa.DateTime(timezone=True), nullable=False),
        sa.Column("signature", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_audit_checkpoints_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_checkpoints")),
    )
    op.create_index(
        op.f("ix_audit_checkpoints_tenant_id"), "audit_checkpoints", ["tenant_id"], unique=False
    )
    op.create_index(
        "ix_audit_checkpoints_tenant_through",
        "audit_checkpoints",
        ["tenant_id", "through_seq"],
        unique=False,
    )
    op.add_column("audit_log", sa.Column("seq", sa.BigInteger(), nullable=True))
    op.add_column("audit_log", sa.Column("prev_hash", sa.String(length=64), nullable=True))
    op.add_column("audit_log", sa.Column("hash", sa.String(length=64), nullable=True))
    op.add_column("audit_log", sa.Column("personal_digest", sa.String(length=64), nullable=True))
    op.add_column(
        "audit_log", sa.Column("personal_erased_at", sa.DateTime(timezone=True), nullable=True)
    )
    _backfill_chain()
    for column in CHAIN_COLUMNS:
        op.alter_column("audit_log", column, nullable=False)
    op.create_index(
        "ix_audit_log_tenant_action_seq", "audit_log", ["tenant_id", "action", "seq"], unique=False
    )
    op.create_index(
        "ix_audit_log_tenant_actor_seq", "audit_log", ["tenant_id", "actor_id", "seq"], unique=False
    )
    op.create_index(
        "ix_audit_log_tenant_occurred_at", "audit_log", ["tenant_id", "occurred_at"], unique=False
    )
    op.create_index("uq_audit_log_tenant_seq", "audit_log", ["tenant_id", "seq"], unique=True)

    op.create_table(
        "audit_log_targets",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("log_seq", sa.BigInteger(), nullable=False),
        sa.Column("target_type", sa.String(length=64), nullable=False),
        sa.Column("target_id", sa.String(length=128), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "log_seq"],
            ["audit_log.tenant_id", "audit_log.seq"],
            name="fk_audit_log_targets_entry",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_audit_log_targets_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log_targets")),
    )
    op.create_index(
        op.f("ix_audit_log_targets_tenant_id"), "audit_log_targets", ["tenant_id"], unique=False
    )
    op.create_index(
        "ix_audit_log_targets_tenant_seq",
        "audit_log_targets",
        ["tenant_id", "log_seq"],
        unique=False,
    )
    op.create_index(
        "ix_audit_log_targets_tenant_target_seq",
        "audit_log_targets",
        ["tenant_id", "target_id", "log_seq"],
        unique=False,
    )
    op.create_index(
        "ix_audit_log_targets_tenant_type_seq",
        "audit_log_targets",
        ["tenant_id", "target_type", "log_seq"],
        unique=False,
    )
    op.execute(
        """
        INSERT INTO audit_log_targets (id, tenant_id, log_seq, target_type, target_id)
        SELECT DISTINCT ON (a.tenant_id, a.seq, t ->> 'type', t ->> 'id')
               gen_random_uuid(), a.tenant_id, a.seq, t ->> 'type', t ->> 'id'
        FROM audit_log a, jsonb_array_elements(a.targets) AS t
        WHERE t ->> 'type' IS NOT NULL AND t ->> 'id' IS NOT NULL
        """
    )

    for table in ("audit_checkpoints", "audit_log_targets"):
        for statement in enable_tenant_rls(table):
            op.execute(statement)
    # The maintainer role is cluster-wide like the app role, so it is created if missing.
    op.execute(
        f"""DO $$ BEGIN
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{MAINTAINER}') THEN
                CREATE ROLE {MAINTAINER} NOLOGIN NOSUPERUSER NOBYPASSRLS;
            END IF;
        END $$"""
    )
    op.execute(f"GRANT {MAINTAINER} TO CURRENT_USER")
    op.execute(f"GRANT USAGE ON SCHEMA public TO {MAINTAINER}")
    # Append-only for the application: it may write and read entries, never change them.
    op.execute(f"REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM {APP_ROLE}")
    op.execute(f"REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON audit_checkpoints FROM {APP_ROLE}")
    op.execute(f"REVOKE UPDATE, DELETE, TRUNCATE ON audit_log_targets FROM {APP_ROLE}")
    op.execute(f"GRANT SELECT, INSERT ON audit_log_targets TO {APP_ROLE}")
    op.execute(f"GRANT SELECT, INSERT, DELETE ON audit_log_targets TO {MAINTAINER}")
    op.execute(f"GRANT SELECT, INSERT ON audit_log TO {APP_ROLE}")
    op.execute(f"GRANT SELECT ON audit_checkpoints TO {APP_ROLE}")
    op.execute(f"GRANT SELECT ON tenants TO {MAINTAINER}")
    op.execute(f"GRANT SELECT, INSERT, DELETE ON audit_log TO {MAINTAINER}")
    op.execute(
        f"GRANT UPDATE (actor_label, ip_address, user_agent, targets, personal_erased_at) "
        f"ON audit_log TO {MAINTAINER}"
    )
    op.execute(f"GRANT SELECT, INSERT ON audit_checkpoints TO {MAINTAINER}")
    op.execute(APPEND_ONLY_FUNCTION)
    op.execute(
        "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
        "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
    op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")
    op.execute(f"REVOKE ALL ON audit_log FROM {MAINTAINER}")
    op.execute(f"REVOKE ALL ON audit_checkpoints FROM {MAINTAINER}")
    op.execute(f"REVOKE ALL ON audit_log_targets FROM {MAINTAINER}")
    op.execute(f"REVOKE ALL ON tenants FROM {MAINTAINER}")
    op.execute(f"REVOKE USAGE ON SCHEMA public FROM {MAINTAINER}")
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON audit_log TO {APP_ROLE}")
    for table in ("audit_checkpoints", "audit_log_targets"):
        for statement in disable_tenant_rls(table):
            op.execute(statement)
    op.drop_index("ix_audit_log_targets_tenant_type_seq", table_name="audit_log_targets")
    op.drop_index("ix_audit_log_targets_tenant_target_seq", table_name="audit_log_targets")
    op.drop_index("ix_audit_log_targets_tenant_seq", table_name="audit_log_targets")
    op.drop_index(op.f("ix_audit_log_targets_tenant_id"), table_name="audit_log_targets")
    op.drop_table("audit_log_targets")
    op.drop_index("uq_audit_log_tenant_seq", table_name="audit_log")
    op.drop_index("ix_audit_log_tenant_occurred_at", table_name="audit_log")
    op.drop_index("ix_audit_log_tenant_actor_seq", table_name="audit_log")
    op.drop_index("ix_audit_log_tenant_action_seq", table_name="audit_log")
    op.drop_column("audit_log", "personal_erased_at")
    op.drop_column("audit_log", "personal_digest")
    op.drop_column("audit_log", "hash")
    op.drop_column("audit_log", "prev_hash")
    op.drop_column("audit_log", "seq")
    op.drop_index("ix_audit_checkpoints_tenant_through", table_name="audit_checkpoints")
    op.drop_index(op.f("ix_audit_checkpoints_tenant_id"), table_name="audit_checkpoints")
    op.drop_table("audit_checkpoints")
