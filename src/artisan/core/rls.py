"""Row-level security DDL shared by migrations: the second wall between tenants."""

from __future__ import annotations

APP_ROLE = "artisan_app"

# A row is visible when it belongs to the transaction's tenant, or when the transaction
# explicitly turned on the audited platform bypass. The settings are read in uncorrelated
# sub-selects, so once per statement (an InitPlan) rather than once per row checked: bulk
# statements check thousands of rows, and a setting cannot change during one statement.
TENANT_PREDICATE = (
    "(tenant_id = (SELECT NULLIF(current_setting('app.tenant_id', true), '')::uuid) "
    "OR (SELECT current_setting('app.rls_bypass', true)) = 'on')"
)
# The form the first migrations created, evaluated for every row (see migration 0012).
PER_ROW_TENANT_PREDICATE = (
    "(tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid "
    "OR current_setting('app.rls_bypass', true) = 'on')"
)


def enable_tenant_rls(table: str) -> list[str]:
    """Statements that force tenant isolation on a tenant-owned table."""
    return [
        f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
        f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY",
        f"CREATE POLICY tenant_isolation ON {table} USING {TENANT_PREDICATE} "
        f"WITH CHECK {TENANT_PREDICATE}",
    ]


def disable_tenant_rls(table: str) -> list[str]:
    """Statements that undo enable_tenant_rls."""
    return [
        f"DROP POLICY IF EXISTS tenant_isolation ON {table}",
        f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY",
        f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY",
    ]


def create_app_role() -> list[str]:
    """The non-privileged role the application acts as (cluster-wide, so created if missing)."""
    return [
        f"""DO $$ BEGIN
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
                CREATE ROLE {APP_ROLE} NOLOGIN NOSUPERUSER NOBYPASSRLS;
            END IF;
        END $$""",
        f"GRANT {APP_ROLE} TO CURRENT_USER",
        f"GRANT USAGE ON SCHEMA public TO {APP_ROLE}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {APP_ROLE}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {APP_ROLE}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public "
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {APP_ROLE}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {APP_ROLE}",
    ]


def revoke_app_role() -> list[str]:
    """Take back this database's grants (the role itself is shared by the cluster and stays)."""
    return [
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON TABLES FROM {APP_ROLE}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON SEQUENCES FROM {APP_ROLE}",
        f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {APP_ROLE}",
        f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {APP_ROLE}",
        f"REVOKE USAGE ON SCHEMA public FROM {APP_ROLE}",
    ]
