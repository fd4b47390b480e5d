"""The documented catalogue of audited actions: `domain.action` -> what it records."""

from __future__ import annotations

import re

ACTION_PATTERN = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")

# Adding an audited action: one line here, one `record(...)` call in the service.
ACTIONS: dict[str, str] = {
    # Tenants
    "tenant.created": "A tenant was created (sign-up or a platform operator)",
    "tenant.updated": "Tenant name, plan, settings, flags or limits changed",
    "tenant.deleted": "A tenant was soft-deleted by a platform operator",
    "tenant.restored": "A soft-deleted tenant was restored",
    "tenant.created_by_member": "A member of this tenant created another tenant as its admin",
    # Users and roles
    "user.created": "A user was created directly (command line or bootstrap)",
    "user.invited": "A user was invited to the tenant",
    "user.invitation_accepted": "An invited user accepted and set a password",
    "user.invitation_resent": "A pending invitation got a new token (the old one stopped working)",
    "user.invitation_revoked": "A pending invitation was withdrawn and the invited user removed",
    "user.updated": "A user's profile changed",
    "user.role_changed": "A user's role changed",
    "user.deactivated": "A user was deactivated",
    "user.deleted": "A user was deleted",
    "user.mfa_enabled": "A user turned on two-factor sign-in",
    "user.mfa_disabled": "A user turned off two-factor sign-in",
    "user.password_changed": "A user changed their password; their other sessions were ended",
    "user.recovery_codes_regenerated": "A user replaced their MFA recovery codes",
    # Sign-in
    "auth.login": "A user signed in",
    "auth.login_failed": "A sign-in attempt failed (recorded even though the request fails)",
    "auth.logout": "A user signed out",
    "auth.session_revoked": "A sign-in session was revoked",
    "auth.recovery_code_used": "A user signed in with an MFA recovery code (remaining count in metadata)",
    # API keys
    "api_key.created": "An API key was created (the secret is never recorded)",
    "api_key.updated": "An API key's name, description, IP allowlist or rate limit changed",
    "api_key.rolled": "An API key got a new secret; the old one works through its grace period",
    "api_key.revoked": "An API key was revoked",
    "api_key.authentication_failed": "A request presented an expired, revoked, rolled-out or "
    "disallowed key (the reason is in metadata.code)",
    # Webhooks
    "webhook.created": "A webhook endpoint was created",
    "webhook.updated": "A webhook endpoint changed",
    "webhook.deleted": "A webhook endpoint was deleted",
    "webhook.secret_rotated": "A webhook endpoint's signing secret was rotated",
    "webhook.secret_revealed": "An admin revealed a webhook endpoint's signing secret",
    "webhook.test_sent": "A webhook.test event was sent to an endpoint",
    "webhook.delivery_replayed": "A webhook delivery was re-sent on request",
    "webhook.deliveries_recovered": "Failed webhook deliveries in a time range were re-sent",
    "webhook.endpoint_disabled": "A webhook endpoint was disabled after failing deliveries or a 410",
    # Campaigns and leads
    "campaign.created": "A campaign was created",
    "campaign.updated": "A campaign's content, steps or schedule changed",
    "campaign.deleted": "A campaign was deleted",
    "campaign.launched": "A campaign was launched (scheduled or active)",
    "campaign.started": "A scheduled campaign reached its start time and became active",
    "campaign.paused": "A campaign was paused",
    "campaign.resumed": "A paused campaign was resumed",
    "campaign.completed": "A campaign was completed",
    "campaign.archived": "A campaign was archived",
    "campaign.leads_enrolled": "Leads were enrolled in a campaign (suppressed and over-limit leads reported)",
    "campaign.simulated": "A simulated event stream was generated for a campaign",
    "lead.created": "A lead was created",
    "lead.updated": "A lead changed",
    "lead.deleted": "A lead was deleted",
    "lead.imported": "Leads were imported (JSON or CSV; per-row report in metadata)",
    "lead.status_changed": "Ingested events moved leads forward (replied, bounced, unsubscribed, meeting)",
    "lead.suppressed": "An address was added to the suppression list",
    "lead.unsuppressed": "An address was removed from the suppression list",
    # Compliance and consent
    "compliance.request_created": "A data-subject request was opened",
    "compliance.request_completed": "A data-subject request was completed",
    "compliance.data_erased": "Personal data of a subject was erased",
    "consent.granted": "Consent was recorded",
    "consent.withdrawn": "Consent was withdrawn",
    # Exports and workflows
    "export.created": "A data export was produced",
    "workflow.run": "An LLM workflow ran",
    # The audit trail itself
    "audit.exported": "The audit log was exported",
    "audit.pruned": "Audit entries older than the retention period were pruned",
    "audit.personal_data_erased": "Personal fields of audit entries were erased",
    # Platform operators
    "operator.impersonated": "A platform operator acted inside a tenant",
}


def is_catalogued(action: str) -> bool:
    """Whether `action` is in the documented catalogue."""
    return action in ACTIONS
