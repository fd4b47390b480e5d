"""One delivery attempt, as data and pure rules: what was claimed, what happened, what comes next.

Nothing here touches the network or the database: the claimed delivery and its outcome, the
message body every attempt signs, the `webhook-id`, the retry delay (jitter, `Retry-After`) and
the attempt log's error classes.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp

from artisan.core.ids import iso_utc, utcnow
from artisan.webhooks.ssrf import is_ssrf_error

JITTER = 0.2
NO_LEASE = uuid.UUID(int=0)


def webhook_id(message_id: uuid.UUID) -> str:
    """The `webhook-id` of a message: the same for every attempt and every endpoint."""
    return f"msg_{message_id.hex}"


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
    lease_token: uuid.UUID = NO_LEASE
    start_by: float = float("inf")
    # The JSON body, encoded once per message of a claim and shared by its deliveries.
    body: bytes = b""

    def out_of_time(self) -> bool:
        """Too late to start: the request might not end before the lease does."""
        return time.monotonic() > self.start_by

    @property
    def webhook_id(self) -> str:
        """The `webhook-id` header of this delivery's message."""
        return webhook_id(self.message_id)


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
    envelope = {"type": event_type, "timestamp": iso_utc(created_at), "data": payload}
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


def next_delay(outcome: Outcome, attempt_number: int, delays: Sequence[float]) -> float:
    """Seconds until the next attempt: the receiver's `Retry-After`, else the jittered schedule."""
    if outcome.retry_after is not None:
        return outcome.retry_after
    index = min(attempt_number, len(delays) - 1)
    return jittered(delays[index])


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
