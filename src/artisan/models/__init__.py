"""Every table, imported here so Alembic sees one metadata."""

from artisan.models.audit import AuditCheckpointDB, AuditLogDB, AuditLogTargetDB
from artisan.models.base import Base
from artisan.models.tenant import Plan, Tenant, TenantStatus
from artisan.models.user import AuthSession, RefreshToken, Role, UserDB

__all__ = [
    "AuditCheckpointDB",
    "AuditLogDB",
    "AuditLogTargetDB",
    "AuthSession",
    "Base",
    "Plan",
    "RefreshToken",
    "Role",
    "Tenant",
    "TenantStatus",
    "UserDB",
]
