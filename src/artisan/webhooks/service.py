"""Managing endpoints and their deliveries: CRUD, secrets, replay, recover, test events."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import Select, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from artisan.audit.recorder import Target, record
from artisan.auth.principal import Principal
from artisan.config import Settings
from artisan.core.db import one_or_404
from artisan.core.errors import Conflict, ValidationFailed
from artisan.core.ids import iso_utc, utcnow
from artisan.core.pagination import PageParams, paginate
from artisan.models.webhook import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from artisan.tenants.features import require_feature
from artisan.tenants.service import check_limit
from artisan.webhooks.attempts import webhook_id
from artisan.webhooks.emit import dispatch_after_commit, enqueue_message
from artisan.webhooks.events import EVENTS, WebhookTest
from artisan.webhooks.schemas import (
    AttemptOut,
    DeliveryDetail,
    DeliveryOut,
    WebhookCreate,
    WebhookOut,
    WebhookUpdate,
)
from artisan.webhooks.signing import SecretBox, generate_secret
from artisan.webhooks.ssrf import InvalidWebhookURL, parse_networks, validate_url


def tenant_endpoints(principal: Principal) -> Select[WebhookEndpoint]:
    """The tenant's endpoints: the one place the tenant filter is written."""
    return select(WebhookEndpoint).where(WebhookEndpoint.tenant_id == principal.tenant_id)


def endpoint_out(endpoint: WebhookEndpoint) -> WebhookOut:
    """The wire form of an endpoint."""
    expires = endpoint.previous_secret_expires_at
    return WebhookOut(
        id=endpoint.id,
        tenant_id=endpoint.tenant_id,
        url=endpoint.url,
        description=endpoint.description,
        event_types=list(endpoint.event_types or []),
        enabled=endpoint.enabled,
        disabled_reason=endpoint.disabled_reason,
        disabled_at=endpoint.disabled_at,
        ordered=endpoint.ordered,
        rate_limit=endpoint.rate_limit,
        previous_secret_expires_at=expires if expires and expires > utcnow() else None,
        failing_since=endpoint.failing_since,
        consecutive_failures=endpoint.consecutive_failures,
        created_at=endpoint.created_at,
        updated_at=endpoint.updated_at,
    )


def delivery_out(delivery: WebhookDelivery) -> DeliveryOut:
    """The wire form of a delivery."""
    return DeliveryOut(
        id=delivery.id,
        endpoint_id=delivery.endpoint_id,
        message_id=delivery.message_id,
        webhook_id=webhook_id(delivery.message_id),
        event_type=delivery.event_type,
        status=delivery.status,
        attempt_count=delivery.attempt_count,
        max_attempts=delivery.max_attempts,
        next_attempt_at=delivery.next_attempt_at,
        last_status_code=delivery.last_status_code,
        last_error=delivery.last_error,
        delivered_at=delivery.delivered_at,
        created_at=delivery.created_at,
        updated_at=delivery.updated_at,
    )


def _target(endpoint: WebhookEndpoint) -> Target:
    return Target("webhook_endpoint", str(endpoint.id), endpoint.url)


def _check_url(settings: Settings, url: str) -> str:
    try:
        return validate_url(
            url,
            https_required=settings.webhook_https_required,
            allowed=parse_networks(settings.webhook_allow_private_networks),
        )
    except InvalidWebhookURL as exc:
        raise ValidationFailed(str(exc), code="invalid_webhook_url") from exc


def _check_event_types(patterns: list[str]) -> list[str]:
    unknown = [p for p in patterns if not EVENTS.pattern_is_known(p)]
    if unknown:
        raise ValidationFailed(
            f"Unknown event types: {', '.join(sorted(unknown))}",
            code="unknown_event_type",
            unknown=sorted(unknown),
        )
    return sorted(set(patterns))


async def get_endpoint(
    session: AsyncSession, principal: Principal, endpoint_id: uuid.UUID, *, for_update: bool = False
) -> WebhookEndpoint:
    """One endpoint of the tenant; 404 for anyone else."""
    query = tenant_endpoints(principal).where(WebhookEndpoint.id == endpoint_id)
    return await one_or_404(session, query, "No such webhook endpoint", for_update=for_update)


