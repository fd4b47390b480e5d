"""Leads: CRUD, search, bulk import with a per-row report, and the suppression list."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Select, func, or_, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from artisan.audit.recorder import Target, record
from artisan.auth.principal import Principal
from artisan.core.db import one_or_404
from artisan.core.errors import Conflict, ValidationFailed
from artisan.core.ids import new_id
from artisan.core.pagination import LIKE_ESCAPE, PageParams, contains_pattern, paginate
from artisan.leads import domain_events
from artisan.leads.schemas import (
    ImportReport,
    LeadCreate,
    LeadOut,
    LeadUpdate,
    RejectedRow,
    SuppressionCreate,
)
from artisan.models.lead import Lead, Suppression
from artisan.tenants.limits import COUNTERS, effective_limits
from artisan.tenants.service import check_limit, get_tenant

LEAD_FIELDS = (
    "first_name",
    "last_name",
    "company",
    "title",
    "phone",
    "linkedin_url",
    "timezone",
    "custom_fields",
    "status",
    "source",
)


def tenant_leads(principal: Principal) -> Select[Lead]:
    """The tenant's leads: the one place the tenant filter is written."""
    return select(Lead).where(Lead.tenant_id == principal.tenant_id)


def tenant_suppressions(principal: Principal) -> Select[Suppression]:
    """The tenant's suppression list: the one place its tenant filter is written."""
    return select(Suppression).where(Suppression.tenant_id == principal.tenant_id)


def lead_out(lead: Lead, *, suppressed: bool = False) -> LeadOut:
    """The wire form of a lead."""
    return LeadOut(
        id=lead.id,
        email=lead.email,
        first_name=lead.first_name,
        last_name=lead.last_name,
        company=lead.company,
        title=lead.title,
        phone=lead.phone,
        linkedin_url=lead.linkedin_url,
        timezone=lead.timezone,
        custom_fields=dict(lead.custom_fields or {}),
        status=lead.status,
        source=lead.source,
        suppressed=suppressed,
        last_engaged_at=lead.last_engaged_at,
        created_at=lead.created_at,
        updated_at=lead.updated_at,
    )


def _target(lead: Lead) -> Target:
    return Target("lead", str(lead.id), lead.email)


async def is_suppressed(session: AsyncSession, tenant_id: uuid.UUID, email: str) -> bool:
    """Whether an address is on the tenant's suppression list."""
    query = select(Suppression.id).where(
        Suppression.tenant_id == tenant_id, Suppression.email == email.lower()
    )
    return (await session.execute(query)).first() is not None


def _with_email(principal: Principal, *emails: str) -> Select[Lead]:
    """The tenant's leads with one of these addresses, compared case-insensitively."""
    return tenant_leads(principal).where(
        func.lower(Lead.email).in_([email.lower() for email in emails])
    )


async def _email_taken(
    session: AsyncSession,
    principal: Principal,
    email: str,
    *,
    other_than: uuid.UUID | None = None,
) -> bool:
    query = _with_email(principal, email).with_only_columns(Lead.id)
    if other_than is not None:
        query = query.where(Lead.id != other_than)
    return (await session.execute(query)).first() is not None


async def create_lead(session: AsyncSession, principal: Principal, data: LeadCreate) -> Lead:
    """Create one lead; a taken email is a 409 and the plan's lead limit applies."""
    tenant_id = principal.tenant_id
    await check_limit(session, tenant_id, "leads")
    if await _email_taken(session, principal, data.email):
        raise Conflict(f"A lead with the email {data.email} exists", code="lead_exists")
    values = data.model_dump(exclude={"email"}, exclude_none=True)
    lead = Lead(tenant_id=tenant_id, email=data.email, **values)
    lead.custom_fields = values.get("custom_fields", {})
    lead.status = values.get("status", "new")
    session.add(lead)
    await session.flush()
    await session.refresh(lead)
    await record(
        session, "lead.created", tenant_id=tenant_id, actor=principal, targets=[_target(lead)]
    )
    await domain_events.leads_created(session, tenant_id, [(lead.id, lead.email)])
    return lead


