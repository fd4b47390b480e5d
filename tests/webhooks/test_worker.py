"""Real Celery workers (subprocesses) on the test database and Redis: delivery, metrics, no loss."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import TEST_REDIS_URL, client_for
from tests.factories import Account, signed_in_user
from tests.webhooks.conftest import LOOPBACK, Receiver, create_endpoint
from tests.webhooks.helpers import campaign, emit, rows

SRC = Path(__file__).resolve().parents[2] / "src"
SECRET = "test-secret-key-that-is-long-enough-0123456789"


class Workers:
    """Starts `artisan worker` processes in their own process groups and stops them."""

    def __init__(self, database_url: str, tmp_path: Path) -> None:
        self.database_url = database_url
        self.tmp_path = tmp_path
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, *, beat: bool = False, **settings: Any) -> subprocess.Popen[bytes]:
        """A worker (with an embedded beat when asked) whose log goes to a file."""
        env = {
            **os.environ,
            "PYTHONPATH": str(SRC),
            "DATABASE_URL": self.database_url,
            "REDIS_URL": TEST_REDIS_URL,
            "SECRET_KEY": SECRET,
            "ENVIRONMENT": "test",
            "LOG_LEVEL": "WARNING",
            "WEBHOOK_ALLOW_PRIVATE_NETWORKS": LOOPBACK,
            "WEBHOOK_SWEEP_INTERVAL_SECONDS": "0.5",
            "WEBHOOK_REQUEUE_AFTER_SECONDS": "1",
            "WEBHOOK_RETRY_SCHEDULE": "0,0.5,1",
        }
        env.update({k.upper(): str(v) for k, v in settings.items()})
        n = len(self.procs)
        argv = [
            sys.executable,
            "-c",
            "import sys; from artisan.cli import main; sys.argv[0] = 'artisan'; main()",
            "worker",
            *(["--beat"] if beat else []),
            f"--schedule={self.tmp_path / f'beat-{n}'}",
            f"--hostname=test{n}@%h",
        ]
        log = (self.tmp_path / f"worker-{n}.log").open("wb")
        proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.procs.append(proc)
        return proc

    def wait_ready(self, proc: subprocess.Popen[bytes], within: float = 30) -> None:
        """Block until the worker logged that it is ready."""
        n = self.procs.index(proc)
        path = self.tmp_path / f"worker-{n}.log"
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if b"ready." in path.read_bytes():
                return
            if proc.poll() is not None:
                raise AssertionError(path.read_text())
            time.sleep(0.1)
        raise AssertionError(f"worker not ready: {path.read_text()}")

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        """SIGKILL the worker's process group (no warm shutdown, nothing acknowledged)."""
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)

    def stop_all(self) -> None:
        """Stop every worker this test started."""
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(10)


@pytest.fixture
def workers(database_url: str, tmp_path: Path) -> Iterator[Workers]:
    """Worker processes, stopped after the test."""
    pool = Workers(database_url, tmp_path)
    yield pool
    pool.stop_all()


@pytest.fixture
async def broker(redis_client: aioredis.Redis) -> aioredis.Redis:
    """The test Redis db, which is also the Celery broker; emptied before (and, by
    `redis_client`, after) the test."""
    await redis_client.flushdb()
    return redis_client


@pytest.fixture
def celery_app(app_factory: Callable[..., FastAPI], broker: aioredis.Redis) -> FastAPI:
    """An API app that hands deliveries to Celery through the test Redis."""
    return app_factory(
        redis_url=TEST_REDIS_URL,
        webhook_runner="celery",
        webhook_allow_private_networks=LOOPBACK,
    )


async def _received_ids(receiver: Receiver) -> set[str]:
    return {r.headers["webhook-id"] for r in receiver.requests}