async def count_endpoints(session: AsyncSession, tenant_id: uuid.UUID) -> int:
    """The tenant's endpoints (the plan limit counts them)."""
    query = select(func.count()).where(WebhookEndpoint.tenant_id == tenant_id)
    return int((await session.execute(query)).scalar_one())


async def list_endpoints(
    session: AsyncSession, principal: Principal, params: PageParams, *, enabled: bool | None
) -> tuple[list[WebhookEndpoint], str | None]:
    """One page of the tenant's endpoints, newest first."""
    query = tenant_endpoints(principal)
    if enabled is not None:
        query = query.where(WebhookEndpoint.enabled.is_(enabled))
    rows, cursor = await paginate(session, query, WebhookEndpoint.id, params)
    return list(rows), cursor


async def create_endpoint(
    session: AsyncSession, principal: Principal, settings: Settings, data: WebhookCreate
) -> tuple[WebhookEndpoint, str]:
    """Create an endpoint with a new secret (returned once, here)."""
    require_feature(principal.tenant, "webhooks")
    url = _check_url(settings, data.url)
    patterns = _check_event_types(data.event_types)
    await check_limit(session, principal.tenant_id, "webhooks")
    secret = generate_secret()
    endpoint = WebhookEndpoint(
        tenant_id=principal.tenant_id,
        url=url,
        description=data.description,
        event_types=patterns,
        secret_encrypted=SecretBox(settings.secret_key).seal(secret),
        enabled=data.enabled,
        ordered=data.ordered,
        rate_limit=data.rate_limit,
        consecutive_failures=0,
    )
    session.add(endpoint)
    await session.flush()
    await session.refresh(endpoint)
    await record(
        session,
        "webhook.created",
        tenant_id=principal.tenant_id,
        actor=principal,
        targets=[_target(endpoint)],
        metadata={"event_types": patterns, "ordered": data.ordered, "rate_limit": data.rate_limit},
    )
    return endpoint, secret


async def update_endpoint(
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
    endpoint_id: uuid.UUID,
    data: WebhookUpdate,
) -> WebhookEndpoint:
    """Change an endpoint; re-enabling it clears its failure history."""
    endpoint = await get_endpoint(session, principal, endpoint_id, for_update=True)
    fields = data.model_fields_set
    changes: dict[str, object] = {}
    for name in ("url", "enabled", "ordered"):
        if name in fields and getattr(data, name) is None:
            raise ValidationFailed(f"{name} cannot be null", code="invalid_field")
    if "url" in fields and data.url is not None and data.url != endpoint.url:
        endpoint.url = changes["url"] = _check_url(settings, data.url)
    if "event_types" in fields:
        patterns = _check_event_types(data.event_types or [])
        if patterns != endpoint.event_types:
            endpoint.event_types = changes["event_types"] = patterns
    if "description" in fields and data.description != endpoint.description:
        endpoint.description = changes["description"] = data.description
    if "ordered" in fields and data.ordered is not None and data.ordered != endpoint.ordered:
        endpoint.ordered = changes["ordered"] = data.ordered
    if "rate_limit" in fields and data.rate_limit != endpoint.rate_limit:
        endpoint.rate_limit = changes["rate_limit"] = data.rate_limit
    if "enabled" in fields and data.enabled is not None and data.enabled != endpoint.enabled:
        endpoint.enabled = changes["enabled"] = data.enabled
        if data.enabled:
            endpoint.disabled_reason = endpoint.disabled_at = endpoint.failing_since = None
            endpoint.consecutive_failures = 0
        else:
            endpoint.disabled_reason = "Disabled by a user"
            endpoint.disabled_at = utcnow()
    if changes:
        await record(
            session,
            "webhook.updated",
            tenant_id=principal.tenant_id,
            actor=principal,
            targets=[_target(endpoint)],
            metadata={"changes": sorted(changes)},
        )
    await session.flush()
    await session.refresh(endpoint)
    return endpoint


