"""Every table, imported here so Alembic sees one metadata."""

from artisan.models.audit import AuditLogDB
from artisan.models.base import Base
from artisan.models.campaign import CampaignDB, EnrollmentDB
from artisan.models.event import (
    CampaignRollupDB,
    EventDB,
    LeadMetricStateDB,
    TenantDailyRollupDB,
    TenantRollupDB,
)
from artisan.models.lead import LeadDB, SuppressionDB
from artisan.models.tenant import Plan, Tenant, TenantStatus
from artisan.models.user import AuthSession, RefreshToken, Role, UserDB

__all__ = [
    "AuditLogDB",
    "AuthSession",
    "Base",
    "CampaignDB",
    "CampaignRollupDB",
    "EnrollmentDB",
    "EventDB",
    "LeadDB",
    "LeadMetricStateDB",
    "Plan",
    "RefreshToken",
    "Role",
    "SuppressionDB",
    "Tenant",
    "TenantDailyRollupDB",
    "TenantRollupDB",
    "TenantStatus",
    "UserDB",
]
