"""Tenant admins manage webhook endpoints and inspect, replay and recover their deliveries."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status
from pydantic import AwareDatetime

from artisan.auth.dependencies import require_tenant_role, require_tenant_scope
from artisan.auth.principal import Principal
from artisan.core.db import SessionDep
from artisan.core.dependencies import SettingsDep
from artisan.core.errors import problem_responses
from artisan.core.pagination import Page, PageParams, page_params
from artisan.models.webhook import DeliveryStatus
from artisan.webhooks import service
from artisan.webhooks.events import EVENTS
from artisan.webhooks.schemas import (
    DeliveryDetail,
    DeliveryOut,
    EventTypeOut,
    RecoverRequest,
    RecoverResult,
    RotateSecret,
    WebhookCreate,
    WebhookCreated,
    WebhookOut,
    WebhookSecret,
    WebhookUpdate,
)

router = APIRouter(prefix="/api/admin/{tenant_id}/webhooks", tags=["webhooks"])
Reader = Annotated[Principal, Depends(require_tenant_scope("webhooks:read"))]
Writer = Annotated[Principal, Depends(require_tenant_scope("webhooks:write"))]
Admin = Annotated[Principal, Depends(require_tenant_role("admin"))]
_ERRORS = problem_responses(401, 402, 403, 404, 409, 413, 422, 429)


@router.get("/event-types", response_model=list[EventTypeOut], responses=_ERRORS)
async def list_event_types(tenant_id: uuid.UUID, principal: Reader) -> list[EventTypeOut]:
    """The catalogue of event types, each with the JSON Schema of its payload."""
    return [
        EventTypeOut(name=e.name, description=e.description, schema_=e.json_schema())
        for e in EVENTS.all()
    ]


@router.get("", response_model=Page[WebhookOut], responses=_ERRORS)
async def list_webhooks(
    tenant_id: uuid.UUID,
    principal: Reader,
    session: SessionDep,
    page: Annotated[PageParams, Depends(page_params)],
    enabled: bool | None = None,
) -> Page[WebhookOut]:
    """List the tenant's webhook endpoints, newest first."""
    rows, cursor = await service.list_endpoints(session, principal, page, enabled=enabled)
    return Page.of([service.endpoint_out(e) for e in rows], cursor)


@router.post(
    "", response_model=WebhookCreated, status_code=status.HTTP_201_CREATED, responses=_ERRORS
)
async def create_webhook(
    tenant_id: uuid.UUID,
    data: WebhookCreate,
    principal: Writer,
    session: SessionDep,
    settings: SettingsDep,
) -> WebhookCreated:
    """Create an endpoint; the answer carries its signing secret."""
    endpoint, secret = await service.create_endpoint(session, principal, settings, data)
    return WebhookCreated(**service.endpoint_out(endpoint).model_dump(), secret=secret)


@router.get("/{webhook_id}", response_model=WebhookOut, responses=_ERRORS)
async def get_webhook(
    tenant_id: uuid.UUID, webhook_id: uuid.UUID, principal: Reader, session: SessionDep
) -> WebhookOut:
    """One endpoint."""
    return service.endpoint_out(await service.get_endpoint(session, principal, webhook_id))


@router.patch("/{webhook_id}", response_model=WebhookOut, responses=_ERRORS)
async def update_webhook(
    tenant_id: uuid.UUID,
    webhook_id: uuid.UUID,
    data: WebhookUpdate,
    principal: Writer,
    session: SessionDep,
    settings: SettingsDep,
) -> WebhookOut:
    """Change an endpoint's URL, subscriptions, ordering, rate limit, or enable/disable it."""
    endpoint = await service.update_endpoint(session, principal, settings, webhook_id, data)
    return service.endpoint_out(endpoint)


