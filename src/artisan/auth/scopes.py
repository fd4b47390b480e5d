"""The catalogue of `resource:action` scopes and what each role holds."""

from __future__ import annotations

from collections.abc import Iterable

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
    "compliance:read": "Read compliance status, reports and exports (planned: not built yet)",
    "assistant:query": "Ask the AI assistant (planned: not built yet)",
    "workflows:run": "Run LLM workflows (planned: not built yet)",
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


def effective_scopes(scopes: Iterable[str], creator_role: Role | None) -> frozenset[str]:
    """What an API key may do today: its scopes, within what its creator's current role holds.

    A demoted creator's keys shrink with them; a key whose creator was removed keeps the scopes
    it was issued with, for the tenant.
    """
    held = frozenset(scopes)
    return held & ROLE_SCOPES[creator_role] if creator_role is not None else held
