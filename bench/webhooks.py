"""Webhook delivery benchmark: the platform (one Celery worker) beside a plain aiohttp loop.

A receiver on loopback (its own process) takes N messages fanned out to E endpoints. Prints:
deliveries/s end to end (from the first commit, with the producer running alongside the
worker), deliveries/s draining a backlog emitted beforehand (the sender alone: the like-for-like
figure), commit-to-receipt median/p99 under load and when idle, and the rate of a plain aiohttp
loop (32 requests in flight, run before and after the platform, averaged) posting the same
signed payloads to the same receiver, with the ratios.

    python bench/webhooks.py [--messages 10000] [--endpoints 10]

Uses BENCH_DATABASE_URL (a database it drops and re-creates) and BENCH_REDIS_URL.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import redis
from aiohttp import web
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from artisan.bootstrap import migrate  # noqa: E402
from artisan.config import Settings  # noqa: E402
from artisan.core.db import Database  # noqa: E402
from artisan.core.task_queue import make_celery  # noqa: E402
from artisan.models.tenant import Plan, Tenant  # noqa: E402
from artisan.models.webhook import WebhookEndpoint  # noqa: E402
from artisan.webhooks.emit import WebhookContext, emit_events, install_webhooks  # noqa: E402
from artisan.webhooks.signing import (  # noqa: E402
    SecretBox,
    SigningKey,
    generate_secret,
    secret_key_bytes,
    webhook_headers,
)
from artisan.webhooks.tasks import CeleryDispatcher  # noqa: E402

DATABASE_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/artisan_bench_webhooks"
)
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
SECRET_KEY = "bench-secret-key-that-is-long-enough-0123456789"  # noqa: S105
IN_FLIGHT = 32


# -- the receiver (a separate process) --------------------------------------------------------
def run_receiver(port: int) -> None:
    """Serve POST /hook/* recording (webhook-id, receipt time); GET /stats and /dump report."""
    received: list[tuple[str, float]] = []

    async def hook(request: web.Request) -> web.Response:
        await request.read()
        received.append((request.headers.get("webhook-id", ""), time.time()))
        return web.Response(status=204)

    async def stats(request: web.Request) -> web.Response:
        return web.json_response({"count": len(received)})

    async def dump(request: web.Request) -> web.Response:
        return web.json_response(received)

    async def reset(request: web.Request) -> web.Response:
        received.clear()
        return web.json_response({"count": 0})

    app = web.Application()
    app.router.add_post("/hook/{n}", hook)
    app.router.add_get("/stats", stats)
    app.router.add_get("/dump", dump)
    app.router.add_post("/reset", reset)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


async def receiver_get(session: aiohttp.ClientSession, base: str, path: str) -> Any:
    async with session.get(base + path) as resp:
        return await resp.json()


async def wait_for_count(base: str, count: int, limit: float) -> None:
    async with aiohttp.ClientSession() as session:
        deadline = time.monotonic() + limit
        while (await receiver_get(session, base, "/stats"))["count"] < count:
            if time.monotonic() > deadline:
                raise SystemExit("timed out waiting for deliveries")
            await asyncio.sleep(0.05)


async def wait_until_up(base: str) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(200):
            try:
                await receiver_get(session, base, "/stats")
                return
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.1)
    raise SystemExit("the receiver did not start")


# -- the baseline: a plain aiohttp loop ------------------------------------------------------
async def plain_loop(base: str, total: int, endpoints: int) -> float:
    """Deliveries per second of a bare aiohttp loop, IN_FLIGHT requests at a time."""
    # Keyed once, as the platform keys each endpoint's secret once.
    key = SigningKey(secret_key_bytes(generate_secret()))
    body = json.dumps({"type": "campaign.launched", "data": {"n": 1}}).encode()
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(total):
        queue.put_nowait(i)

    async def sender(session: aiohttp.ClientSession) -> None:
        while not queue.empty():
            i = queue.get_nowait()
            headers = webhook_headers([key], f"msg_plain_{i}", int(time.time()), body)
            headers["content-type"] = "application/json"
            async with session.post(
                f"{base}/hook/{i % endpoints}", data=body, headers=headers
            ) as r:
                await r.read()

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=IN_FLIGHT)) as session:
        started = time.perf_counter()
        await asyncio.gather(*(sender(session) for _ in range(IN_FLIGHT)))
        return total / (time.perf_counter() - started)


# -- the platform ----------------------------------------------------------------------------
def fresh_database() -> None:
    admin = create_engine(
        DATABASE_URL.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT"
    ).connect()
    name = DATABASE_URL.rsplit("/", 1)[1]
    admin.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.execute(text(f'CREATE DATABASE "{name}"'))
    admin.close()


def settings() -> Settings:
    return Settings(
        database_url=DATABASE_URL,
        redis_url=REDIS_URL,
        secret_key=SECRET_KEY,
        environment="test",
        log_level="WARNING",
        webhook_allow_private_networks="127.0.0.0/8",
    )


async def setup_tenant(database: Database, base: str, endpoints: int) -> uuid.UUID:
    box = SecretBox(SECRET_KEY)
    async with database.transaction(bypass_rls=True) as session:
        tenant = Tenant(name="Bench", slug=f"bench-{uuid.uuid4().hex[:6]}", plan=Plan.enterprise)
        tenant.limit_overrides, tenant.feature_flag_overrides, tenant.settings = {}, {}, {}
        session.add(tenant)
        await session.flush()
        for n in range(endpoints):
            session.add(
                WebhookEndpoint(
                    tenant_id=tenant.id,
                    url=f"{base}/hook/{n}",
                    event_types=["campaign.*"],
                    secret_encrypted=box.seal(generate_secret()),
                    consecutive_failures=0,
                )
            )
        return tenant.id


def payload(n: int) -> dict[str, Any]:
    return {
        "campaign_id": str(uuid.uuid4()),
        "name": f"Campaign {n}",
        "status": "active",
        "occurred_at": "2026-11-25T12:00:00Z",
    }


async def emit_many(
    database: Database, tenant_id: uuid.UUID, count: int, per_tx: int
) -> dict[str, float]:
    """Emit `count` messages, `per_tx` per transaction; the commit time of each message.

    A transaction's events go through `emit_events` together (the bulk path the platform's own
    ingestion uses), so the producer reads the endpoints once per transaction, not per event.
    """
    committed: dict[str, float] = {}
    n = 0
    while n < count:
        size = min(per_tx, count - n)
        events = [("campaign.launched", payload(n + i)) for i in range(size)]
        async with database.transaction(tenant_id=tenant_id) as session:
            messages = await emit_events(session, tenant_id, events)
        now = time.time()
        assert len(messages) == size
        committed.update((f"msg_{message.id.hex}", now) for message in messages)
        n += size
    return committed


def latencies(committed: dict[str, float], received: list[tuple[str, float]]) -> list[float]:
    return sorted(at - committed[wid] for wid, at in received if wid in committed)


def pct(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))] * 1000


def start_worker(log_path: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "src"),
        "DATABASE_URL": DATABASE_URL,
        "REDIS_URL": REDIS_URL,
        "SECRET_KEY": SECRET_KEY,
        "ENVIRONMENT": "test",
        "LOG_LEVEL": "WARNING",
        "WEBHOOK_ALLOW_PRIVATE_NETWORKS": "127.0.0.0/8",
    }
    code = "import sys; from artisan.cli import main; sys.argv[0] = 'artisan'; main()"
    return subprocess.Popen(
        [sys.executable, "-c", code, "worker", "--loglevel=WARNING"],
        env=env,
        stdout=log_path.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


async def main(messages: int, endpoints: int, port: int) -> None:
    base = f"http://127.0.0.1:{port}"
    total = messages * endpoints
    receiver = subprocess.Popen([sys.executable, __file__, "--receiver", str(port)])  # noqa: ASYNC220
    worker: subprocess.Popen[bytes] | None = None
    try:
        await wait_until_up(base)
        plain = await plain_loop(base, total, endpoints)
        async with aiohttp.ClientSession() as session:
            await session.post(base + "/reset")

        fresh_database()
        config = settings()
        migrate(config)
        redis.Redis.from_url(REDIS_URL).flushdb()
        database = Database(config)
        install_webhooks(
            database,
            WebhookContext(
                CeleryDispatcher(
                    make_celery(config, set_as_current=False), config.webhook_batch_size
                ),
                config.webhook_max_payload_bytes,
                len(config.webhook_retry_delays),
            ),
        )
        tenant_id = await setup_tenant(database, base, endpoints)
        worker = start_worker(Path(tempfile.gettempdir()) / "artisan-bench-worker.log")
        await asyncio.sleep(4.0)  # worker start-up

        # Live: the producer commits while the worker sends. The clock starts at the first commit,
        # and the producer (this process) shares the machine's cores with the worker, the
        # receiver and PostgreSQL, which the plain loop does not have to.
        started = time.time()
        committed = await emit_many(database, tenant_id, messages, per_tx=100)
        emitted_in = time.time() - started
        first_commit = min(committed.values())
        await wait_for_count(base, total, limit=1800)
        async with aiohttp.ClientSession() as session:
            received = await receiver_get(session, base, "/dump")
            await session.post(base + "/reset")
        first = min(at for _, at in received)
        last = max(at for _, at in received)
        end_to_end = total / (last - first_commit)
        load_lat = latencies(committed, received)

        # A backlog: the worker is stopped while the events are emitted, then drains them alone,
        # so the figure is the sender's own rate, not the producer's: the like-for-like
        # comparison with the plain loop, which also starts with every payload in hand.
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(60)
        await emit_many(database, tenant_id, messages, per_tx=100)
        worker = start_worker(Path(tempfile.gettempdir()) / "artisan-bench-worker.log")
        await wait_for_count(base, total, limit=1800)
        async with aiohttp.ClientSession() as session:
            backlog = await receiver_get(session, base, "/dump")
            await session.post(base + "/reset")
        backlog_rate = total / (max(a for _, a in backlog) - min(a for _, a in backlog))

        idle_committed: dict[str, float] = {}
        for _ in range(100):
            idle_committed.update(await emit_many(database, tenant_id, 1, per_tx=1))
            await wait_for_count(base, len(idle_committed) * endpoints, limit=30)
        async with aiohttp.ClientSession() as session:
            idle_received = await receiver_get(session, base, "/dump")
        idle_lat = latencies(idle_committed, idle_received)
        await database.dispose()
        # The plain loop again, after the platform: the machine is shared, so the baseline is
        # the mean of a run before and a run after.
        plain_after = await plain_loop(base, total, endpoints)
        plain_runs = f"{plain:,.0f} before, {plain_after:,.0f} after"
        plain = (plain + plain_after) / 2

        print(f"messages {messages} x endpoints {endpoints} = {total} deliveries")
        print(
            f"plain aiohttp loop ({IN_FLIGHT} in flight): {plain:,.0f} deliveries/s "
            f"(mean of {plain_runs})"
        )
        print(
            f"platform, one worker, producer running alongside: {end_to_end:,.0f} deliveries/s "
            f"end to end (first commit to last receipt; {total / (last - first):,.0f}/s "
            f"first to last receipt); emission took {emitted_in:.1f} s"
        )
        print(f"ratio platform (producer alongside) / plain loop: {end_to_end / plain:.2f}")
        print(
            f"platform, one worker draining a backlog of {total}: {backlog_rate:,.0f} deliveries/s "
            f"first to last receipt (ratio to the plain loop {backlog_rate / plain:.2f})"
        )
        print(
            f"commit-to-receipt under load: median {pct(load_lat, 0.5):.0f} ms, "
            f"p99 {pct(load_lat, 0.99):.0f} ms"
        )
        print(
            f"commit-to-receipt idle ({len(idle_lat)} deliveries): median "
            f"{pct(idle_lat, 0.5):.1f} ms, p99 {pct(idle_lat, 0.99):.1f} ms"
        )
    finally:
        if worker is not None:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(30)
        receiver.terminate()
        receiver.wait(10)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--endpoints", type=int, default=10)
    parser.add_argument("--port", type=int, default=18931)
    parser.add_argument("--receiver", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.receiver:
        run_receiver(args.receiver)
    else:
        asyncio.run(main(args.messages, args.endpoints, args.port))
