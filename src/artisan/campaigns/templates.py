"""Step templates: `{{first_name}}`-style variables, validated on save and rendered per lead."""

from __future__ import annotations

import re
from typing import Any

VARIABLE = re.compile(r"\{\{\s*([^{}|]*?)\s*(?:\|\s*([^{}]*?)\s*)?\}\}")
NAME = re.compile(r"^(custom\.[A-Za-z0-9_ -]{1,100}|[a-z_]+)$")
LEAD_VARIABLES = frozenset(
    {
        "first_name",
        "last_name",
        "full_name",
        "email",
        "company",
        "title",
        "phone",
        "linkedin_url",
        "timezone",
    }
)


def template_errors(template: str) -> list[str]:
    """Why a template is not valid (unknown variables, unbalanced braces); empty when it is."""
    errors: list[str] = []
    for match in VARIABLE.finditer(template):
        name = match.group(1)
        if not NAME.match(name) or (not name.startswith("custom.") and name not in LEAD_VARIABLES):
            allowed = ", ".join(sorted(LEAD_VARIABLES))
            errors.append(
                f"unknown variable {{{{{name}}}}}; use one of {allowed} or custom.<field>"
            )
    stripped = VARIABLE.sub("", template)
    if "{{" in stripped or "}}" in stripped:
        errors.append("unbalanced {{ }} in template")
    return errors


def _value(lead: dict[str, Any], name: str) -> str | None:
    if name.startswith("custom."):
        custom = lead.get("custom_fields")
        value = custom.get(name[len("custom.") :]) if isinstance(custom, dict) else None
    elif name == "full_name":
        parts = [lead.get("first_name"), lead.get("last_name")]
        value = " ".join(p for p in parts if p) or None
    else:
        value = lead.get(name)
    return None if value is None or value == "" else str(value)


def render(template: str, lead: dict[str, Any]) -> tuple[str, list[str]]:
    """The template filled for a lead, and the variables that had neither value nor fallback."""
    missing: list[str] = []

    def substitute(match: re.Match[str]) -> str:
        name, fallback = match.group(1), match.group(2)
        value = _value(lead, name)
        if value is not None:
            return value
        if fallback is not None:
            return fallback
        missing.append(name)
        return ""

    return VARIABLE.sub(substitute, template), missing
