"""Rate limiting on the `limits` package: Redis storage when REDIS_URL is set, memory otherwise."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.aio.storage import Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.storage import storage_from_string

from artisan.core.errors import TooManyRequests


@dataclass(frozen=True, slots=True)
class RateLimitResult:
    """The outcome of one hit, with what the RateLimit headers report."""

    policy: str
    limit: int
    remaining: int
    reset_seconds: int
    window_seconds: int
    allowed: bool

    def headers(self) -> dict[str, str]:
        """IETF RateLimit / RateLimit-Policy headers plus the older RateLimit-* trio."""
        headers = {
            "RateLimit-Policy": f'"{self.policy}";q={self.limit};w={self.window_seconds}',
            "RateLimit": f'"{self.policy}";r={self.remaining};t={self.reset_seconds}',
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_seconds),
        }
        if not self.allowed:
            headers["Retry-After"] = str(max(1, self.reset_seconds))
        return headers


class RateLimiter:
    """Counts hits per key in a shared window; one instance per process, kept on app.state."""

    def __init__(self, redis_url: str | None, *, enabled: bool = True) -> None:
        # The redis-py implementation: the project already depends on it for Redis.
        storage = (
            storage_from_string("async+" + redis_url, implementation="redispy")
            if redis_url
            else storage_from_string("async+memory://")
        )
        assert isinstance(storage, Storage)
        self.storage = storage
        self.strategy = SlidingWindowCounterRateLimiter(self.storage)
        self.enabled = enabled

    async def hit(
        self, policy: str, limit: str | RateLimitItem, *identifiers: str
    ) -> RateLimitResult:
        """Count one hit against `limit` for the identifiers and report what remains."""
        item = parse(limit) if isinstance(limit, str) else limit
        window = item.get_expiry()
        if not self.enabled:
            return RateLimitResult(policy, item.amount, item.amount, window, window, True)
        allowed = await self.strategy.hit(item, policy, *identifiers)
        stats = await self.strategy.get_window_stats(item, policy, *identifiers)
        reset = max(0, math.ceil(stats.reset_time - time.time()))
        return RateLimitResult(policy, item.amount, max(0, stats.remaining), reset, window, allowed)

    async def enforce(self, policy: str, limit: str, *identifiers: str) -> RateLimitResult:
        """Count a hit and raise a 429 problem with Retry-After when the window is spent."""
        result = await self.hit(policy, limit, *identifiers)
        if not result.allowed:
            raise TooManyRequests(
                "Too many requests; retry after the time in Retry-After",
                headers=result.headers(),
            )
        return result

    async def reset(self) -> None:
        """Forget every counter (tests and operators)."""
        await self.storage.reset()
