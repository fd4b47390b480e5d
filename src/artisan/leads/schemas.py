"""Request and response bodies of leads, imports and the suppression list."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from artisan.core.fields import EmailAddress, TimeZoneName
from artisan.core.free_json import FreeJsonObject
from artisan.models.lead import LeadStatus

SuppressionReason = Literal["unsubscribed", "bounced", "spam_reported", "manual"]
MAX_IMPORT_ROWS = 1000
MAX_CUSTOM_FIELDS = 50

Name = Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)]
Text200 = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]


def check_timezone(value: str | None) -> str | None:
    """An IANA time zone name, or None."""
    if value is None or value == "":
        return None
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"{value!r} is not an IANA time zone") from exc
    return value


class _LeadFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    first_name: Name | None = None
    last_name: Name | None = None
    company: Text200 | None = None
    title: Text200 | None = None
    phone: Annotated[str, StringConstraints(strip_whitespace=True, max_length=40)] | None = None
    linkedin_url: (
        Annotated[
            str,
            StringConstraints(
                strip_whitespace=True,
                max_length=500,
                pattern=r"^https?://([a-z0-9-]+\.)*linkedin\.com/",
            ),
        ]
        | None
    ) = None
    timezone: TimeZoneName | None = Field(
        default=None, description="IANA time zone, e.g. Europe/Paris"
    )
    custom_fields: FreeJsonObject | None = None
    status: LeadStatus | None = None
    source: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] | None = None

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str | None) -> str | None:
        return check_timezone(value)

    @field_validator("custom_fields")
    @classmethod
    def _custom_fields(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None and len(value) > MAX_CUSTOM_FIELDS:
            raise ValueError(f"at most {MAX_CUSTOM_FIELDS} custom fields")
        if value is not None and any(len(k) > 100 or not k for k in value):
            raise ValueError("custom field names are 1 to 100 characters")
        return value


class LeadCreate(_LeadFields):
    """A new lead; the email is unique per tenant (case-insensitive)."""

    email: EmailAddress


class LeadUpdate(_LeadFields):
    """Fields to change; omitted fields stay as they are."""

    email: EmailAddress | None = None


class LeadOut(BaseModel):
    """A lead."""

    id: uuid.UUID
    email: str
    first_name: str | None
    last_name: str | None
    company: str | None
    title: str | None
    phone: str | None
    linkedin_url: str | None
    timezone: str | None
    custom_fields: dict[str, Any]
    status: LeadStatus
    source: str | None
    suppressed: bool = False
    last_engaged_at: datetime | None
    created_at: datetime
    updated_at: datetime


class LeadImport(BaseModel):
    """Up to 1,000 leads as JSON objects; each row is validated on its own."""

    model_config = ConfigDict(extra="forbid")

    leads: list[Any] = Field(min_length=1, max_length=MAX_IMPORT_ROWS)
    on_duplicate: Literal["skip", "update"] = Field(
        default="skip", description="What to do with a row whose email is already a lead"
    )
    source: Annotated[str, StringConstraints(max_length=100)] | None = Field(
        default=None, description="Source recorded on rows that name none"
    )


class RejectedRow(BaseModel):
    """One row the import refused, and why."""

    row: int = Field(description="1-based row number (CSV: the data row after the header)")
    email: str | None
    errors: list[str]


class ColumnMapping(BaseModel):
    """How one CSV header was read."""

    header: str
    field: str = Field(description="The lead field, or `custom.<name>` for a custom field")


class ImportReport(BaseModel):
    """What an import did with each row."""

    received: int
    created: int
    updated: int
    skipped: int
    rejected: list[RejectedRow]
    created_ids: list[uuid.UUID]
    columns: list[ColumnMapping] | None = Field(
        default=None, description="A CSV import: how each header was read"
    )
    delimiter: str | None = Field(default=None, description="A CSV import: the delimiter found")


class SuppressionCreate(BaseModel):
    """An address to suppress by hand."""

    model_config = ConfigDict(extra="forbid")

    email: EmailAddress
    reason: SuppressionReason = "manual"
    note: Annotated[str, StringConstraints(max_length=500)] | None = None


class SuppressionOut(BaseModel):
    """A suppressed address."""

    id: uuid.UUID
    email: str
    reason: str
    note: str | None
    lead_id: uuid.UUID | None
    created_at: datetime
