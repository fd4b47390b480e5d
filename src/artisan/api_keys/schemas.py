"""Wire formats of API key management."""

from __future__ import annotations

import ipaddress
import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, field_validator

from artisan.auth.scopes import SCOPES

MAX_ALLOWED_IPS = 100
# An address or CIDR network: an IPv6 network in full is 43 characters.
IpOrNetwork = Annotated[str, StringConstraints(max_length=64)]
MAX_GRACE_SECONDS = 24 * 3600

Name = Annotated[str, Field(min_length=1, max_length=100)]
Description = Annotated[str, Field(max_length=500)]
RateLimit = Annotated[int, Field(ge=1, le=100_000, description="Requests per minute")]


def _normalise_networks(values: list[str]) -> list[str]:
    networks: list[str] = []
    for value in values:
        try:
            network = ipaddress.ip_network(value.strip(), strict=False)
        except ValueError as exc:
            raise ValueError(f"{value!r} is not an IPv4 or IPv6 address or CIDR range") from exc
        if str(network) not in networks:
            networks.append(str(network))
    return networks


class ApiKeyCreate(BaseModel):
    """A new key: its name, scopes and optional expiry, IP allowlist and rate limit."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    description: Description | None = None
    scopes: Annotated[
        list[Annotated[str, StringConstraints(max_length=64)]],
        Field(min_length=1, max_length=len(SCOPES)),
    ]
    expires_at: AwareDatetime | None = Field(
        default=None, description="When the key stops working (must be in the future)"
    )
    allowed_ips: Annotated[list[IpOrNetwork], Field(max_length=MAX_ALLOWED_IPS)] = Field(
        default_factory=list, description="IPv4/IPv6 addresses or CIDR ranges; empty allows all"
    )
    rate_limit_per_minute: RateLimit | None = None

    @field_validator("scopes")
    @classmethod
    def _known_scopes(cls, values: list[str]) -> list[str]:
        unknown = sorted(set(values) - set(SCOPES))
        if unknown:
            raise ValueError(f"Unknown scopes: {', '.join(unknown)}")
        return sorted(set(values))

    @field_validator("allowed_ips")
    @classmethod
    def _networks(cls, values: list[str]) -> list[str]:
        return _normalise_networks(values)


class ApiKeyUpdate(BaseModel):
    """Change a key's name, description, IP allowlist or rate limit (scopes are fixed)."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    description: Description | None = None
    allowed_ips: Annotated[list[IpOrNetwork] | None, Field(max_length=MAX_ALLOWED_IPS)] = None
    rate_limit_per_minute: RateLimit | None = Field(
        default=None, description="Requests per minute; null removes the limit"
    )

    @field_validator("allowed_ips")
    @classmethod
    def _networks(cls, values: list[str] | None) -> list[str] | None:
        return None if values is None else _normalise_networks(values)


class ApiKeyRoll(BaseModel):
    """How long the current secret keeps working after the roll."""

    model_config = ConfigDict(extra="forbid")

    grace_period_seconds: Annotated[int, Field(ge=0, le=MAX_GRACE_SECONDS)] = Field(
        default=0, description="0 to 86400; the old secret stops when it ends"
    )


class ApiKeyOut(BaseModel):
    """A key as admins see it after creation: never its secret."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    name: str
    description: str | None
    display_prefix: str
    last_four: str
    redacted_key: str = Field(description="The first characters and last four of the key")
    status: Literal["active", "expired", "revoked"]
    scopes: list[str] = Field(description="The scopes the key was issued with")
    effective_scopes: list[str] = Field(
        description="What the key may do today: its scopes within its creator's current role "
        "(a demoted creator's keys shrink with them)"
    )
    expires_at: datetime | None
    allowed_ips: list[str]
    rate_limit_per_minute: int | None
    created_by_id: uuid.UUID | None
    rolled_at: datetime | None
    previous_secret_expires_at: datetime | None = Field(
        description="Until when the secret replaced by the last roll keeps working"
    )
    revoked_at: datetime | None
    last_used_at: datetime | None
    last_used_ip: str | None
    request_count: int
    created_at: datetime
    updated_at: datetime


class ApiKeyCreated(ApiKeyOut):
    """A key with its secret: returned once, by create and roll, and never again."""

    secret: str = Field(description="The full key; store it now, it cannot be shown again")


class ScopeOut(BaseModel):
    """One scope a key may hold."""

    scope: str
    description: str


class ApiKeyIdentity(BaseModel):
    """The key making a request, as it sees itself."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    name: str
    scopes: list[str]