async def get_lead(
    session: AsyncSession, principal: Principal, lead_id: uuid.UUID, *, for_update: bool = False
) -> Lead:
    """A lead of the principal's tenant; 404 for anything else."""
    query = tenant_leads(principal).where(Lead.id == lead_id)
    return await one_or_404(session, query, "No such lead", for_update=for_update)


async def update_lead(
    session: AsyncSession, principal: Principal, lead_id: uuid.UUID, data: LeadUpdate
) -> Lead:
    """Change a lead's fields; a manual status change is recorded like any other."""
    lead = await get_lead(session, principal, lead_id, for_update=True)
    changes = data.model_dump(exclude_unset=True)
    if "email" in changes:
        if changes["email"] is None:
            raise ValidationFailed("email cannot be removed", code="email_required")
        if await _email_taken(session, principal, changes["email"], other_than=lead.id):
            raise Conflict(f"A lead with the email {changes['email']} exists", code="lead_exists")
    if changes.get("status", "") is None:
        raise ValidationFailed("status cannot be removed", code="status_required")
    previous_status = lead.status
    for key, value in changes.items():
        if key == "custom_fields" and value is None:
            value = {}
        setattr(lead, key, value)
    if changes:
        await session.flush()
        await session.refresh(lead)
        await record(
            session,
            "lead.updated",
            tenant_id=lead.tenant_id,
            actor=principal,
            targets=[_target(lead)],
            metadata={"changed": sorted(changes)},
        )
    if lead.status != previous_status:
        await domain_events.lead_statuses_changed(
            session, lead.tenant_id, [(lead.id, previous_status, lead.status)], cause="manual"
        )
    return lead


async def delete_lead(session: AsyncSession, principal: Principal, lead_id: uuid.UUID) -> None:
    """Delete a lead and its enrolments; its past events stay in analytics."""
    lead = await get_lead(session, principal, lead_id, for_update=True)
    await record(
        session, "lead.deleted", tenant_id=lead.tenant_id, actor=principal, targets=[_target(lead)]
    )
    await session.delete(lead)
    await session.flush()


def lead_list_query(
    principal: Principal,
    *,
    status: str | None,
    source: str | None,
    company: str | None,
    q: str | None,
    created_after: datetime | None,
    created_before: datetime | None,
) -> Select[Any]:
    """The tenant's leads with the list filters applied."""
    query = tenant_leads(principal)
    if status is not None:
        query = query.where(Lead.status == status)
    if source is not None:
        query = query.where(Lead.source == source)
    if company is not None:
        query = query.where(func.lower(Lead.company) == company.lower())
    if created_after is not None:
        query = query.where(Lead.created_at >= created_after)
    if created_before is not None:
        query = query.where(Lead.created_at < created_before)
    if q:
        pattern = contains_pattern(q)
        query = query.where(
            or_(
                func.lower(Lead.email).like(pattern, escape=LIKE_ESCAPE),
                func.lower(func.coalesce(Lead.first_name, "")).like(pattern, escape=LIKE_ESCAPE),
                func.lower(func.coalesce(Lead.last_name, "")).like(pattern, escape=LIKE_ESCAPE),
                func.lower(func.coalesce(Lead.company, "")).like(pattern, escape=LIKE_ESCAPE),
            )
        )
    return query


async def list_leads(
    session: AsyncSession, principal: Principal, params: PageParams, **filters: Any
) -> tuple[list[Lead], str | None]:
    """One page of the tenant's leads, newest first."""
    rows, cursor = await paginate(session, lead_list_query(principal, **filters), Lead.id, params)
    return list(rows), cursor


async def suppressed_emails(
    session: AsyncSession, tenant_id: uuid.UUID, emails: list[str]
) -> set[str]:
    """Which of these (lower-cased) addresses are suppressed."""
    if not emails:
        return set()
    query = select(Suppression.email).where(
        Suppression.tenant_id == tenant_id, Suppression.email.in_(emails)
    )
    return set((await session.execute(query)).scalars())


