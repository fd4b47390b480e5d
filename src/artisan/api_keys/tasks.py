"""Celery tasks of the API keys domain and their beat entries."""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis
from celery import shared_task

from artisan.api_keys.usage import flush_usage
from artisan.config import Settings
from artisan.core.task_queue import Periodic, task_runtime

FLUSH_USAGE_TASK = "artisan.api_keys.flush_usage"


def periodic(settings: Settings) -> list[Periodic]:
    """The usage flush, when API processes stage key usage in Redis."""
    every = settings.api_key_usage_flush_seconds
    return [Periodic("api-keys-flush-usage", FLUSH_USAGE_TASK, every, expires=every * 2)]


@shared_task(name=FLUSH_USAGE_TASK, bind=True, ignore_result=True)
def flush_usage_task(task: Any) -> int:
    """Write the key usage API processes staged in Redis (API_KEY_USAGE_FLUSH_IN_APP=false)."""
    runtime = task_runtime(task)
    url = runtime.settings.redis_url
    if not url:
        return 0
    client = runtime.part(aioredis.Redis, lambda: aioredis.from_url(url), close=_close_redis)
    return runtime.run(flush_usage(runtime.database, redis=client))


async def _close_redis(client: aioredis.Redis) -> None:
    await client.aclose()
