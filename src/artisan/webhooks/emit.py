"""`emit_event` and `emit_events`: a domain's events to its tenant's endpoints, in its transaction."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import BaseModel
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from artisan.config import get_settings
from artisan.core.bulk import ColumnArrays, unnest_named
from artisan.core.db import Database, on_commit
from artisan.core.errors import PayloadTooLarge
from artisan.core.ids import new_bulk_id, new_id, utcnow
from artisan.models.tenant import Tenant
from artisan.models.webhook import WebhookEndpoint, WebhookMessage
from artisan.tenants.features import feature_sql
from artisan.webhooks.catalogue import matches
from artisan.webhooks.events import EVENTS

SESSION_KEY = "webhooks"
_WEBHOOKS_ON = text(feature_sql("webhooks", "tenants"))
PENDING_KEY = "webhook_pending_deliveries"

_MESSAGE_COLUMNS = {
    "id": "uuid",
    "event_type": "text",
    "payload": "text",
    "payload_size": "int",
    "created_at": "timestamptz",
}
_DELIVERY_COLUMNS = {
    "id": "uuid",
    "endpoint_id": "uuid",
    "message_id": "uuid",
    "event_type": "text",
    "created_at": "timestamptz",
}


_INSERT_MESSAGES_SQL = f"""
INSERT INTO webhook_messages (id, tenant_id, event_type, payload, payload_size, created_at)
SELECT v.id, :tenant_id, v.event_type, CAST(v.payload AS jsonb), v.payload_size, v.created_at
FROM {unnest_named(_MESSAGE_COLUMNS)}
"""  # noqa: S608 - built from the constant column list above
# A delivery is due the moment its message is created.
_INSERT_DELIVERIES_SQL = f"""
INSERT INTO webhook_deliveries (id, tenant_id, endpoint_id, message_id, event_type, status,
    attempt_count, max_attempts, next_trigger, next_attempt_at, enqueued_at)
SELECT v.id, :tenant_id, v.endpoint_id, v.message_id, v.event_type,
    CAST('pending' AS webhook_delivery_status), 0, :max_attempts, :trigger, v.created_at,
    CASE WHEN :enqueued THEN v.created_at END
FROM {unnest_named(_DELIVERY_COLUMNS)}
"""  # noqa: S608 - built from the constant column list above


class Dispatcher(Protocol):
    """Gets due deliveries to a sender after the transaction that created them commits."""

    async def dispatch(self, delivery_ids: Sequence[uuid.UUID]) -> None:
        """Hand the deliveries over (a queue message, or waking the in-process runner)."""


@dataclass(frozen=True, slots=True)
class WebhookContext:
    """What emission needs from the process: who sends, the payload limit, attempts per message."""

    dispatcher: Dispatcher | None
    max_payload_bytes: int
    max_attempts: int


def install_webhooks(database: Database, context: WebhookContext) -> None:
    """Make every session of `database` carry the webhook context (read by `emit_event`)."""
    database.add_session_info(SESSION_KEY, context)


def _context(session: AsyncSession) -> WebhookContext:
    context = session.info.get(SESSION_KEY)
    if isinstance(context, WebhookContext):
        return context
    settings = get_settings()
    # No sender in this process: the rows wait in PostgreSQL for a sweeper to pick them up.
    return WebhookContext(
        None, settings.webhook_max_payload_bytes, len(settings.webhook_retry_delays)
    )


# A domain's builders pass the typed payload model of their event; tests and tools may pass
# its fields as a mapping, validated against the same model.
Payload = BaseModel | Mapping[str, Any]


def validate_payload(event_type: str, payload: Payload) -> dict[str, Any]:
    """The payload checked against the event type's model, in its JSON form."""
    if event_type not in EVENTS:
        raise ValueError(
            f"unknown webhook event type {event_type!r}; declare it in webhooks/events.py"
        )
    model = EVENTS.get(event_type).payload
    if isinstance(payload, BaseModel):
        if not isinstance(payload, model):
            raise TypeError(
                f"a {event_type} payload is a {model.__name__}, not a {type(payload).__name__}"
            )
        data: dict[str, Any] = payload.model_dump(mode="json")
    else:
        data = model.model_validate(dict(payload)).model_dump(mode="json")
    return data


async def enqueue_message(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    event_type: str,
    payload: Payload,
    endpoint_ids: Sequence[uuid.UUID],
    *,
    trigger: str = "scheduled",
) -> tuple[WebhookMessage, list[uuid.UUID]]:
    """Write a message and one due delivery per endpoint; dispatch them after commit."""
    [enqueued] = await enqueue_messages(
        session, tenant_id, [(event_type, payload, endpoint_ids)], trigger=trigger
    )
    return enqueued