async def delete_endpoint(
    session: AsyncSession, principal: Principal, endpoint_id: uuid.UUID
) -> None:
    """Delete an endpoint with its deliveries and attempts."""
    endpoint = await get_endpoint(session, principal, endpoint_id, for_update=True)
    await record(
        session,
        "webhook.deleted",
        tenant_id=principal.tenant_id,
        actor=principal,
        targets=[_target(endpoint)],
    )
    await session.delete(endpoint)
    await session.flush()


async def reveal_secret(
    session: AsyncSession, principal: Principal, settings: Settings, endpoint_id: uuid.UUID
) -> tuple[str, datetime | None]:
    """The endpoint's current secret (audited)."""
    endpoint = await get_endpoint(session, principal, endpoint_id)
    await record(
        session,
        "webhook.secret_revealed",
        tenant_id=principal.tenant_id,
        actor=principal,
        targets=[_target(endpoint)],
    )
    expires = endpoint.previous_secret_expires_at
    return SecretBox(settings.secret_key).open(endpoint.secret_encrypted), (
        expires if expires and expires > utcnow() else None
    )


async def rotate_secret(
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
    endpoint_id: uuid.UUID,
    window_hours: float,
) -> tuple[WebhookEndpoint, str]:
    """A new secret; the previous one keeps signing beside it for `window_hours`."""
    endpoint = await get_endpoint(session, principal, endpoint_id, for_update=True)
    box = SecretBox(settings.secret_key)
    secret = generate_secret()
    if window_hours > 0:
        endpoint.previous_secret_encrypted = endpoint.secret_encrypted
        endpoint.previous_secret_expires_at = utcnow() + timedelta(hours=window_hours)
    else:
        endpoint.previous_secret_encrypted = endpoint.previous_secret_expires_at = None
    endpoint.secret_encrypted = box.seal(secret)
    await record(
        session,
        "webhook.secret_rotated",
        tenant_id=principal.tenant_id,
        actor=principal,
        targets=[_target(endpoint)],
        metadata={"window_hours": window_hours},
    )
    await session.flush()
    await session.refresh(endpoint)
    return endpoint, secret


async def _get_delivery(
    session: AsyncSession, endpoint: WebhookEndpoint, delivery_id: uuid.UUID, *, for_update: bool
) -> WebhookDelivery:
    query = select(WebhookDelivery).where(
        WebhookDelivery.id == delivery_id,
        WebhookDelivery.endpoint_id == endpoint.id,
        WebhookDelivery.tenant_id == endpoint.tenant_id,
    )
    return await one_or_404(session, query, "No such delivery", for_update=for_update)


def _ensure_enabled(endpoint: WebhookEndpoint) -> None:
    if not endpoint.enabled:
        raise Conflict("The endpoint is disabled; enable it first", code="endpoint_disabled")


async def replay_delivery(
    session: AsyncSession, principal: Principal, endpoint_id: uuid.UUID, delivery_id: uuid.UUID
) -> WebhookDelivery:
    """Send one delivery again, as one new attempt with the same `webhook-id`."""
    require_feature(principal.tenant, "webhooks")
    endpoint = await get_endpoint(session, principal, endpoint_id)
    _ensure_enabled(endpoint)
    delivery = await _get_delivery(session, endpoint, delivery_id, for_update=True)
    now = utcnow()
    if delivery.status == DeliveryStatus.pending:
        raise Conflict("The delivery is still being attempted", code="delivery_pending")
    delivery.status = DeliveryStatus.pending
    delivery.max_attempts = delivery.attempt_count + 1
    delivery.next_attempt_at = now
    delivery.enqueued_at = now
    delivery.next_trigger = "replay"
    await record(
        session,
        "webhook.delivery_replayed",
        tenant_id=principal.tenant_id,
        actor=principal,
        targets=[_target(endpoint), Target("webhook_delivery", str(delivery.id))],
    )
    await session.flush()
    await session.refresh(delivery)
    dispatch_after_commit(session, [delivery.id])
    return delivery


