"""Time-ordered UUIDv7 identifiers and UTC time helpers."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import uuid_utils


def new_id() -> uuid.UUID:
    """A new time-ordered UUIDv7 (so keyset pages by id are also pages by creation time)."""
    return uuid.UUID(bytes=uuid_utils.uuid7().bytes)


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)