async def enqueue_messages(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    items: Sequence[tuple[str, Payload, Sequence[uuid.UUID]]],
    *,
    trigger: str = "scheduled",
    validated: bool = False,
) -> list[tuple[WebhookMessage, list[uuid.UUID]]]:
    """Write several messages and their due deliveries in two statements, whatever their number.

    Every payload is checked before anything is written, so a refused one leaves nothing behind
    (`validated`: the payloads already are the JSON form `validate_payload` returned).
    """
    context = _context(session)
    checked: list[tuple[str, dict[str, Any], str, int, Sequence[uuid.UUID]]] = []
    for event_type, payload, endpoint_ids in items:
        data = (
            dict(payload)
            if validated and isinstance(payload, Mapping)
            else validate_payload(event_type, payload)
        )
        text_form = json.dumps(data, separators=(",", ":"))
        size = len(text_form.encode())
        if size > context.max_payload_bytes:
            raise PayloadTooLarge(
                f"The {event_type} payload is {size} bytes; the limit is "
                f"{context.max_payload_bytes}",
                code="webhook_payload_too_large",
            )
        checked.append((event_type, data, text_form, size, endpoint_ids))
    if not checked:
        return []
    messages = ColumnArrays(_MESSAGE_COLUMNS)
    deliveries = ColumnArrays(_DELIVERY_COLUMNS)
    enqueued: list[tuple[WebhookMessage, list[uuid.UUID]]] = []
    for event_type, data, text_form, size, endpoint_ids in checked:
        now = utcnow()
        message = WebhookMessage(
            id=new_id(),
            tenant_id=tenant_id,
            event_type=event_type,
            payload=data,
            payload_size=size,
            created_at=now,
        )
        messages.add(message.id, event_type, text_form, size, now)
        delivery_ids: list[uuid.UUID] = [new_bulk_id() for _ in endpoint_ids]
        for delivery_id, endpoint_id in zip(delivery_ids, endpoint_ids, strict=True):
            deliveries.add(delivery_id, endpoint_id, message.id, event_type, now)
        enqueued.append((message, delivery_ids))
    # Two statements whatever the batch size: the rows travel as one array per column.
    await session.execute(text(_INSERT_MESSAGES_SQL), {"tenant_id": tenant_id, **messages.params()})
    if len(deliveries):
        await session.execute(
            text(_INSERT_DELIVERIES_SQL),
            {
                "tenant_id": tenant_id,
                "max_attempts": context.max_attempts,
                "trigger": trigger,
                # Queued once the transaction commits; without a sender in this process, the
                # sweeper queues them.
                "enqueued": context.dispatcher is not None,
                **deliveries.params(),
            },
        )
        dispatch_after_commit(session, deliveries.column("id"))
    return enqueued


def dispatch_after_commit(session: AsyncSession, delivery_ids: Sequence[uuid.UUID]) -> None:
    """Hand deliveries to the process's sender once the transaction has committed.

    Every delivery of one transaction goes out in one hand-over (a few queue messages at most),
    however many events the transaction emitted.
    """
    dispatcher = _context(session).dispatcher
    if dispatcher is None or not delivery_ids:
        return
    pending: list[uuid.UUID] | None = session.info.get(PENDING_KEY)
    if pending is not None:
        pending.extend(delivery_ids)
        return
    pending = session.info[PENDING_KEY] = list(delivery_ids)

    async def _dispatch() -> None:
        ids = session.info.pop(PENDING_KEY, pending)
        await dispatcher.dispatch(ids)

    on_commit(session, _dispatch)


async def emit_event(
    session: AsyncSession, tenant_id: uuid.UUID, event_type: str, payload: Payload
) -> WebhookMessage | None:
    """Emit an event in the caller's transaction: a message and a delivery per subscribed endpoint.

    Nothing is sent before the transaction commits, and nothing is written when no enabled
    endpoint subscribes. An unknown event type, a payload model of another event or fields that
    do not match the event's model are programming errors (ValueError, TypeError, pydantic's
    ValidationError).
    """
    messages = await emit_events(session, tenant_id, [(event_type, payload)])
    return messages[0] if messages else None


async def emit_events(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    events: Sequence[tuple[str, Payload]],
) -> list[WebhookMessage]:
    """Emit several events of one tenant, reading its endpoints once (bulk ingestion paths)."""
    # Every event is checked, even one nobody subscribes to: a bad event is a programming error.
    checked = [
        (event_type, validate_payload(event_type, payload)) for event_type, payload in events
    ]
    if not checked:
        return []
    # A tenant without the webhooks feature has, in effect, no endpoint: nothing is written.
    rows = (
        await session.execute(
            select(WebhookEndpoint.id, WebhookEndpoint.event_types)
            .join(Tenant, Tenant.id == WebhookEndpoint.tenant_id)
            .where(
                WebhookEndpoint.tenant_id == tenant_id,
                WebhookEndpoint.enabled.is_(True),
                _WEBHOOKS_ON,
            )
        )
    ).all()
    planned: list[tuple[str, Payload, Sequence[uuid.UUID]]] = []
    for event_type, data in checked:
        subscribed = [
            endpoint_id for endpoint_id, patterns in rows if matches(patterns, event_type)
        ]
        if subscribed:
            planned.append((event_type, data, subscribed))
    enqueued = await enqueue_messages(session, tenant_id, planned, validated=True)
    return [message for message, _ in enqueued]
