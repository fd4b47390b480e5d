"""The process-wide parts that sign-in and account changes need."""

from __future__ import annotations

from dataclasses import dataclass

from artisan.auth.passwords import Passwords
from artisan.auth.tokens import TokenService
from artisan.config import Settings
from artisan.core.db import Database


@dataclass(frozen=True, slots=True)
class AuthKit:
    """The process-wide parts sign-in needs."""

    settings: Settings
    database: Database
    passwords: Passwords
    tokens: TokenService
