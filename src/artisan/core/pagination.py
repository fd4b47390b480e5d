"""Lists: keyset pagination (`?limit=&cursor=` in, `{data, next_cursor, has_more}` out) and the
text-search filter every list shares."""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel, Field
from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from artisan.core.errors import ValidationFailed

T = TypeVar("T")
DEFAULT_LIMIT = 50
MAX_LIMIT = 200
LIKE_ESCAPE = "\\"


def contains_pattern(text: str) -> str:
    """A lower-cased `LIKE` pattern finding `text` anywhere, its `%` and `_` taken literally
    (compare with `escape=LIKE_ESCAPE`)."""
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class Page(BaseModel, Generic[T]):
    """One page of a list, newest first, with the cursor of the next page."""

    data: list[T]
    next_cursor: str | None = Field(description="Pass as `cursor` to get the next page")
    has_more: bool

    @classmethod
    def of(cls, items: Sequence[T], next_cursor: str | None) -> Page[T]:
        """A page of `items`; there is more exactly when a next cursor exists."""
        return cls(data=list(items), next_cursor=next_cursor, has_more=next_cursor is not None)


class PageParams(BaseModel):
    """Validated page parameters."""

    limit: int
    cursor: str | None


def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page")] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None, Query(max_length=200, description="`next_cursor` of the previous page")
    ] = None,
) -> PageParams:
    """The `limit` and `cursor` query parameters of every list route."""
    return PageParams(limit=limit, cursor=cursor)


def encode_cursor(value: uuid.UUID) -> str:
    """An opaque cursor for a row id."""
    return base64.urlsafe_b64encode(value.bytes).rstrip(b"=").decode()


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def encode_time_cursor(at: datetime, row_id: uuid.UUID) -> str:
    """An opaque cursor for a list ordered by a time, then by row id (newest first)."""
    micros = (at - _EPOCH) // timedelta(microseconds=1)
    raw = micros.to_bytes(8, "big", signed=True) + row_id.bytes
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_time_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    """The time and row id inside a time cursor; 422 when it was not minted here."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        if len(raw) != 24:
            raise ValueError("wrong length")
        at = _EPOCH + timedelta(microseconds=int.from_bytes(raw[:8], "big", signed=True))
        return at, uuid.UUID(bytes=raw[8:])
    except (binascii.Error, ValueError, OverflowError) as exc:
        raise ValidationFailed("The cursor is not valid", code="invalid_cursor") from exc


def decode_cursor(cursor: str) -> uuid.UUID:
    """The row id inside a cursor; 422 when it was not minted here."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        return uuid.UUID(bytes=raw)
    except (binascii.Error, ValueError) as exc:
        raise ValidationFailed("The cursor is not valid", code="invalid_cursor") from exc


async def paginate(
    session: AsyncSession,
    query: Select[Any],
    id_column: InstrumentedAttribute[uuid.UUID],
    params: PageParams,
) -> tuple[Sequence[Any], str | None]:
    """Rows of one page ordered by time-ordered id, newest first, and the next cursor."""
    if params.cursor:
        query = query.where(id_column < decode_cursor(params.cursor))
    rows = (
        (await session.execute(query.order_by(id_column.desc()).limit(params.limit + 1)))
        .scalars()
        .all()
    )
    has_more = len(rows) > params.limit
    rows = rows[: params.limit]
    next_cursor = encode_cursor(getattr(rows[-1], id_column.key)) if has_more and rows else None
    return rows, next_cursor
