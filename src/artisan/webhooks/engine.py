"""The delivery engine shared by Celery workers and the in-process runner.

PostgreSQL is the source of truth: a batch of due deliveries is claimed with a lease
(`FOR UPDATE SKIP LOCKED`), sent concurrently over one aiohttp session, and the outcomes are
written back in bulk, guarded by the lease token so a worker that lost its lease changes nothing.
The statements are in `engine_sql`, the attempt's pure rules in `attempts`, endpoint failure
tracking in `endpoint_health`, and the pools of senders that drive the engine in `sender_pool`.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import asyncpg
import structlog
from limits import RateLimitItemPerSecond
from limits.aio.storage import Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from artisan.config import Settings
from artisan.core.bulk import ColumnArrays
from artisan.core.db import Database, server_settings
from artisan.core.ids import new_bulk_id, new_id, utcnow
from artisan.models.webhook import DeliveryStatus
from artisan.webhooks.attempts import (
    Claimed,
    Outcome,
    classify_error,
    message_body,
    next_delay,
    parse_retry_after,
)
from artisan.webhooks.endpoint_health import EndpointHealth, HealthReport
from artisan.webhooks.engine_sql import (
    ATTEMPT_COLUMNS,
    CLAIM_DUE_SQL,
    CLAIM_GIVEN_SQL,
    DELIVERY_COLUMNS,
    RECORD_SQL,
    RELEASE_SQL,
)
from artisan.webhooks.metrics import MetricCounts
from artisan.webhooks.signing import SecretBox, SigningKey, secret_key_bytes, signature_header
from artisan.webhooks.ssrf import GuardedResolver, SSRFBlocked, check_literal_host, parse_networks

log = structlog.get_logger(__name__)

RESPONSE_BODY_LIMIT = 16 * 1024
USER_AGENT = "Artisan-Webhooks/1.0"
LEASE_MARGIN_SECONDS = 5.0
# A request starts only with its whole timeout plus this much of its lease left.
LEASE_START_MARGIN_SECONDS = 1.0


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


_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
# The attempt log's copy of what `send` puts on the wire. Filled by formatting, not encoding:
# every value is JSON-safe as it stands (a constant, `msg_` and hex digits, decimal digits, and
# `v1,` signatures in base64 joined by spaces), and this runs once per request.
_REQUEST_HEADERS_JSON = (
    '{{"content-type":"application/json","user-agent":"' + USER_AGENT + '",'
    '"webhook-id":"{id}","webhook-timestamp":"{timestamp}","webhook-signature":"{signature}"}}'
)


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
        self.health = EndpointHealth(settings)
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
        sql = CLAIM_DUE_SQL if ids is None else CLAIM_GIVEN_SQL
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
        deliveries = ColumnArrays(DELIVERY_COLUMNS)
        attempts = ColumnArrays(ATTEMPT_COLUMNS)
        released: list[Claimed] = []
        health = HealthReport()
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
                health.succeeded_on(item.endpoint_id)
                latency = (now - item.message_created_at).total_seconds()
                self.counts.observe_delivery("succeeded", latency)
            elif outcome.status == 410 or number >= item.max_attempts:
                status = DeliveryStatus.failed
                health.failed_on(item.endpoint_id, final=True, gone=outcome.status == 410)
                self.counts.observe_delivery("failed", None)
            else:
                status = DeliveryStatus.pending
                health.failed_on(item.endpoint_id, final=False, gone=False)
                next_at = now + timedelta(seconds=next_delay(outcome, number, self.delays))
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
            if not (released or health.failing):
                # Successes and deferrals, the usual case: one statement on an engine connection.
                rows = await self._fetch(RECORD_SQL, *deliveries.arrays(), *attempts.arrays())
                self._count_lost(rows[0][0], len(deliveries))
                return
            # A failure moves its endpoint's counters and may disable it, with an audit entry
            # and an event: all in one transaction of a session.
            async with self.database.transaction(bypass_rls=True) as session:
                connection = await _driver_connection(session)
                if released:
                    await connection.execute(
                        RELEASE_SQL,
                        [item.delivery_id for item in released],
                        [item.lease_token for item in released],
                    )
                    for _ in released:
                        self.counts.observe_delivery("released", None)
                if not len(deliveries):
                    return
                held = await connection.fetchval(
                    RECORD_SQL, *deliveries.arrays(), *attempts.arrays()
                )
                self._count_lost(held, len(deliveries))
                if held:
                    await self.health.apply(session, health)

    def _count_lost(self, held: int, written: int) -> None:
        if held != written:
            self.counts.observe_delivery("lease_lost", None)