async def test_worker_delivers_and_reports_metrics(
    celery_app: FastAPI, workers: Workers, receiver: Receiver
) -> None:
    proc = workers.start()
    await asyncio.to_thread(workers.wait_ready, proc)
    async with client_for(celery_app) as client:
        account: Account = await signed_in_user(celery_app, client)
        await create_endpoint(client, account, receiver.url())
        started = time.time()
        message_id = await emit(celery_app, account.tenant_id, "campaign.launched", **campaign())
        await receiver.wait_for(1, within=20)
        assert receiver.requests[0].headers["webhook-id"] == f"msg_{message_id.hex}"
        assert receiver.requests[0].at - started < 5
        # The worker records the outcome and flushes its counts to Redis after the task.
        deadline = time.monotonic() + 10
        while True:
            metrics = (await client.get("/metrics")).text
            if 'webhook_deliveries_total{outcome="succeeded"} 1.0' in metrics and (
                'celery_task_outcomes_total{outcome="success",task="artisan.webhooks.deliver"}'
                in metrics
            ):
                break
            assert time.monotonic() < deadline, metrics
            await asyncio.sleep(0.2)
        assert "webhook_delivery_latency_seconds_count 1.0" in metrics
        assert "celery_queue_depth" in metrics
        assert "webhook_deliveries_due 0.0" in metrics


async def test_no_loss_when_a_worker_dies_and_redis_is_flushed(
    celery_app: FastAPI,
    workers: Workers,
    receiver: Receiver,
    broker: aioredis.Redis,
    admin_engine: AsyncEngine,
) -> None:
    # Slow answers keep the first worker mid-delivery when it is killed.
    receiver.answer("/hook", (200, {}, 2.0))
    first = workers.start(webhook_timeout_seconds=3)
    await asyncio.to_thread(workers.wait_ready, first)
    async with client_for(celery_app) as client:
        account = await signed_in_user(celery_app, client)
        await create_endpoint(client, account, receiver.url())
    message_ids: list[uuid.UUID] = []
    for _ in range(20):
        # Each emit is acknowledged (committed) before the next: these must all arrive.
        message_ids.append(
            await emit(
                celery_app,
                account.tenant_id,
                "lead.unsubscribed",
                **{"lead_id": str(uuid.uuid4()), "occurred_at": "2026-11-25T12:00:00Z"},
            )
        )
    await receiver.wait_for(1, within=20)
    workers.kill(first)
    await broker.flushdb()
    in_flight = await rows(
        admin_engine, "SELECT count(*) FROM webhook_deliveries WHERE lease_until > now()"
    )
    assert in_flight[0][0] >= 1  # the killed worker held a lease: it was mid-delivery
    receiver.answer("/hook", (200, {}, 0.0))
    second = workers.start(beat=True, webhook_timeout_seconds=3)
    await asyncio.to_thread(workers.wait_ready, second)
    expected = {f"msg_{m.hex}" for m in message_ids}
    deadline = time.monotonic() + 60
    while True:
        done = await rows(
            admin_engine, "SELECT count(*) FROM webhook_deliveries WHERE status = 'succeeded'"
        )
        if done[0][0] == len(message_ids):
            break
        assert time.monotonic() < deadline, f"only {done[0][0]} delivered"
        await asyncio.sleep(0.5)
    received = await _received_ids(receiver)
    assert received == expected  # every message, and only with its own webhook-id


async def test_a_worker_disposes_of_its_task_runtime_at_shutdown(
    workers: Workers, broker: aioredis.Redis
) -> None:
    # The beat's sweeps run on the process's one runtime; a warm shutdown disposes of it.
    proc = workers.start(beat=True, log_level="INFO")
    await asyncio.to_thread(workers.wait_ready, proc)
    log = workers.tmp_path / "worker-0.log"
    deadline = time.monotonic() + 20
    while b"task_runtime_started" not in log.read_bytes():
        assert time.monotonic() < deadline, log.read_text()
        await asyncio.sleep(0.2)
    os.killpg(proc.pid, signal.SIGTERM)
    await asyncio.to_thread(proc.wait, 20)
    text = log.read_text()
    assert text.count("task_runtime_started") == 1  # one runtime for every task of the process
    assert "task_runtime_closed" in text
    assert proc.returncode == 0
