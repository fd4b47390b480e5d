"""DDL text shared by several migrations; its output must never change for a given input."""

from __future__ import annotations

from collections.abc import Sequence


def clear_tenant_analytics_function(tables: Sequence[str]) -> str:
    """(Re)define the trigger function that deletes a deleted tenant's rows from `tables`.

    The derived analytics tables carry no key to `tenants` (migration 0008); this does what the
    cascade did, once per statement. Foreign-key actions ignore row-level security, so the
    function lifts it for its own deletes and then restores whatever the transaction had.
    """
    deletes = "\n".join(
        f"    DELETE FROM {table} WHERE tenant_id IN (SELECT id FROM gone);"  # noqa: S608
        for table in tables
    )
    return f"""
CREATE OR REPLACE FUNCTION clear_tenant_analytics() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bypass text := current_setting('app.rls_bypass', true);
BEGIN
    PERFORM set_config('app.rls_bypass', 'on', true);
{deletes}
    PERFORM set_config('app.rls_bypass', COALESCE(bypass, ''), true);
    RETURN NULL;
END $$
"""
