"""Bounded field types that request schemas share: every text has a maximum length."""

from __future__ import annotations

from typing import Annotated

from pydantic import EmailStr, Field, StringConstraints

# RFC 5321's limit on a path, the longest address a mail server accepts.
EmailAddress = Annotated[EmailStr, Field(max_length=320)]
# IANA time zone names are at most about 30 characters; anything longer is not one.
TimeZoneName = Annotated[str, StringConstraints(max_length=64)]
