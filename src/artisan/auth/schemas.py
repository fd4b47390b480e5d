"""Wire formats of sign-up, sign-in, tokens and MFA."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from artisan.core.fields import EmailAddress
from artisan.models.tenant import Plan
from artisan.models.user import Role
from artisan.tenants.schemas import SLUG_PATTERN

Password = Annotated[
    str, Field(min_length=10, max_length=256, description="At least 10 characters")
]
MfaCode = Annotated[str, Field(pattern=r"^\d{6}$", max_length=6, description="6-digit TOTP code")]
# A recovery code: sixteen base32 characters in groups of four (`abcd-efgh-ijkl-mnop`), any case,
# dashes optional.
RECOVERY_CODE_PATTERN = r"[A-Za-z2-7]{4}(-?[A-Za-z2-7]{4}){3}"
# At sign-in a recovery code may stand in for the TOTP code.
SecondFactor = Annotated[
    str,
    Field(
        pattern=rf"^(\d{{6}}|{RECOVERY_CODE_PATTERN})$",
        max_length=19,
        description="6-digit TOTP code, or one of the recovery codes",
    ),
]


class SignupRequest(BaseModel):
    """A new company with its first admin."""

    model_config = ConfigDict(extra="forbid")

    company_name: Annotated[str, Field(min_length=1, max_length=200)]
    email: EmailAddress
    password: Password
    name: Annotated[str, Field(min_length=1, max_length=200)]


class LoginRequest(BaseModel):
    """Credentials; `tenant_slug` picks the tenant when the email exists in several."""

    model_config = ConfigDict(extra="forbid")

    email: EmailAddress
    password: Annotated[str, Field(min_length=1, max_length=256)]
    mfa_code: SecondFactor | None = None
    tenant_slug: Annotated[str | None, Field(pattern=SLUG_PATTERN, max_length=63)] = None


class RefreshRequest(BaseModel):
    """A refresh token to rotate."""

    model_config = ConfigDict(extra="forbid")

    refresh_token: Annotated[str, Field(min_length=10, max_length=200)]


class AcceptInvitationRequest(BaseModel):
    """An invitation token and the password the invited user chooses."""

    model_config = ConfigDict(extra="forbid")

    token: Annotated[str, Field(min_length=10, max_length=200)]
    password: Password


class TokenResponse(BaseModel):
    """An access token and the refresh token that renews it."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105
    expires_in: int = Field(description="Seconds until the access token expires")
    expires_at: datetime
    refresh_token: str
    tenant_id: uuid.UUID
    user_id: uuid.UUID


class TenantBrief(BaseModel):
    """The tenant a user belongs to."""

    id: uuid.UUID
    name: str
    slug: str
    plan: Plan
    trial_ends_at: datetime | None


class MeResponse(BaseModel):
    """The signed-in user."""

    id: uuid.UUID
    email: str
    full_name: str
    role: Role
    is_superuser: bool
    mfa_enabled: bool
    last_login_at: datetime | None
    scopes: list[str]
    tenant: TenantBrief


class MfaSetupResponse(BaseModel):
    """A new TOTP secret to load into an authenticator app; MFA is on after /enable."""

    secret: str
    otpauth_uri: str


class MfaCodeRequest(BaseModel):
    """A current TOTP code."""

    model_config = ConfigDict(extra="forbid")

    code: MfaCode


class MfaDisableRequest(BaseModel):
    """Turning MFA off takes the password and a current code."""

    model_config = ConfigDict(extra="forbid")

    password: Annotated[str, Field(min_length=1, max_length=256)]
    code: MfaCode


class MfaStatus(BaseModel):
    """Whether MFA is on."""

    mfa_enabled: bool


class RecoveryCodes(BaseModel):
    """Single-use codes that stand in for a TOTP code: shown only here, store them safely."""

    mfa_enabled: bool = True
    recovery_codes: list[str]


class TenantStart(BaseModel):
    """Another company, with the signed-in user as its first admin."""

    model_config = ConfigDict(extra="forbid")

    company_name: Annotated[str, Field(min_length=1, max_length=200)]


class PasswordChange(BaseModel):
    """A new password; the current one proves it is the user."""

    model_config = ConfigDict(extra="forbid")

    current_password: Annotated[str, Field(min_length=1, max_length=256)]
    new_password: Password


class SessionOut(BaseModel):
    """A live sign-in session of the user."""

    id: uuid.UUID
    device: str | None = Field(description="The user agent that signed in")
    ip_address: str | None
    created_at: datetime
    last_used_at: datetime = Field(description="When it signed in or last refreshed its tokens")
    current: bool = Field(description="Whether this is the session making the request")
