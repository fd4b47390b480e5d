"""Celery tasks of the API keys domain."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis
from celery import shared_task

from artisan.api_keys.usage import flush_usage
from artisan.config import get_settings
from artisan.core.db import Database
from artisan.worker import API_KEY_USAGE_TASK


async def _flush_staged_usage() -> int:
    settings = get_settings()
    if not settings.redis_url:
        return 0
    database = Database(settings)
    redis = aioredis.from_url(settings.redis_url)
    try:
        return await flush_usage(database, redis=redis)
    finally:
        await redis.aclose()
        await database.dispose()


@shared_task(name=API_KEY_USAGE_TASK, ignore_result=True)
def flush_usage_task() -> int:
    """Write the key usage API processes staged in Redis (API_KEY_USAGE_FLUSH_IN_APP=false)."""
    return asyncio.run(_flush_staged_usage())
