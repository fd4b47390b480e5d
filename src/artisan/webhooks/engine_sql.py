"""The delivery engine's statements: the claim, the outcome write and the hand-back.

Each runs as one statement (its own transaction on the engine's connections, or inside a
session's transaction when endpoint health has to change with it); the planner's reasons are
commented where a statement was shaped for them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from artisan.core.bulk import unnest_numbered
from artisan.tenants.features import feature_sql

# The due deliveries are walked in the due index's order and the endpoint is checked row by row
# (a scalar sub-select, which the planner cannot turn into a join), so a claim stops at its
# limit: as a join, a fresh backlog was joined and sorted whole, on disk, for every claim.
# Parameters: $1 the limit, $2 the lease in seconds, $3 the lease token (and $4 the given ids).
_CLAIM_TEMPLATE = """
WITH due AS (
    SELECT d.id FROM webhook_deliveries d
    WHERE {selection}
      AND d.next_attempt_at <= now()
      AND (d.lease_until IS NULL OR d.lease_until < now())
      AND (SELECT e.enabled AND {webhooks_on} AND (NOT e.ordered OR NOT EXISTS (
              SELECT 1 FROM webhook_deliveries p
              WHERE p.endpoint_id = d.endpoint_id AND p.status = 'pending' AND p.id < d.id))
           FROM webhook_endpoints e JOIN tenants t ON t.id = e.tenant_id
           WHERE e.id = d.endpoint_id)
    ORDER BY d.next_attempt_at
    LIMIT $1
    FOR UPDATE OF d SKIP LOCKED
)
UPDATE webhook_deliveries d
SET lease_until = now() + make_interval(secs => $2), lease_token = $3
FROM due, webhook_endpoints e, webhook_messages m
WHERE d.id = due.id AND e.id = d.endpoint_id AND m.id = d.message_id
RETURNING d.id, d.tenant_id, d.endpoint_id, d.message_id, d.event_type, d.attempt_count,
          d.max_attempts, d.next_trigger, e.url, e.rate_limit, e.secret_encrypted,
          e.previous_secret_encrypted, e.previous_secret_expires_at, m.payload::text, m.created_at
"""
_DUE = "d.status = 'pending'"
# Given ids are looked up by primary key. Compared as text, the status does not match the due
# index's predicate, so the planner cannot walk that whole index filtering on the ids instead:
# right after a burst, with statistics not yet updated, it did, once per task message.
_GIVEN = "d.id = ANY(CAST($4 AS uuid[])) AND d.status::text = 'pending'"
# The claim of anything due, and of only the ids given as $4. A tenant without the webhooks
# feature keeps its deliveries pending: they go out once the feature returns.
WEBHOOKS_ON = feature_sql("webhooks", "t")
CLAIM_DUE_SQL = _CLAIM_TEMPLATE.format(selection=_DUE, webhooks_on=WEBHOOKS_ON)
CLAIM_GIVEN_SQL = _CLAIM_TEMPLATE.format(selection=_GIVEN, webhooks_on=WEBHOOKS_ON)


DELIVERY_COLUMNS = {
    "id": "uuid",
    "lease_token": "uuid",
    "status": "text",
    "attempt_count": "int",
    "next_attempt_at": "timestamptz",
    "last_status_code": "int",
    "last_error": "text",
    "delivered_at": "timestamptz",
    "next_trigger": "text",
}
ATTEMPT_COLUMNS = {
    "id": "uuid",
    "tenant_id": "uuid",
    "delivery_id": "uuid",
    "attempt_number": "int",
    "trigger": "text",
    "started_at": "timestamptz",
    "duration_ms": "float8",
    "request_url": "text",
    "request_headers": "text",
    "response_status": "int",
    "response_headers": "text",
    "response_body": "text",
    "error_class": "text",
    "error_detail": "text",
    "succeeded": "bool",
    "next_attempt_at": "timestamptz",
}
_JSON_COLUMNS = frozenset({"request_headers", "response_headers"})


def _attempt_value(name: str) -> str:
    return f"CAST(v.{name} AS jsonb)" if name in _JSON_COLUMNS else f"v.{name}"


# Only deliveries still held under their lease are ours to record: another sender may have taken
# over an expired lease, or the endpoint may have been deleted meanwhile. The UPDATE's row locks
# and its lease-token condition decide that, and only the held deliveries get an attempt row. An
# endpoint that had been failing is healthy again once one of its deliveries succeeded.
RECORD_SQL = f"""
WITH updated AS (
    UPDATE webhook_deliveries d
    SET status = CAST(v.status AS webhook_delivery_status), attempt_count = v.attempt_count,
        next_attempt_at = v.next_attempt_at, enqueued_at = NULL,
        last_status_code = v.last_status_code, last_error = v.last_error,
        delivered_at = v.delivered_at, next_trigger = v.next_trigger,
        lease_until = NULL, lease_token = NULL, updated_at = now()
    FROM {unnest_numbered(DELIVERY_COLUMNS, 1)}
    WHERE d.id = v.id AND d.lease_token = v.lease_token
    RETURNING d.id, d.endpoint_id, d.status
), attempts AS (
    INSERT INTO webhook_attempts ({", ".join(ATTEMPT_COLUMNS)})
    SELECT {", ".join(_attempt_value(name) for name in ATTEMPT_COLUMNS)}
    FROM {unnest_numbered(ATTEMPT_COLUMNS, len(DELIVERY_COLUMNS) + 1)}
    WHERE v.delivery_id IN (SELECT id FROM updated)
), recovered AS (
    UPDATE webhook_endpoints e SET failing_since = NULL, consecutive_failures = 0
    WHERE e.id IN (SELECT endpoint_id FROM updated WHERE status = 'succeeded')
      AND (e.failing_since IS NOT NULL OR e.consecutive_failures > 0)
)
SELECT count(*) FROM updated
"""  # noqa: S608 - built from the constant column lists above

# Hands deliveries back untouched (their lease was too short to start a request): due again at
# once for any sender, their last outcome kept.
RELEASE_SQL = """
UPDATE webhook_deliveries d SET lease_until = NULL, lease_token = NULL
FROM unnest(CAST($1 AS uuid[]), CAST($2 AS uuid[])) AS v(id, lease_token)
WHERE d.id = v.id AND d.lease_token = v.lease_token
"""


async def prefer_index_scan(session: Any) -> None:
    """Walk the due-deliveries index in order instead of a bitmap scan, for this transaction.

    Finished deliveries leave dead entries in the partial index until vacuum runs; a bitmap scan
    visits all of them on every claim, while an index scan marks them dead as it passes, so the
    next claim skips them (milliseconds instead of a hundred after a burst).
    """
    await session.execute(text("SET LOCAL enable_bitmapscan = off"))
