"""Free-form JSON a client may send (lead custom fields, event properties, preview samples),
bounded in size, depth and key length so one value cannot swell every page that carries it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import AfterValidator

from artisan.config import Settings, get_settings


@dataclass(frozen=True, slots=True)
class JsonLimits:
    """The bounds of one free-form JSON value."""

    max_bytes: int
    max_depth: int
    max_key_length: int

    @classmethod
    def of(cls, settings: Settings) -> JsonLimits:
        """The limits the settings give (FREE_JSON_MAX_BYTES, _MAX_DEPTH, _MAX_KEY_LENGTH)."""
        return cls(
            settings.free_json_max_bytes,
            settings.free_json_max_depth,
            settings.free_json_max_key_length,
        )


def json_problems(value: Any, limits: JsonLimits) -> list[str]:
    """What makes `value` exceed the limits (nothing, when it is within them)."""
    problems: list[str] = []
    deepest = 0
    long_keys: list[str] = []
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        current, depth = pending.pop()
        if isinstance(current, dict):
            deepest = max(deepest, depth)
            for key, item in current.items():
                if len(str(key)) > limits.max_key_length:
                    long_keys.append(str(key)[:40])
                pending.append((item, depth + 1))
        elif isinstance(current, list):
            deepest = max(deepest, depth)
            pending.extend((item, depth + 1) for item in current)
    if deepest > limits.max_depth:
        problems.append(f"nests {deepest} levels deep; the limit is {limits.max_depth}")
    if long_keys:
        problems.append(
            f"has keys longer than {limits.max_key_length} characters ({long_keys[0]}...)"
        )
    size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())
    if size > limits.max_bytes:
        problems.append(f"is {size} bytes encoded; the limit is {limits.max_bytes}")
    return problems


def _bounded(value: dict[str, Any]) -> dict[str, Any]:
    # The process's settings: the limits are deployment-wide, read from the environment.
    problems = json_problems(value, JsonLimits.of(get_settings()))
    if problems:
        raise ValueError("the object " + "; ".join(problems))
    return value


# A free-form JSON object within the deployment's limits.
FreeJsonObject = Annotated[dict[str, Any], AfterValidator(_bounded)]