@router.delete("/{webhook_id}", status_code=status.HTTP_204_NO_CONTENT, responses=_ERRORS)
async def delete_webhook(
    tenant_id: uuid.UUID, webhook_id: uuid.UUID, principal: Writer, session: SessionDep
) -> Response:
    """Delete an endpoint with its deliveries."""
    await service.delete_endpoint(session, principal, webhook_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{webhook_id}/secret", response_model=WebhookSecret, responses=_ERRORS)
async def reveal_secret(
    tenant_id: uuid.UUID,
    webhook_id: uuid.UUID,
    principal: Admin,
    session: SessionDep,
    settings: SettingsDep,
) -> WebhookSecret:
    """Reveal the endpoint's signing secret (admins only; audited)."""
    secret, expires = await service.reveal_secret(session, principal, settings, webhook_id)
    return WebhookSecret(secret=secret, previous_secret_expires_at=expires)


@router.post("/{webhook_id}/rotate-secret", response_model=WebhookSecret, responses=_ERRORS)
async def rotate_secret(
    tenant_id: uuid.UUID,
    webhook_id: uuid.UUID,
    principal: Writer,
    session: SessionDep,
    settings: SettingsDep,
    data: RotateSecret | None = None,
) -> WebhookSecret:
    """Rotate the secret; the previous one keeps signing for the window (default 24 h, max 7 d)."""
    window = (data or RotateSecret()).window_hours
    endpoint, secret = await service.rotate_secret(session, principal, settings, webhook_id, window)
    return WebhookSecret(
        secret=secret, previous_secret_expires_at=endpoint.previous_secret_expires_at
    )


@router.post(
    "/{webhook_id}/test",
    response_model=DeliveryOut,
    status_code=status.HTTP_202_ACCEPTED,
    responses=_ERRORS,
)
async def send_test(
    tenant_id: uuid.UUID, webhook_id: uuid.UUID, principal: Writer, session: SessionDep
) -> DeliveryOut:
    """Send a `webhook.test` event to this endpoint."""
    return service.delivery_out(await service.send_test(session, principal, webhook_id))


@router.post(
    "/{webhook_id}/replay/{delivery_id}",
    response_model=DeliveryOut,
    status_code=status.HTTP_202_ACCEPTED,
    responses=_ERRORS,
)
async def replay_delivery(
    tenant_id: uuid.UUID,
    webhook_id: uuid.UUID,
    delivery_id: uuid.UUID,
    principal: Writer,
    session: SessionDep,
) -> DeliveryOut:
    """Send one delivery again as a new attempt with the same `webhook-id`."""
    delivery = await service.replay_delivery(session, principal, webhook_id, delivery_id)
    return service.delivery_out(delivery)


@router.post(
    "/{webhook_id}/recover",
    response_model=RecoverResult,
    status_code=status.HTTP_202_ACCEPTED,
    responses=_ERRORS,
)
async def recover_deliveries(
    tenant_id: uuid.UUID,
    webhook_id: uuid.UUID,
    data: RecoverRequest,
    principal: Writer,
    session: SessionDep,
) -> RecoverResult:
    """Send again every failed delivery created in the time range."""
    count = await service.recover_deliveries(session, principal, webhook_id, data.since, data.until)
    return RecoverResult(recovered=count)


@router.get("/{webhook_id}/deliveries", response_model=Page[DeliveryOut], responses=_ERRORS)
async def list_deliveries(
    tenant_id: uuid.UUID,
    webhook_id: uuid.UUID,
    principal: Reader,
    session: SessionDep,
    page: Annotated[PageParams, Depends(page_params)],
    status: DeliveryStatus | None = None,
    event_type: Annotated[str | None, Query(max_length=100)] = None,
    since: AwareDatetime | None = None,
    until: AwareDatetime | None = None,
) -> Page[DeliveryOut]:
    """An endpoint's deliveries, newest first, filtered by status, event type and date."""
    rows, cursor = await service.list_deliveries(
        session,
        principal,
        webhook_id,
        page,
        status=status,
        event_type=event_type,
        since=since,
        until=until,
    )
    return Page.of([service.delivery_out(d) for d in rows], cursor)


@router.get(
    "/{webhook_id}/deliveries/{delivery_id}", response_model=DeliveryDetail, responses=_ERRORS
)
async def get_delivery(
    tenant_id: uuid.UUID,
    webhook_id: uuid.UUID,
    delivery_id: uuid.UUID,
    principal: Reader,
    session: SessionDep,
) -> DeliveryDetail:
    """One delivery with its payload and every attempt."""
    return await service.delivery_detail(session, principal, webhook_id, delivery_id)
