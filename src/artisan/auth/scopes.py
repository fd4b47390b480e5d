"""The catalogue of `resource:action` scopes and what each role holds."""

from __future__ import annotations

from artisan.models.user import Role

SCOPES: dict[str, str] = {
    "campaigns:read": "Read campaigns and their enrolments",
    "campaigns:write": "Create, change and run campaigns",
    "events:write": "Ingest campaign events",
    "leads:read": "Read leads",
    "leads:write": "Create, import, change and delete leads",
    "analytics:read": "Read analytics reports",
    "webhooks:read": "Read webhook endpoints and deliveries",
    "webhooks:write": "Manage webhook endpoints, replay and recover deliveries",
    "audit:read": "Read, search and export the audit log",
    "compliance:read": "Read compliance status, reports and exports",
    "assistant:query": "Ask the AI assistant",
    "workflows:run": "Run LLM workflows",
}

_USER_SCOPES = frozenset(
    {
        "campaigns:read",
        "campaigns:write",
        "events:write",
        "leads:read",
        "leads:write",
        "analytics:read",
        "assistant:query",
        "workflows:run",
    }
)
_MANAGER_SCOPES = _USER_SCOPES | {"webhooks:read", "audit:read", "compliance:read"}

ROLE_SCOPES: dict[Role, frozenset[str]] = {
    Role.user: _USER_SCOPES,
    Role.manager: frozenset(_MANAGER_SCOPES),
    Role.admin: frozenset(SCOPES),
}
