"""The delivery engine shared by Celery workers and the in-process runner.

PostgreSQL is the source of truth: a batch of due deliveries is claimed with a lease
(`FOR UPDATE SKIP LOCKED`), sent concurrently over one aiohttp session, and the outcomes are
written back in bulk, guarded by the lease token so a worker that lost its lease changes nothing.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

import aiohttp
import asyncpg
import structlog
from limits import RateLimitItemPerSecond
from limits.aio.storage import Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string
from sqlalchemy import select, text, update

from artisan.audit.recorder import SYSTEM, Target, record
from artisan.config import Settings
from artisan.core.bulk import ColumnArrays, unnest_numbered
from artisan.core.db import Database, server_settings
from artisan.core.ids import new_bulk_id, new_id, utcnow
from artisan.models.webhook import DeliveryStatus, WebhookEndpoint
from artisan.webhooks.metrics import MetricCounts
from artisan.webhooks.signing import SecretBox, SigningKey, secret_key_bytes, signature_header
from artisan.webhooks.ssrf import (
    GuardedResolver,
    SSRFBlocked,
    check_literal_host,
    is_ssrf_error,
    parse_networks,
)

log = structlog.get_logger(__name__)

RESPONSE_BODY_LIMIT = 16 * 1024
USER_AGENT = "Artisan-Webhooks/1.0"
LEASE_MARGIN_SECONDS = 5.0
# A request starts only with its whole timeout plus this much of its lease left.
LEASE_START_MARGIN_SECONDS = 1.0
# A draining sender keeps about this much work claimed ahead of its senders: well inside the
# lease's margin, so claimed deliveries start long before their lease runs short.
QUEUED_SECONDS = 1.0
# A draining sender writes outcomes back once half a batch has accumulated or this much time has
# passed, whichever comes first.
RECORD_INTERVAL_SECONDS = 0.05
JITTER = 0.2


_NO_LEASE = uuid.UUID(int=0)


class Dispatcher(Protocol):
    """Gets due deliveries to a sender after the transaction that created them commits."""

    async def dispatch(self, delivery_ids: Sequence[uuid.UUID]) -> None:
        """Hand the deliveries over (a queue message, or waking the in-process runner)."""


@dataclass(slots=True)
class Claimed:
    """A delivery claimed for one attempt, with everything needed to send it."""

    delivery_id: uuid.UUID
    tenant_id: uuid.UUID
    endpoint_id: uuid.UUID
    message_id: uuid.UUID
    event_type: str
    attempt_count: int
    max_attempts: int
    trigger: str
    url: str
    rate_limit: int | None
    secret_encrypted: bytes
    previous_secret_encrypted: bytes | None
    previous_secret_expires_at: datetime | None
    # The message's payload as JSON text (None once purged).
    payload: str | None
    message_created_at: datetime
    # The lease this delivery was claimed under, and the monotonic time by which a request
    # must have started so that it ends, timeout included, before the lease does.
    lease_token: uuid.UUID = _NO_LEASE
    start_by: float = float("inf")
    # The JSON body, encoded once per message of a claim and shared by its deliveries.
    body: bytes = b""

    def out_of_time(self) -> bool:
        """Too late to start: the request might not end before the lease does."""
        return time.monotonic() > self.start_by

    @property
    def webhook_id(self) -> str:
        """The `webhook-id` header: the message id, the same for every attempt and endpoint."""
        return f"msg_{self.message_id.hex}"


@dataclass(slots=True)
class Outcome:
    """What one attempt did."""

    item: Claimed
    deferred_for: float | None = None
    # Not sent: its lease was too close to its end to start a request (it is handed back).
    released: bool = False
    started_at: datetime | None = None
    duration_ms: float = 0.0
    # The request's headers as the attempt log's JSON (signatures shown, secrets never held).
    request_headers_json: str | None = None
    status: int | None = None
    response_headers: dict[str, str] | None = None
    response_body: str | None = None
    error_class: str | None = None
    error_detail: str | None = None
    retry_after: float | None = None

    @property
    def succeeded(self) -> bool:
        """A 2xx answer."""
        return self.status is not None and 200 <= self.status < 300


def message_body(event_type: str, created_at: datetime, payload: dict[str, Any] | None) -> bytes:
    """The JSON body of a message: identical on every attempt, so signatures are reproducible."""
    envelope = {"type": event_type, "timestamp": created_at.isoformat(), "data": payload}
    return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode()


def jittered(seconds: float, rng: random.Random | None = None) -> float:
    """`seconds` give or take 20%."""
    return seconds * (rng or random).uniform(1 - JITTER, 1 + JITTER)


def parse_retry_after(value: str | None, *, maximum: float) -> float | None:
    """Seconds to wait from a Retry-After header (delta or HTTP date), bounded to [1, maximum]."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = (parsedate_to_datetime(value) - utcnow()).total_seconds()
        except (TypeError, ValueError):
            return None
    return min(max(seconds, 1.0), maximum)