def _errors_of(exc: ValidationError) -> list[str]:
    messages = []
    for err in exc.errors():
        where = ".".join(str(part) for part in err.get("loc", ())) or "row"
        messages.append(f"{where}: {err.get('msg', 'invalid')}")
    return messages


async def import_leads(
    session: AsyncSession,
    principal: Principal,
    rows: list[dict[str, Any]],
    *,
    on_duplicate: str,
    source: str | None,
    via: str,
) -> ImportReport:
    """Validate each row on its own, create the new leads, skip or update duplicates."""
    tenant_id = principal.tenant_id
    rejected: list[RejectedRow] = []
    valid: list[tuple[int, LeadCreate]] = []
    seen: set[str] = set()
    for number, raw in enumerate(rows, start=1):
        email = raw.get("email") if isinstance(raw, dict) else None
        shown = str(email)[:320] if email is not None else None
        try:
            if not isinstance(raw, dict):
                raise ValueError("each row must be an object")
            lead = LeadCreate.model_validate(raw)
        except ValidationError as exc:
            rejected.append(RejectedRow(row=number, email=shown, errors=_errors_of(exc)))
            continue
        except ValueError as exc:
            rejected.append(RejectedRow(row=number, email=shown, errors=[str(exc)]))
            continue
        key = lead.email.lower()
        if key in seen:
            rejected.append(
                RejectedRow(row=number, email=lead.email, errors=["email repeats an earlier row"])
            )
            continue
        seen.add(key)
        valid.append((number, lead))

    # Lock the tenant first so concurrent imports cannot both pass the plan's limit.
    tenant = await get_tenant(session, tenant_id, for_update=True)
    existing_rows = await session.execute(_with_email(principal, *seen)) if seen else None
    existing = (
        {lead.email.lower(): lead for lead in existing_rows.scalars()} if existing_rows else {}
    )
    limit = effective_limits(tenant.plan, tenant.limit_overrides)["leads"]
    room = max(0, limit - await COUNTERS["leads"](session, tenant_id))

    to_create: list[dict[str, Any]] = []
    created_rows: list[int] = []
    updated = skipped = 0
    for number, lead in valid:
        current = existing.get(lead.email.lower())
        values = lead.model_dump(exclude={"email"}, exclude_none=True)
        if current is not None:
            if on_duplicate == "update":
                for key, value in values.items():
                    setattr(current, key, value)
                updated += 1
            else:
                skipped += 1
            continue
        if len(to_create) >= room:
            rejected.append(
                RejectedRow(
                    row=number,
                    email=lead.email,
                    errors=[f"the plan allows {limit} leads; this row would exceed it"],
                )
            )
            continue
        values.setdefault("source", source)
        # Multi-row VALUES needs every row to name the same columns.
        row_values: dict[str, Any] = dict.fromkeys(LEAD_FIELDS)
        row_values.update(custom_fields={}, status="new")
        row_values.update(values)
        to_create.append({"tenant_id": tenant_id, "email": lead.email, **row_values})
        created_rows.append(number)

    created_ids: list[uuid.UUID] = []
    if to_create:
        for values in to_create:
            values["id"] = new_id()
        statement = (
            insert(Lead).values(to_create).on_conflict_do_nothing().returning(Lead.id, Lead.email)
        )
        inserted = (await session.execute(statement)).all()
        created_ids = [row.id for row in inserted]
        # A concurrent import may have taken an address between our read and our insert.
        lost = {v["email"].lower() for v in to_create} - {row.email.lower() for row in inserted}
        skipped += len(lost)
        await domain_events.leads_created(
            session, tenant_id, [(row.id, row.email) for row in inserted]
        )
    await session.flush()
    rejected.sort(key=lambda r: r.row)
    report = ImportReport(
        received=len(rows),
        created=len(created_ids),
        updated=updated,
        skipped=skipped,
        rejected=rejected,
        created_ids=created_ids,
    )
    await record(
        session,
        "lead.imported",
        tenant_id=tenant_id,
        actor=principal,
        metadata={
            "via": via,
            "received": report.received,
            "created": report.created,
            "updated": report.updated,
            "skipped": report.skipped,
            "rejected": len(report.rejected),
        },
    )
    return report


