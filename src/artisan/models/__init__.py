"""Every table, imported here so Alembic sees one metadata."""

from artisan.models.api_key import ApiKeyDB
from artisan.models.audit import AuditCheckpointDB, AuditLogDB, AuditLogTargetDB
from artisan.models.base import Base
from artisan.models.campaign import CampaignDB, EnrollmentDB
from artisan.models.event import (
    CampaignRollupDB,
    EventDB,
    LeadMetricFirstDB,
    LeadMetricStateDB,
    TenantDailyRollupDB,
    TenantRollupDB,
)
from artisan.models.lead import LeadDB, SuppressionDB
from artisan.models.tenant import Plan, Tenant, TenantStatus
from artisan.models.user import AuthSession, RefreshToken, Role, UserDB
from artisan.models.webhook import (
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookMessage,
)

__all__ = [
    "ApiKeyDB",
    "AuditCheckpointDB",
    "AuditLogDB",
    "AuditLogTargetDB",
    "AuthSession",
    "Base",
    "CampaignDB",
    "CampaignRollupDB",
    "DeliveryStatus",
    "EnrollmentDB",
    "EventDB",
    "LeadDB",
    "LeadMetricFirstDB",
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
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookMessage",
]