class EndpointRateLimiter:
    """Per-endpoint deliveries per second, exact over a moving window (shared through Redis)."""

    def __init__(self, redis_url: str | None) -> None:
        storage = (
            storage_from_string("async+" + redis_url, implementation="redispy")
            if redis_url
            else storage_from_string("async+memory://")
        )
        assert isinstance(storage, Storage)
        self.strategy = MovingWindowRateLimiter(storage)

    async def acquire(self, endpoint_id: uuid.UUID, per_second: int) -> float | None:
        """Take a slot now (None), or the seconds until one frees up."""
        item = RateLimitItemPerSecond(per_second)
        if await self.strategy.hit(item, "webhook_endpoint", str(endpoint_id)):
            return None
        stats = await self.strategy.get_window_stats(item, "webhook_endpoint", str(endpoint_id))
        return max(stats.reset_time - time.time(), 0.01)


# The due deliveries are walked in the due index's order and the endpoint is checked row by row
# (a scalar sub-select, which the planner cannot turn into a join), so a claim stops at its
# limit: as a join, a fresh backlog was joined and sorted whole, on disk, for every claim.
# Parameters: $1 the limit, $2 the lease in seconds, $3 the lease token (and $4 the given ids).
_CLAIM_SQL = """
WITH due AS (
    SELECT d.id FROM webhook_deliveries d
    WHERE {selection}
      AND d.next_attempt_at <= now()
      AND (d.lease_until IS NULL OR d.lease_until < now())
      AND (SELECT e.enabled AND (NOT e.ordered OR NOT EXISTS (
              SELECT 1 FROM webhook_deliveries p
              WHERE p.endpoint_id = d.endpoint_id AND p.status = 'pending' AND p.id < d.id))
           FROM webhook_endpoints e WHERE e.id = d.endpoint_id)
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


_DELIVERY_COLUMNS = {
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
_ATTEMPT_COLUMNS = {
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


_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
# The attempt log's copy of what `send` puts on the wire. Filled by formatting, not encoding:
# every value is JSON-safe as it stands (a constant, `msg_` and hex digits, decimal digits, and
# `v1,` signatures in base64 joined by spaces), and this runs once per request.
_REQUEST_HEADERS_JSON = (
    '{{"content-type":"application/json","user-agent":"' + USER_AGENT + '",'
    '"webhook-id":"{id}","webhook-timestamp":"{timestamp}","webhook-signature":"{signature}"}}'
)


def _attempt_value(name: str) -> str:
    return f"CAST(v.{name} AS jsonb)" if name in _JSON_COLUMNS else f"v.{name}"


# Only deliveries still held under their lease are ours to record: another sender may have taken
# over an expired lease, or the endpoint may have been deleted meanwhile. The UPDATE's row locks
# and its lease-token condition decide that, and only the held deliveries get an attempt row. An
# endpoint that had been failing is healthy again once one of its deliveries succeeded.
_RECORD_SQL = f"""
WITH updated AS (
    UPDATE webhook_deliveries d
    SET status = CAST(v.status AS webhook_delivery_status), attempt_count = v.attempt_count,
        next_attempt_at = v.next_attempt_at, enqueued_at = NULL,
        last_status_code = v.last_status_code, last_error = v.last_error,
        delivered_at = v.delivered_at, next_trigger = v.next_trigger,
        lease_until = NULL, lease_token = NULL, updated_at = now()
    FROM {unnest_numbered(_DELIVERY_COLUMNS, 1)}
    WHERE d.id = v.id AND d.lease_token = v.lease_token
    RETURNING d.id, d.endpoint_id, d.status
), attempts AS (
    INSERT INTO webhook_attempts ({", ".join(_ATTEMPT_COLUMNS)})
    SELECT {", ".join(_attempt_value(name) for name in _ATTEMPT_COLUMNS)}
    FROM {unnest_numbered(_ATTEMPT_COLUMNS, len(_DELIVERY_COLUMNS) + 1)}
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
_RELEASE_SQL = """
UPDATE webhook_deliveries d SET lease_until = NULL, lease_token = NULL
FROM unnest(CAST($1 AS uuid[]), CAST($2 AS uuid[])) AS v(id, lease_token)
WHERE d.id = v.id AND d.lease_token = v.lease_token
"""

# The engine's own connections see every tenant, as all of its work is the platform's (the
# setting holds for the whole session: only the engine's statements run on these connections),
# and walk the due index in order (see prefer_index_scan).
_ENGINE_SESSION = {
    "application_name": "artisan-webhooks",
    "app.rls_bypass": "on",
    "enable_bitmapscan": "off",
}
# The claimer, the recorder and one spare.
_ENGINE_CONNECTIONS = 3
# A connection the server closed (a restart, a failover) is replaced and the statement tried once
# more: a claim that did commit only holds its deliveries until the lease ends, and a write that
# did commit finds its leases gone and changes nothing the second time.
_CONNECTION_ERRORS = (
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.InterfaceError,
    # What a connection closed while idle raises on its next statement.
    asyncpg.exceptions.InternalClientError,
    ConnectionError,
)


async def _keep_session(connection: asyncpg.Connection) -> None:
    """Nothing to reset between uses: each use is one statement in its own transaction."""


async def _driver_connection(session: Any) -> asyncpg.Connection:
    """The asyncpg connection under a session, inside the session's begun transaction."""
    connection = (await (await session.connection()).get_raw_connection()).driver_connection
    if not connection.is_in_transaction():
        raise RuntimeError("the session's transaction has not begun on its connection")
    return connection


async def prefer_index_scan(session: Any) -> None:
    """Walk the due-deliveries index in order instead of a bitmap scan, for this transaction.

    Finished deliveries leave dead entries in the partial index until vacuum runs; a bitmap scan
    visits all of them on every claim, while an index scan marks them dead as it passes, so the
    next claim skips them (milliseconds instead of a hundred after a burst).
    """
    await session.execute(text("SET LOCAL enable_bitmapscan = off"))


class DeliveryEngine:
    """Claims, sends and records webhook deliveries; one per worker process or server."""

    def __init__(
        self,
        settings: Settings,
        database: Database,
        *,
        limiter: EndpointRateLimiter | None = None,
        counts: MetricCounts | None = None,
    ) -> None:
        self.settings = settings
        self.database = database
        # Endpoint rate limits always apply, whatever the API's own rate limiting is set to;
        # with Redis the window is shared by every worker.
        self.limiter = limiter or EndpointRateLimiter(settings.redis_url)
        self.counts = counts or MetricCounts()
        self.allowed = parse_networks(settings.webhook_allow_private_networks)
        self.delays = settings.webhook_retry_delays
        self.box = SecretBox(settings.secret_key)
        self.lease_seconds = settings.webhook_timeout_seconds + LEASE_MARGIN_SECONDS
        self._http: aiohttp.ClientSession | None = None
        self._pool: asyncpg.Pool | None = None
        self._opening = asyncio.Lock()
        self._keys: dict[bytes, SigningKey] = {}
        self._literal_refusals: dict[str, str | None] = {}
        self._recording = asyncio.Lock()

    async def http(self) -> aiohttp.ClientSession:
        """The shared HTTP session (created on first use, inside the running loop)."""
        if self._http is None or self._http.closed:
            connector = aiohttp.TCPConnector(
                resolver=GuardedResolver(self.allowed),
                limit=self.settings.webhook_concurrency,
                limit_per_host=0,
                ttl_dns_cache=None,
                use_dns_cache=False,
            )
            self._http = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=self.settings.webhook_timeout_seconds),
                auto_decompress=False,
                cookie_jar=aiohttp.DummyCookieJar(),
                # The attempt log keeps the raw response body, so no compressed answer is
                # invited (it would not be decompressed); fewer headers is also less work.
                skip_auto_headers=("Accept", "Accept-Encoding"),
            )
        return self._http

    async def connections(self) -> asyncpg.Pool:
        """The engine's own database connections (opened on first use, inside the running loop).

        Claims and outcome writes are single statements, each its own transaction, sent straight
        to the driver: through a session, every one paid about two milliseconds of CPU for the
        check-out ping, BEGIN, the bypass setting and COMMIT, beside the statement itself.
        """
        if self._pool is None:
            async with self._opening:
                if self._pool is None:
                    self._pool = await asyncpg.create_pool(
                        self.settings.driver_database_url,
                        min_size=1,
                        max_size=_ENGINE_CONNECTIONS,
                        server_settings={**server_settings(self.settings), **_ENGINE_SESSION},
                        reset=_keep_session,
                    )
                    log.info("rls_bypass", reason="webhook engine connections")
        return self._pool

    async def _fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        pool = await self.connections()
        try:
            return await pool.fetch(sql, *args)
        except _CONNECTION_ERRORS:
            log.warning("webhook_engine_reconnecting", exc_info=True)
            await pool.expire_connections()
            return await pool.fetch(sql, *args)

    async def close(self) -> None:
        """Close the HTTP session and the engine's connections."""
        if self._http is not None:
            await self._http.close()
            self._http = None
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    # -- claim -----------------------------------------------------------------------------
    async def claim(
        self, ids: Sequence[uuid.UUID] | None = None, limit: int | None = None
    ) -> list[Claimed]:
        """Lease a batch of due deliveries (only `ids`, when given) nobody else is sending; each
        carries the token of its lease."""
        token = new_id()
        args: list[Any] = [limit or self.settings.webhook_batch_size, self.lease_seconds, token]
        if ids is not None:
            args.append(list(ids))
        sql = _CLAIM_SQL.format(selection=_DUE if ids is None else _GIVEN)
        # Read before the lease is taken, so the local deadline is never later than the
        # database's.
        start_by = time.monotonic() + self.lease_seconds - self.settings.webhook_timeout_seconds
        start_by -= LEASE_START_MARGIN_SECONDS
        claimed = [Claimed(*row) for row in await self._fetch(sql, *args)]
        bodies: dict[uuid.UUID, bytes] = {}
        for item in claimed:
            item.lease_token, item.start_by = token, start_by
            body = bodies.get(item.message_id)
            if body is None:
                # The payload arrives as JSON text: decoded once per message, not per delivery.
                payload = None if item.payload is None else json.loads(item.payload)
                body = bodies[item.message_id] = message_body(
                    item.event_type, item.message_created_at, payload
                )
            item.body = body
        return claimed

    # -- send ------------------------------------------------------------------------------
    def _key(self, sealed: bytes) -> SigningKey:
        # Opening a sealed secret and keying its HMAC is done once per secret, not per request.
        key = self._keys.get(sealed)
        if key is None:
            if len(self._keys) > 10_000:
                self._keys.clear()
            key = self._keys[sealed] = SigningKey(secret_key_bytes(self.box.open(sealed)))
        return key

    def _signing_keys(self, item: Claimed) -> list[SigningKey]:
        keys = [self._key(item.secret_encrypted)]
        if (
            item.previous_secret_encrypted is not None
            and item.previous_secret_expires_at is not None
            and item.previous_secret_expires_at > utcnow()
        ):
            keys.append(self._key(item.previous_secret_encrypted))
        return keys

    def _check_literal_host(self, url: str) -> None:
        # The verdict on an IP-literal host never changes for a given URL (names are still
        # checked by the resolver on every new connection), so it is worked out once.
        if url not in self._literal_refusals:
            if len(self._literal_refusals) > 10_000:
                self._literal_refusals.clear()
            try:
                check_literal_host(urlsplit(url).hostname or "", self.allowed)
                self._literal_refusals[url] = None
            except SSRFBlocked as exc:
                self._literal_refusals[url] = str(exc)
        refusal = self._literal_refusals[url]
        if refusal is not None:
            raise SSRFBlocked(refusal)

    async def _rate_limited(self, item: Claimed, per_second: int) -> float | None:
        wait = await self.limiter.acquire(item.endpoint_id, per_second)
        if wait is None:
            return None
        return wait + random.uniform(0, 0.05)  # noqa: S311

    async def send_in_time(self, item: Claimed) -> Outcome:
        """Send, unless the lease is too close to its end for a request to finish inside it."""
        if item.out_of_time():
            return Outcome(item=item, released=True)
        return await self.send(item)

    async def send(self, item: Claimed) -> Outcome:
        """One HTTP attempt: signed, no redirects, bounded time, SSRF-checked at connect."""
        if item.rate_limit:
            deferred = await self._rate_limited(item, item.rate_limit)
            if deferred is not None:
                return Outcome(item=item, deferred_for=deferred)
        body = item.body
        webhook_id, timestamp = item.webhook_id, int(time.time())
        signature = signature_header(self._signing_keys(item), webhook_id, timestamp, body)
        headers = {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "webhook-id": webhook_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature,
        }
        outcome = Outcome(
            item=item,
            started_at=utcnow(),
            request_headers_json=_REQUEST_HEADERS_JSON.format(
                id=webhook_id, timestamp=timestamp, signature=signature
            ),
        )
        started = time.perf_counter()
        try:
            self._check_literal_host(item.url)
            http = self._http
            if http is None or http.closed:
                http = await self.http()
            async with http.post(
                item.url, data=body, headers=headers, allow_redirects=False
            ) as resp:
                outcome.status = resp.status
                raw = await resp.content.read(RESPONSE_BODY_LIMIT)
                outcome.response_body = raw.decode("utf-8", errors="replace")
                if not outcome.succeeded:
                    outcome.error_class = "redirect" if 300 <= resp.status < 400 else "http_status"
                    # The headers explain a failure (Retry-After, Location); a success's are
                    # not worth a write each.
                    outcome.response_headers = {
                        k: v[:500] for k, v in list(resp.headers.items())[:50]
                    }
                if resp.status in (429, 503):
                    outcome.retry_after = parse_retry_after(
                        resp.headers.get("retry-after"),
                        maximum=self.settings.webhook_retry_after_max_seconds,
                    )
        except Exception as exc:
            outcome.error_class, outcome.error_detail = classify_error(exc)
        outcome.duration_ms = (time.perf_counter() - started) * 1000
        return outcome

    # -- record ----------------------------------------------------------------------------
    def _next_delay(self, outcome: Outcome, attempt_number: int) -> float:
        if outcome.retry_after is not None:
            return outcome.retry_after
        index = min(attempt_number, len(self.delays) - 1)
        return jittered(self.delays[index])

    async def record(self, outcomes: Sequence[Outcome]) -> None:
        """Write the attempts and the deliveries' new state in one transaction.

        Each delivery is written only while it is still held under the lease it was claimed
        with; outcomes of several claims can be recorded together.
        """
        if not outcomes:
            return
        now = utcnow()
        # Gathered column by column: the statement takes one array per column, and a sender
        # records thousands of outcomes a second.
        deliveries = ColumnArrays(_DELIVERY_COLUMNS)
        attempts = ColumnArrays(_ATTEMPT_COLUMNS)
        released: list[Claimed] = []
        gone: dict[uuid.UUID, uuid.UUID] = {}
        succeeded_endpoints: set[uuid.UUID] = set()
        failing_endpoints: set[uuid.UUID] = set()
        dead_letters: dict[uuid.UUID, int] = defaultdict(int)
        for outcome in outcomes:
            item = outcome.item
            if outcome.released:
                released.append(item)
                continue
            if outcome.deferred_for is not None:
                deliveries.add(
                    item.delivery_id,
                    item.lease_token,
                    DeliveryStatus.pending.value,
                    item.attempt_count,
                    now + timedelta(seconds=outcome.deferred_for),
                    None,
                    "rate_limited",
                    None,
                    item.trigger,
                )
                self.counts.observe_delivery("deferred", None)
                continue
            number = item.attempt_count + 1
            next_at: datetime | None = None
            if outcome.succeeded:
                status = DeliveryStatus.succeeded
                succeeded_endpoints.add(item.endpoint_id)
                latency = (now - item.message_created_at).total_seconds()
                self.counts.observe_delivery("succeeded", latency)
            elif outcome.status == 410 or number >= item.max_attempts:
                status = DeliveryStatus.failed
                failing_endpoints.add(item.endpoint_id)
                dead_letters[item.endpoint_id] += 1
                if outcome.status == 410:
                    gone[item.endpoint_id] = item.tenant_id
                self.counts.observe_delivery("failed", None)
            else:
                status = DeliveryStatus.pending
                failing_endpoints.add(item.endpoint_id)
                next_at = now + timedelta(seconds=self._next_delay(outcome, number))
                self.counts.observe_delivery("retry_scheduled", None)
            deliveries.add(
                item.delivery_id,
                item.lease_token,
                status.value,
                number,
                next_at,
                outcome.status,
                outcome.error_class,
                now if status == DeliveryStatus.succeeded else None,
                "scheduled",
            )
            attempts.add(
                new_bulk_id(),
                item.tenant_id,
                item.delivery_id,
                number,
                item.trigger,
                outcome.started_at or now,
                round(outcome.duration_ms, 3),
                item.url,
                outcome.request_headers_json or "{}",
                outcome.status,
                None if outcome.response_headers is None else _dumps(outcome.response_headers),
                outcome.response_body,
                outcome.error_class,
                outcome.error_detail,
                outcome.succeeded,
                next_at,
            )
        # One batch records at a time in a process: two overlapping writes updating the same
        # endpoints' failure counters could otherwise deadlock each other.
        async with self._recording:
            if not (released or failing_endpoints):
                # Successes and deferrals, the usual case: one statement on an engine connection.
                rows = await self._fetch(_RECORD_SQL, *deliveries.arrays(), *attempts.arrays())
                self._count_lost(rows[0][0], len(deliveries))
                return
            # A failure moves its endpoint's counters and may disable it, with an audit entry
            # and an event: all in one transaction of a session.
            async with self.database.transaction(bypass_rls=True) as session:
                connection = await _driver_connection(session)
                if released:
                    await connection.execute(
                        _RELEASE_SQL,
                        [item.delivery_id for item in released],
                        [item.lease_token for item in released],
                    )
                    for _ in released:
                        self.counts.observe_delivery("released", None)
                if not len(deliveries):
                    return
                held = await connection.fetchval(
                    _RECORD_SQL, *deliveries.arrays(), *attempts.arrays()
                )
                self._count_lost(held, len(deliveries))
                if held:
                    await self._track_endpoints(
                        session, succeeded_endpoints, failing_endpoints, dead_letters, gone
                    )

    def _count_lost(self, held: int, written: int) -> None:
        if held != written:
            self.counts.observe_delivery("lease_lost", None)

    async def _track_endpoints(
        self,
        session: Any,
        succeeded: set[uuid.UUID],
        failing: set[uuid.UUID],
        dead_letters: dict[uuid.UUID, int],
        gone: dict[uuid.UUID, uuid.UUID],
    ) -> None:
        # Endpoints with a success were made healthy by the outcome statement itself.
        only_failing = failing - succeeded
        if only_failing:
            await session.execute(
                update(WebhookEndpoint)
                .where(
                    WebhookEndpoint.id.in_(only_failing), WebhookEndpoint.failing_since.is_(None)
                )
                .values(failing_since=utcnow())
            )
        for endpoint_id, count in dead_letters.items():
            if endpoint_id in succeeded:
                continue
            await session.execute(
                update(WebhookEndpoint)
                .where(WebhookEndpoint.id == endpoint_id)
                .values(consecutive_failures=WebhookEndpoint.consecutive_failures + count)
            )
        if not (only_failing or gone):
            return
        cutoff = utcnow() - timedelta(days=self.settings.webhook_disable_after_days)
        candidates = (
            (
                await session.execute(
                    select(WebhookEndpoint)
                    .where(
                        WebhookEndpoint.id.in_(only_failing | set(gone)),
                        WebhookEndpoint.enabled.is_(True),
                    )
                    .with_for_update()
                )
            )
            .scalars()
            .all()
        )
        for endpoint in candidates:
            if endpoint.id in gone:
                reason = "The endpoint answered 410 Gone"
            elif endpoint.consecutive_failures >= self.settings.webhook_disable_after_failures:
                reason = f"{endpoint.consecutive_failures} messages in a row failed"
            elif endpoint.failing_since is not None and endpoint.failing_since <= cutoff:
                reason = f"Every attempt failed since {endpoint.failing_since.isoformat()}"
            else:
                continue
            await disable_endpoint(session, endpoint, reason)


