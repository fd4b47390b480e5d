"""Who is making a request: a user with a role or an API key with scopes, bound to one tenant."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from artisan.models.tenant import Plan, TenantStatus
from artisan.models.user import Role


@dataclass(frozen=True, slots=True)
class TenantContext:
    """What a request needs to know about its tenant, read from the database per request."""

    id: uuid.UUID
    slug: str
    plan: Plan
    status: TenantStatus
    trial_ends_at: datetime | None
    # The feature flags that are on (tenants/features.py).
    features: frozenset[str]


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller; passed explicitly to every service call."""

    kind: Literal["user", "api_key"]
    tenant: TenantContext
    label: str
    scopes: frozenset[str]
    role: Role | None = None
    user_id: uuid.UUID | None = None
    session_id: uuid.UUID | None = None
    api_key_id: uuid.UUID | None = None
    is_superuser: bool = False
    ip_address: str | None = field(default=None, compare=False)

    @property
    def tenant_id(self) -> uuid.UUID:
        """The tenant this principal acts within."""
        return self.tenant.id

    @property
    def actor_id(self) -> uuid.UUID:
        """The id of the user or key acting (for audit trails)."""
        actor = self.user_id if self.kind == "user" else self.api_key_id
        assert actor is not None
        return actor

    def has_role(self, minimum: Role) -> bool:
        """Whether this is a user whose role is at least `minimum`."""
        return self.kind == "user" and self.role is not None and self.role.rank >= minimum.rank
