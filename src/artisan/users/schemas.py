"""Wire formats of tenant user management."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from artisan.core.fields import EmailAddress
from artisan.models.user import Role


class UserOut(BaseModel):
    """A user as tenant admins see them (never a password hash or MFA secret)."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    tenant_id: uuid.UUID
    email: str
    full_name: str
    role: Role
    is_active: bool
    mfa_enabled: bool
    invitation_pending: bool
    last_login_at: datetime | None
    created_at: datetime
    updated_at: datetime


class UserInvite(BaseModel):
    """Invite a person with a role; they choose a password when accepting."""

    model_config = ConfigDict(extra="forbid")

    email: EmailAddress
    full_name: Annotated[str, Field(min_length=1, max_length=200)]
    role: Role = Role.user


class UserInvited(UserOut):
    """The invited user and the one-time invitation token (shown only here)."""

    invitation_token: str
    invitation_expires_at: datetime


class UserUpdate(BaseModel):
    """Change a user's name, role or active state."""

    model_config = ConfigDict(extra="forbid")

    full_name: Annotated[str | None, Field(min_length=1, max_length=200)] = None
    role: Role | None = None
    is_active: bool | None = None