async def disable_endpoint(session: Any, endpoint: WebhookEndpoint, reason: str) -> None:
    """Disable an endpoint, audit it and tell the tenant's other endpoints."""
    from artisan.webhooks.emit import emit_event

    now = utcnow()
    endpoint.enabled = False
    endpoint.disabled_reason = reason[:200]
    endpoint.disabled_at = now
    await session.flush()
    await record(
        session,
        "webhook.endpoint_disabled",
        tenant_id=endpoint.tenant_id,
        actor=SYSTEM,
        targets=[Target("webhook_endpoint", str(endpoint.id), endpoint.url)],
        metadata={"reason": reason},
    )
    await emit_event(
        session,
        endpoint.tenant_id,
        "webhook_endpoint.disabled",
        {"endpoint_id": endpoint.id, "url": endpoint.url, "reason": reason, "disabled_at": now},
    )
    log.warning("webhook_endpoint_disabled", endpoint_id=str(endpoint.id), reason=reason)


def classify_error(exc: BaseException) -> tuple[str, str]:
    """The attempt log's error class of a failed request, and a short detail."""
    detail = f"{type(exc).__name__}: {exc}"[:500]
    if is_ssrf_error(exc):
        return "ssrf_blocked", detail
    if isinstance(exc, asyncio.TimeoutError | TimeoutError | aiohttp.ServerTimeoutError):
        return "timeout", detail
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return "dns", detail
    if isinstance(exc, aiohttp.ClientSSLError | aiohttp.ClientConnectorCertificateError):
        return "tls", detail
    if isinstance(exc, aiohttp.ClientConnectorError):
        if isinstance(exc.os_error, ConnectionRefusedError):
            return "connection_refused", detail
        return "connection_error", detail
    if isinstance(exc, aiohttp.ClientError):
        return "connection_error", detail
    return "error", detail