async def add_suppression(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    email: str,
    reason: str,
    *,
    note: str | None = None,
    lead_id: uuid.UUID | None = None,
) -> bool:
    """Suppress an address (idempotent); True when it was not suppressed before."""
    statement = (
        insert(Suppression)
        .values(tenant_id=tenant_id, email=email.lower(), reason=reason, note=note, lead_id=lead_id)
        .on_conflict_do_nothing(constraint="uq_lead_suppressions_email")
        .returning(Suppression.id)
    )
    added = (await session.execute(statement)).first() is not None
    if added:
        await domain_events.addresses_suppressed(session, tenant_id, [(email.lower(), reason)])
    return added


async def add_suppressions(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    entries: Sequence[tuple[str, str, uuid.UUID | None]],
) -> list[str]:
    """Suppress many addresses at once (email, reason, lead id; idempotent); the ones added."""
    rows = await session.execute(
        text(
            "INSERT INTO lead_suppressions (id, tenant_id, email, reason, lead_id) "
            "SELECT s.id, :t, s.email, s.reason, s.lead_id "
            "FROM unnest(CAST(:ids AS uuid[]), CAST(:emails AS text[]), "
            "CAST(:reasons AS text[]), CAST(:leads AS uuid[])) "
            "WITH ORDINALITY AS s(id, email, reason, lead_id, n) ORDER BY s.n "
            "ON CONFLICT ON CONSTRAINT uq_lead_suppressions_email DO NOTHING "
            "RETURNING email, reason"
        ),
        {
            "t": tenant_id,
            "ids": [new_id() for _ in entries],
            "emails": [email.lower() for email, _, _ in entries],
            "reasons": [reason for _, reason, _ in entries],
            "leads": [lead_id for _, _, lead_id in entries],
        },
    )
    added = [(row.email, row.reason) for row in rows]
    if added:
        await domain_events.addresses_suppressed(session, tenant_id, added)
    return [email for email, _ in added]


async def suppress(
    session: AsyncSession, principal: Principal, data: SuppressionCreate
) -> Suppression:
    """Suppress an address by hand; an address already suppressed is a 409."""
    tenant_id = principal.tenant_id
    lead_id = (
        await session.execute(_with_email(principal, data.email).with_only_columns(Lead.id))
    ).scalar_one_or_none()
    if not await add_suppression(
        session, tenant_id, data.email, data.reason, note=data.note, lead_id=lead_id
    ):
        raise Conflict(f"{data.email} is already suppressed", code="already_suppressed")
    row = (
        await session.execute(
            tenant_suppressions(principal).where(Suppression.email == data.email.lower())
        )
    ).scalar_one()
    await record(
        session,
        "lead.suppressed",
        tenant_id=tenant_id,
        actor=principal,
        targets=[Target("suppression", str(row.id), row.email)],
        metadata={"reason": data.reason},
    )
    return row


async def list_suppressions(
    session: AsyncSession, principal: Principal, params: PageParams, reason: str | None
) -> tuple[list[Suppression], str | None]:
    """One page of the suppression list, newest first."""
    query = tenant_suppressions(principal)
    if reason is not None:
        query = query.where(Suppression.reason == reason)
    rows, cursor = await paginate(session, query, Suppression.id, params)
    return list(rows), cursor


async def unsuppress(
    session: AsyncSession, principal: Principal, suppression_id: uuid.UUID
) -> None:
    """Take an address off the suppression list."""
    query = tenant_suppressions(principal).where(Suppression.id == suppression_id)
    row = await one_or_404(session, query, "No such suppression", for_update=True)
    await session.delete(row)
    await session.flush()
    await record(
        session,
        "lead.unsuppressed",
        tenant_id=principal.tenant_id,
        actor=principal,
        targets=[Target("suppression", str(suppression_id), row.email)],
        metadata={"reason": row.reason},
    )
