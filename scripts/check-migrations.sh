#!/usr/bin/env bash
# alembic check (no drift between models and migrations) and a full round trip on a scratch database.
set -euo pipefail
BIN=${BIN:-.venv/bin}
DB=${MIGRATION_CHECK_DB:-artisan_migration_check}
ADMIN_URL=${MIGRATION_CHECK_ADMIN_URL:-postgresql://postgres@127.0.0.1:5432/postgres}
psql "$ADMIN_URL" -q -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
export DATABASE_URL="postgresql://postgres@127.0.0.1:5432/$DB"
"$BIN/alembic" upgrade head
"$BIN/alembic" check
"$BIN/alembic" downgrade base
"$BIN/alembic" upgrade head
"$BIN/alembic" check
psql "$ADMIN_URL" -q -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)"
echo "migrations: no drift, round trip ok"