async def deliver_batch(engine: DeliveryEngine, ids: Sequence[uuid.UUID] | None = None) -> int:
    """Claim one batch (of `ids`, or of anything due), send it concurrently, record it."""
    claimed = await engine.claim(ids)
    if not claimed:
        return 0
    outcomes = await asyncio.gather(*(engine.send_in_time(item) for item in claimed))
    await engine.record(outcomes)
    return len(claimed)


class _SendRate:
    """Deliveries finished per second, measured over the last second or so."""

    WINDOW_SECONDS = 1.0

    def __init__(self) -> None:
        self.finished = 0
        self._mark = (time.monotonic(), 0)
        self.per_second: float | None = None

    def update(self) -> float | None:
        """Refresh the measured rate (None until a first window has passed)."""
        now = time.monotonic()
        since, count = self._mark
        if now - since >= self.WINDOW_SECONDS:
            self.per_second = (self.finished - count) / (now - since)
            self._mark = (now, self.finished)
        return self.per_second


async def drain(engine: DeliveryEngine, *, budget_seconds: float = 30.0) -> int:
    """Deliver whatever is due for at most `budget_seconds` (then finish what was claimed).

    A fixed pool of WEBHOOK_CONCURRENCY sender coroutines takes claimed deliveries from a local
    queue that one claimer keeps topped up, and one recorder writes outcomes back in bulk once
    half a batch has accumulated or RECORD_INTERVAL_SECONDS have passed, so the HTTP window stays
    full while the database work happens beside it. The queue holds about QUEUED_SECONDS of work at
    the measured send rate (at most a batch), so slow receivers do not leave claimed deliveries
    waiting until their lease runs short; one that did wait that long is handed back unsent.
    """
    concurrency = engine.settings.webhook_concurrency
    batch_size = engine.settings.webhook_batch_size
    deadline = time.monotonic() + budget_seconds
    waiting: asyncio.Queue[Claimed | None] = asyncio.Queue()
    outcomes: list[Outcome] = []
    in_flight = 0  # taken by a sender and not yet recorded
    claimed_total = 0
    low_water = max(1, batch_size // 2)
    record_at = max(1, batch_size // 2)
    rate = _SendRate()
    wanted = asyncio.Event()  # the queue fell below half its target
    to_record = asyncio.Event()
    recorded = asyncio.Event()

    def target() -> int:
        measured = rate.update()
        if measured is None:
            return batch_size
        return max(concurrency, min(batch_size, int(measured * QUEUED_SECONDS)))

    async def claimer() -> None:
        nonlocal claimed_total, low_water
        try:
            while time.monotonic() < deadline:
                goal = target()
                # At least one: with a target of one, claim again once the queue is empty.
                low_water = max(1, goal // 2)
                if waiting.qsize() >= low_water:
                    wanted.clear()
                    await wanted.wait()
                    continue
                recorded.clear()
                # Decided before claiming: a write that ends during the claim may free work the
                # claim's snapshot did not see.
                settled = waiting.empty() and not in_flight
                claimed = await engine.claim(limit=goal - waiting.qsize())
                if claimed:
                    claimed_total += len(claimed)
                    for item in claimed:
                        waiting.put_nowait(item)
                elif settled:
                    return
                else:
                    # What is left may be waiting behind a delivery in flight (ordered
                    # endpoints): look again once something has been recorded.
                    await recorded.wait()
        finally:
            for _ in range(concurrency):
                waiting.put_nowait(None)

    async def sender() -> None:
        nonlocal in_flight
        while True:
            # Taken without a wait while the queue holds work (nearly always, under load).
            item = waiting.get_nowait() if waiting.qsize() else await waiting.get()
            if item is None:
                return
            in_flight += 1
            if waiting.qsize() < low_water:
                wanted.set()
            try:
                # send_in_time's decision, without its extra coroutine per request.
                if item.out_of_time():
                    outcome = Outcome(item=item, released=True)
                else:
                    outcome = await engine.send(item)
            except BaseException:
                in_flight -= 1
                raise
            rate.finished += 1
            outcomes.append(outcome)
            if len(outcomes) >= record_at:
                to_record.set()

    async def recorder() -> None:
        nonlocal in_flight
        while outcomes or not senders.done():
            if len(outcomes) < record_at and not senders.done():
                # Outcomes are written in batches: every write costs a transaction and a few
                # round trips whatever its size.
                to_record.clear()
                woken = asyncio.ensure_future(to_record.wait())
                await asyncio.wait(
                    (senders, woken),
                    timeout=RECORD_INTERVAL_SECONDS,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                woken.cancel()
            if not outcomes:
                continue
            # Taken out in place: a sender appends to this same list.
            batch = outcomes.copy()
            outcomes.clear()
            try:
                await engine.record(batch)
            finally:
                in_flight -= len(batch)
                recorded.set()

    claiming = asyncio.ensure_future(claimer())
    senders = asyncio.gather(*(sender() for _ in range(concurrency)))
    recording = asyncio.ensure_future(recorder())
    try:
        await asyncio.gather(claiming, senders, recording)
    finally:
        for task in (claiming, senders, recording):
            task.cancel()
    return claimed_total
