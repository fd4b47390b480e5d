"""Feature flags: what each plan includes, a platform operator's overrides, and the check that
every gated operation makes.

A tenant's flags are its plan's defaults with the operator's overrides on top; tenant admins read
them and cannot change them. An operation a flag gates refuses with a 403 problem
(`feature_disabled`) that names the flag.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from artisan.core.errors import Forbidden
from artisan.models.tenant import Plan

# Every flag, and what it gates.
FEATURES: dict[str, str] = {
    "api_access": "API keys: creating keys, and authenticating with them",
    "webhooks": (
        "Outgoing webhooks: new endpoints, emitted events, test sends, replays and recovery "
        "(pending deliveries wait while it is off and go out when it returns)"
    ),
    "campaign_simulation": "Simulated event streams for campaigns",
    "ai_assistant": "The AI assistant: answers and search over the product docs",
    "llm_workflows": "LLM workflows: enrichment, drafting, objections, meetings, call analysis",
}
_EVERY = frozenset(FEATURES)
# What each plan includes before any override.
PLAN_FEATURES: dict[Plan, frozenset[str]] = {
    Plan.free: frozenset({"api_access", "webhooks", "campaign_simulation", "ai_assistant"}),
    Plan.starter: _EVERY,
    Plan.growth: _EVERY,
    Plan.enterprise: _EVERY,
}


class FeatureDisabled(Forbidden):
    """An operation of a feature the tenant's plan or its operator turned off."""

    code = "feature_disabled"

    def __init__(self, flag: str) -> None:
        super().__init__(
            f"The {flag} feature is not enabled for this tenant ({FEATURES[flag]}); "
            "a platform operator can enable it",
            flag=flag,
        )


class HasFeatures(Protocol):
    """Anything that knows a tenant's enabled features (a request's tenant context)."""

    @property
    def features(self) -> frozenset[str]:
        """The enabled flags."""
        ...


def enabled_features(plan: Plan, overrides: Mapping[str, Any] | None) -> frozenset[str]:
    """The flags that are on: the plan's defaults, with the operator's overrides applied."""
    enabled = set(PLAN_FEATURES[plan])
    for flag, value in (overrides or {}).items():
        if flag not in FEATURES:
            continue
        if value:
            enabled.add(flag)
        else:
            enabled.discard(flag)
    return frozenset(enabled)


def flag_values(plan: Plan, overrides: Mapping[str, Any] | None) -> dict[str, bool]:
    """Every flag and whether it is on."""
    enabled = enabled_features(plan, overrides)
    return {flag: flag in enabled for flag in FEATURES}


def require_feature(tenant: HasFeatures, flag: str) -> None:
    """Refuse (403 `feature_disabled`) unless `flag` is on for the tenant."""
    if flag not in FEATURES:
        raise ValueError(f"unknown feature flag {flag!r}; declare it in tenants/features.py")
    if flag not in tenant.features:
        raise FeatureDisabled(flag)


def feature_sql(flag: str, tenant: str = "t") -> str:
    """A SQL condition: `flag` is on for the `tenants` row aliased `tenant` (its override, else
    its plan's default), for statements that gate many rows at once."""
    if flag not in FEATURES:
        raise ValueError(f"unknown feature flag {flag!r}")
    plans = sorted(plan.value for plan, flags in PLAN_FEATURES.items() if flag in flags)
    if len(plans) == len(PLAN_FEATURES):
        default = "true"
    elif not plans:
        default = "false"
    else:
        default = f"{tenant}.plan::text IN ({', '.join(repr(p) for p in plans)})"
    return f"COALESCE(({tenant}.feature_flag_overrides ->> '{flag}')::boolean, {default})"
