"""Every table, imported here so Alembic sees one metadata."""

from artisan.models.api_key import ApiKey
from artisan.models.audit import AuditCheckpoint, AuditEntry, AuditEntryTarget
from artisan.models.base import Base
from artisan.models.campaign import Campaign, Enrollment
from artisan.models.event import (
    CampaignRollup,
    Event,
    LeadMetricFirst,
    LeadMetricState,
    TenantDailyRollup,
    TenantRollup,
)
from artisan.models.lead import Lead, Suppression
from artisan.models.tenant import Plan, Tenant, TenantStatus
from artisan.models.user import AuthSession, MfaRecoveryCode, RefreshToken, Role, User
from artisan.models.webhook import (
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookMessage,
)

__all__ = [
    "ApiKey",
    "AuditCheckpoint",
    "AuditEntry",
    "AuditEntryTarget",
    "AuthSession",
    "Base",
    "Campaign",
    "CampaignRollup",
    "DeliveryStatus",
    "Enrollment",
    "Event",
    "Lead",
    "LeadMetricFirst",
    "LeadMetricState",
    "MfaRecoveryCode",
    "Plan",
    "RefreshToken",
    "Role",
    "Suppression",
    "Tenant",
    "TenantDailyRollup",
    "TenantRollup",
    "TenantStatus",
    "User",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookMessage",
]