async def recover_deliveries(
    session: AsyncSession,
    principal: Principal,
    endpoint_id: uuid.UUID,
    since: datetime,
    until: datetime | None,
) -> int:
    """Send again every failed delivery of the endpoint created in [since, until)."""
    require_feature(principal.tenant, "webhooks")
    endpoint = await get_endpoint(session, principal, endpoint_id)
    _ensure_enabled(endpoint)
    now = utcnow()
    query = (
        update(WebhookDelivery)
        .where(
            WebhookDelivery.endpoint_id == endpoint.id,
            WebhookDelivery.tenant_id == principal.tenant_id,
            WebhookDelivery.status == DeliveryStatus.failed,
            WebhookDelivery.created_at >= since,
        )
        .values(
            status=DeliveryStatus.pending,
            max_attempts=WebhookDelivery.attempt_count + 1,
            next_attempt_at=now,
            enqueued_at=now,
            next_trigger="recover",
        )
        .returning(WebhookDelivery.id)
    )
    if until is not None:
        query = query.where(WebhookDelivery.created_at < until)
    ids = list((await session.execute(query)).scalars().all())
    await record(
        session,
        "webhook.deliveries_recovered",
        tenant_id=principal.tenant_id,
        actor=principal,
        targets=[_target(endpoint)],
        metadata={
            "since": iso_utc(since),
            "until": iso_utc(until) if until else None,
            "count": len(ids),
        },
    )
    dispatch_after_commit(session, ids)
    return len(ids)


async def send_test(
    session: AsyncSession, principal: Principal, endpoint_id: uuid.UUID
) -> WebhookDelivery:
    """Send a `webhook.test` event to this endpoint only."""
    require_feature(principal.tenant, "webhooks")
    endpoint = await get_endpoint(session, principal, endpoint_id)
    _ensure_enabled(endpoint)
    _, ids = await enqueue_message(
        session,
        principal.tenant_id,
        "webhook.test",
        WebhookTest(endpoint_id=endpoint.id),
        [endpoint.id],
        trigger="test",
    )
    await record(
        session,
        "webhook.test_sent",
        tenant_id=principal.tenant_id,
        actor=principal,
        targets=[_target(endpoint)],
    )
    return await _get_delivery(session, endpoint, ids[0], for_update=False)


async def list_deliveries(
    session: AsyncSession,
    principal: Principal,
    endpoint_id: uuid.UUID,
    params: PageParams,
    *,
    status: DeliveryStatus | None,
    event_type: str | None,
    since: datetime | None,
    until: datetime | None,
) -> tuple[list[WebhookDelivery], str | None]:
    """One page of an endpoint's deliveries, newest first, with filters."""
    endpoint = await get_endpoint(session, principal, endpoint_id)
    query = select(WebhookDelivery).where(
        WebhookDelivery.endpoint_id == endpoint.id,
        WebhookDelivery.tenant_id == principal.tenant_id,
    )
    if status is not None:
        query = query.where(WebhookDelivery.status == status)
    if event_type:
        query = query.where(WebhookDelivery.event_type == event_type)
    if since is not None:
        query = query.where(WebhookDelivery.created_at >= since)
    if until is not None:
        query = query.where(WebhookDelivery.created_at < until)
    rows, cursor = await paginate(session, query, WebhookDelivery.id, params)
    return list(rows), cursor


async def delivery_detail(
    session: AsyncSession, principal: Principal, endpoint_id: uuid.UUID, delivery_id: uuid.UUID
) -> DeliveryDetail:
    """A delivery with its payload and attempts."""
    from artisan.models.webhook import WebhookMessage

    endpoint = await get_endpoint(session, principal, endpoint_id)
    delivery = await _get_delivery(session, endpoint, delivery_id, for_update=False)
    payload = (
        await session.execute(
            select(WebhookMessage.payload).where(WebhookMessage.id == delivery.message_id)
        )
    ).scalar_one_or_none()
    attempts = (
        (
            await session.execute(
                select(WebhookAttempt)
                .where(WebhookAttempt.delivery_id == delivery.id)
                .order_by(WebhookAttempt.attempt_number, WebhookAttempt.id)
            )
        )
        .scalars()
        .all()
    )
    return DeliveryDetail(
        **delivery_out(delivery).model_dump(),
        payload=payload,
        attempts=[AttemptOut.model_validate(a, from_attributes=True) for a in attempts],
    )
