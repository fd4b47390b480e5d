"""Route dependencies on the process's own objects, which every domain may use."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from artisan.config import Settings
from artisan.core.ratelimit import RateLimiter


def get_settings_dep(request: Request) -> Settings:
    """The application's settings."""
    settings: Settings = request.app.state.settings
    return settings


def get_limiter(request: Request) -> RateLimiter:
    """The application's rate limiter."""
    limiter: RateLimiter = request.app.state.limiter
    return limiter


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
LimiterDep = Annotated[RateLimiter, Depends(get_limiter)]
