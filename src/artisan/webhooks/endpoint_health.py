"""Endpoint health: failure tracking, and auto-disabling an endpoint that keeps failing.

The delivery engine reports what a batch of outcomes said about each endpoint; this module moves
the endpoints' failure state in the same transaction as those outcomes and disables an endpoint
that answered 410 Gone, failed too many messages in a row or has failed for too long, with its
audit entry and the `webhook_endpoint.disabled` event to the tenant's other endpoints.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta

import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from artisan.audit.recorder import SYSTEM, Target, record
from artisan.config import Settings
from artisan.core.ids import iso_utc, utcnow
from artisan.models.webhook import WebhookEndpoint
from artisan.webhooks.emit import emit_event
from artisan.webhooks.events import WebhookEndpointDisabled

log = structlog.get_logger(__name__)


@dataclass(slots=True)
class HealthReport:
    """What one batch of outcomes says about its endpoints."""

    succeeded: set[uuid.UUID] = field(default_factory=set)
    failing: set[uuid.UUID] = field(default_factory=set)
    # Messages that used up their attempts, by endpoint.
    dead_letters: dict[uuid.UUID, int] = field(default_factory=lambda: defaultdict(int))
    # Endpoints that answered 410 Gone.
    gone: set[uuid.UUID] = field(default_factory=set)

    def succeeded_on(self, endpoint_id: uuid.UUID) -> None:
        """A delivery to the endpoint succeeded."""
        self.succeeded.add(endpoint_id)

    def failed_on(self, endpoint_id: uuid.UUID, *, final: bool, gone: bool) -> None:
        """An attempt to the endpoint failed (`final`: its message has no attempt left)."""
        self.failing.add(endpoint_id)
        if final:
            self.dead_letters[endpoint_id] += 1
        if gone:
            self.gone.add(endpoint_id)


class EndpointHealth:
    """Applies health reports under the deployment's disabling policy."""

    def __init__(self, settings: Settings) -> None:
        self.disable_after_failures = settings.webhook_disable_after_failures
        self.disable_after = timedelta(days=settings.webhook_disable_after_days)

    async def apply(self, session: AsyncSession, report: HealthReport) -> None:
        """Move failing endpoints' counters and disable the ones past the policy's limits."""
        # Endpoints with a success were made healthy by the outcome statement itself.
        only_failing = report.failing - report.succeeded
        if only_failing:
            await session.execute(
                update(WebhookEndpoint)
                .where(
                    WebhookEndpoint.id.in_(only_failing), WebhookEndpoint.failing_since.is_(None)
                )
                .values(failing_since=utcnow())
            )
        for endpoint_id, count in report.dead_letters.items():
            if endpoint_id in report.succeeded:
                continue
            await session.execute(
                update(WebhookEndpoint)
                .where(WebhookEndpoint.id == endpoint_id)
                .values(consecutive_failures=WebhookEndpoint.consecutive_failures + count)
            )
        if not (only_failing or report.gone):
            return
        cutoff = utcnow() - self.disable_after
        candidates = (
            (
                await session.execute(
                    select(WebhookEndpoint)
                    .where(
                        WebhookEndpoint.id.in_(only_failing | report.gone),
                        WebhookEndpoint.enabled.is_(True),
                    )
                    .with_for_update()
                )
            )
            .scalars()
            .all()
        )
        for endpoint in candidates:
            if endpoint.id in report.gone:
                reason = "The endpoint answered 410 Gone"
            elif endpoint.consecutive_failures >= self.disable_after_failures:
                reason = f"{endpoint.consecutive_failures} messages in a row failed"
            elif endpoint.failing_since is not None and endpoint.failing_since <= cutoff:
                reason = f"Every attempt failed since {iso_utc(endpoint.failing_since)}"
            else:
                continue
            await disable_endpoint(session, endpoint, reason)


async def disable_endpoint(session: AsyncSession, endpoint: WebhookEndpoint, reason: str) -> None:
    """Disable an endpoint, audit it and tell the tenant's other endpoints."""
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
    payload = WebhookEndpointDisabled(
        endpoint_id=endpoint.id, url=endpoint.url, reason=reason, disabled_at=now
    )
    await emit_event(session, endpoint.tenant_id, "webhook_endpoint.disabled", payload)
    log.warning("webhook_endpoint_disabled", endpoint_id=str(endpoint.id), reason=reason)
