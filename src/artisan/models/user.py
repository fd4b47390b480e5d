"""Users of a tenant and their refresh-token sessions."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import Enum, ForeignKey, Index, LargeBinary, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from artisan.models.base import Base, IdMixin, TenantOwnedMixin


class Role(enum.StrEnum):
    admin = "admin"
    manager = "manager"
    user = "user"

    @property
    def rank(self) -> int:
        """Higher ranks include every permission of lower ones."""
        return {"user": 1, "manager": 2, "admin": 3}[self.value]


class User(IdMixin, TenantOwnedMixin, Base):
    """A person who signs in to one tenant."""

    __tablename__ = "users"
    __table_args__ = (
        # Emails are unique per tenant, compared case-insensitively.
        Index("uq_users_tenant_email", "tenant_id", text("lower(email)"), unique=True),
        Index("ix_users_email_lower", text("lower(email)")),
    )

    email: Mapped[str] = mapped_column(String(320))
    full_name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(
        Enum(Role, name="user_role", values_callable=lambda e: [m.value for m in e])
    )
    is_active: Mapped[bool] = mapped_column(default=True)
    is_superuser: Mapped[bool] = mapped_column(default=False)
    mfa_secret_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    mfa_enabled: Mapped[bool] = mapped_column(default=False)
    # The last TOTP time step accepted, so one code cannot be replayed within its window.
    mfa_last_step: Mapped[int | None]
    invitation_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    invitation_expires_at: Mapped[datetime | None]
    oauth_provider: Mapped[str | None] = mapped_column(String(50))
    oauth_subject: Mapped[str | None] = mapped_column(String(255))
    last_login_at: Mapped[datetime | None]


class AuthSession(IdMixin, TenantOwnedMixin, Base):
    """A sign-in session: the family of rotated refresh tokens and the access tokens they mint."""

    __tablename__ = "auth_sessions"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    ip_address: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(512))
    revoked_at: Mapped[datetime | None]
    revoked_reason: Mapped[str | None] = mapped_column(String(64))


class RefreshToken(IdMixin, TenantOwnedMixin, Base):
    """One refresh token of a session; each use rotates it, and a reuse revokes the session."""

    __tablename__ = "refresh_tokens"
    __table_args__ = (UniqueConstraint("token_hash"),)

    session_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("auth_sessions.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class MfaRecoveryCode(IdMixin, TenantOwnedMixin, Base):
    """One single-use code that stands in for a TOTP code (the phone was lost); a digest only."""

    __tablename__ = "mfa_recovery_codes"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    code_hash: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[datetime | None]
