"""Per-request facts (client address, user agent, request id) available to any layer."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RequestMeta:
    """Where the current request came from."""

    request_id: str | None = None
    ip_address: str | None = None
    user_agent: str | None = None


_current: ContextVar[RequestMeta] = ContextVar("artisan_request_meta", default=RequestMeta())  # noqa: B039 (frozen)


def set_request_meta(meta: RequestMeta) -> None:
    """Record the current request's facts (middleware calls this)."""
    _current.set(meta)


def request_meta() -> RequestMeta:
    """The current request's facts, or empty ones outside a request."""
    return _current.get()
