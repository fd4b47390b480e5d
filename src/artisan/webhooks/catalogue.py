"""The catalogue of event types: a name, a description and a payload model (its JSON Schema)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel


@dataclass(frozen=True, slots=True)
class EventType:
    """One event type that endpoints can subscribe to."""

    name: str
    description: str
    payload: type[BaseModel]

    def json_schema(self) -> dict[str, Any]:
        """The JSON Schema of this event's `data` payload."""
        return self.payload.model_json_schema()


class EventCatalogue:
    """An immutable lookup of event types, built once from the domains' declarations."""

    def __init__(self, events: Iterable[EventType]) -> None:
        self._events: dict[str, EventType] = {}
        for event in events:
            if event.name in self._events:
                raise ValueError(f"event type {event.name} is declared twice")
            self._events[event.name] = event

    def __contains__(self, name: object) -> bool:
        return name in self._events

    def get(self, name: str) -> EventType:
        """The event type named `name`; KeyError for an undeclared one (a programming error)."""
        return self._events[name]

    def all(self) -> list[EventType]:
        """Every event type, sorted by name."""
        return sorted(self._events.values(), key=lambda e: e.name)

    def names(self) -> Mapping[str, EventType]:
        """The catalogue as a mapping by name."""
        return self._events

    def pattern_is_known(self, pattern: str) -> bool:
        """Whether a subscription pattern names a declared type or a family containing one."""
        if pattern == "*":
            return True
        if pattern.endswith(".*"):
            prefix = pattern[:-1]
            return any(name.startswith(prefix) for name in self._events)
        return pattern in self._events


def matches(patterns: Iterable[str], event_type: str) -> bool:
    """Whether an endpoint's subscription (empty = everything) includes `event_type`."""
    patterns = list(patterns)
    if not patterns:
        return True
    for pattern in patterns:
        if pattern == "*" or pattern == event_type:
            return True
        if pattern.endswith(".*") and event_type.startswith(pattern[:-1]):
            return True
    return False
