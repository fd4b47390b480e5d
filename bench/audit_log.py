"""Audit-log benchmark: page latency at depth, export throughput and the exporter's peak memory.

Loads one tenant with BIG_TENANT_ROWS entries (and smaller tenants beside it) with set-based
INSERTs, serves the real app under uvicorn, and prints figures. Nothing is asserted.

    BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/artisan_bench_audit \\
        python bench/audit_log.py [--rows 1000000] [--requests 200]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from artisan import bootstrap
from artisan.audit.service import encode_cursor
from artisan.config import Settings
from artisan.models.tenant import Plan

PASSWORD = "bench-password-long-enough"  # noqa: S105 (throwaway bench account)
SECRET = "bench-secret-key-that-is-long-enough-0123456789"  # noqa: S105
ACTIONS = [
    "auth.login",
    "auth.login_failed",
    "user.updated",
    "campaign.created",
    "campaign.updated",
    "lead.imported",
    "webhook.created",
    "api_key.created",
    "tenant.updated",
    "consent.granted",
]

LOAD_SQL = """
INSERT INTO audit_log (id, tenant_id, seq, occurred_at, action, outcome, actor_type, actor_id,
    actor_label, targets, ip_address, user_agent, request_id, metadata, prev_hash, hash,
    personal_digest)
SELECT gen_random_uuid(), CAST(:tenant AS uuid), CAST(:start AS bigint) + g,
    CAST(:origin AS timestamptz) + make_interval(secs => g),
    (ARRAY[{actions}])[1 + g % {n_actions}],
    CASE WHEN g % 20 = 1 THEN 'failure' ELSE 'success' END,
    CASE WHEN g % 7 = 0 THEN 'api_key' ELSE 'user' END,
    'actor-' || (g % 50), 'person' || (g % 50) || '@example.com',
    jsonb_build_array(jsonb_build_object('type', 'lead', 'id', 'lead-' || (g % 5000),
        'name', 'Lead ' || (g % 5000))),
    '203.0.113.' || (g % 250), 'Mozilla/5.0 (bench)', md5(g::text),
    jsonb_build_object('n', g, 'source', 'bench'),
    md5(g::text) || md5((g + 1)::text), md5((g + 2)::text) || md5((g + 3)::text),
    md5((g + 4)::text) || md5((g + 5)::text)
FROM generate_series(1, CAST(:rows AS integer)) AS g
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _recreate(url: str) -> None:
    target = make_url(url)
    admin = create_async_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
        await conn.execute(text(f'CREATE DATABASE "{target.database}"'))
    await admin.dispose()


async def _load(engine: AsyncEngine, slug: str, rows: int) -> tuple[str, int]:
    """Bulk-append `rows` entries after the tenant's existing ones; returns (tenant id, head)."""
    async with engine.begin() as conn:
        tenant_id = (
            await conn.execute(text("SELECT id FROM tenants WHERE slug = :s"), {"s": slug})
        ).scalar_one()
        start = (
            await conn.execute(
                text("SELECT coalesce(max(seq), 0) FROM audit_log WHERE tenant_id = :t"),
                {"t": tenant_id},
            )
        ).scalar_one()
        actions = ", ".join(f"'{a}'" for a in ACTIONS)
        sql = LOAD_SQL.format(actions=actions, n_actions=len(ACTIONS))
        origin = (
            await conn.execute(text("SELECT now() - make_interval(secs => :r)"), {"r": rows})
        ).scalar_one()
        await conn.execute(
            text(sql), {"tenant": tenant_id, "start": start, "rows": rows, "origin": origin}
        )
        await conn.execute(
            text(
                "INSERT INTO audit_log_targets (id, tenant_id, log_seq, target_type, target_id) "
                "SELECT gen_random_uuid(), tenant_id, seq, 'lead', targets -> 0 ->> 'id' "
                "FROM audit_log WHERE tenant_id = :tenant AND seq > :start"
            ),
            {"tenant": tenant_id, "start": start},
        )
    return str(tenant_id), int(start) + rows


def _serve(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "artisan.app:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        env=env,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("the server did not start")


def _rss_mib(pid: int, field: str = "VmHWM") -> float:
    """A memory figure of a process from /proc (VmHWM: peak resident set; VmRSS: current)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


async def _sample_rss(pid: int, samples: list[float]) -> None:
    while True:
        samples.append(_rss_mib(pid, "VmRSS"))
        await asyncio.sleep(0.05)


async def _timed(
    client: httpx.AsyncClient, url: str, params: dict[str, Any], n: int
) -> list[float]:
    timings = []
    for _ in range(n):
        started = time.perf_counter()
        response = await client.get(url, params=params)
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.text
    return timings


def _summary(label: str, timings: list[float], baseline: float | None = None) -> None:
    ordered = sorted(timings)
    median = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    ratio = f"  ({median / baseline:.1f}x the /api/auth/me baseline)" if baseline else ""
    print(f"{label:<48} median {median:7.2f} ms   p99 {p99:7.2f} ms{ratio}")


async def _sign_in(base: str, email: str, slug: str) -> dict[str, str]:
    async with httpx.AsyncClient(base_url=base) as client:
        response = await client.post(
            "/api/auth/login", json={"email": email, "password": PASSWORD, "tenant_slug": slug}
        )
        response.raise_for_status()
        return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def _export(
    base: str, headers: dict[str, str], path: str, params: dict[str, str]
) -> tuple[int, float]:
    rows = 0
    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=600) as client:
        async with client.stream("GET", path, params=params) as response:
            assert response.status_code == 200
            async for chunk in response.aiter_bytes():
                rows += chunk.count(b"\n")
    return rows - 1, time.perf_counter() - started  # minus the CSV header


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--small-rows", type=int, default=100_000)
    parser.add_argument("--other-tenants", type=int, default=3)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()

    url = os.environ.get(
        "BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/artisan_bench_audit"
    )
    settings = Settings(database_url=url, secret_key=SECRET, rate_limit_enabled=False)
    assert settings.database_url is not None
    await _recreate(settings.database_url)
    bootstrap.migrate(settings)
    email = "admin@bench.example.com"
    await bootstrap.create_tenant_with_admin(
        settings,
        name="Bench Big",
        slug="bench-big",
        plan=Plan.enterprise,
        admin_email=email,
        admin_password=PASSWORD,
    )
    for i in range(args.other_tenants):
        await bootstrap.create_tenant_with_admin(
            settings,
            name=f"Bench {i}",
            slug=f"bench-{i}",
            plan=Plan.growth,
            admin_email=f"admin{i}@bench.example.com",
            admin_password=PASSWORD,
        )

    engine = create_async_engine(settings.database_url)
    started = time.perf_counter()
    tenant_id, head = await _load(engine, "bench-big", args.rows)
    for i in range(args.other_tenants):
        await _load(engine, f"bench-{i}", args.rows // 10)
    async with engine.connect() as conn:
        await conn.execute(text("COMMIT"))
        await conn.execute(text("VACUUM ANALYZE audit_log"))
        await conn.execute(text("VACUUM ANALYZE audit_log_targets"))
        target = "auth.login_failed"
        depth = min(10_000, args.rows // len(ACTIONS) - 1)
        deep_filtered = (
            await conn.execute(
                text(
                    "SELECT seq FROM audit_log WHERE tenant_id = :t AND action = :a "
                    "ORDER BY seq DESC OFFSET :depth LIMIT 1"
                ),
                {"t": tenant_id, "a": target, "depth": depth},
            )
        ).scalar_one()
    await engine.dispose()
    total = args.rows + args.other_tenants * (args.rows // 10)
    print(
        f"loaded {total:,} entries ({args.rows:,} in one tenant) "
        f"in {time.perf_counter() - started:.1f} s"
    )

    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "SECRET_KEY": SECRET,
        "RATE_LIMIT_ENABLED": "false",
        "LOG_LEVEL": "WARNING",
        "REDIS_URL": "",
    }
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    server = _serve(env, port)
    try:
        headers = await _sign_in(base, email, "bench-big")
        path = f"/api/admin/{tenant_id}/audit-log"
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=120) as client:
            await _timed(client, path, {"limit": 50}, 20)  # warm up
            me_timings = await _timed(client, "/api/auth/me", {}, args.requests)
            baseline = statistics.median(me_timings)
            n = args.requests
            _summary("baseline GET /api/auth/me", me_timings)
            _summary(
                "first page, no filter", await _timed(client, path, {"limit": 50}, n), baseline
            )
            _summary(
                f"first page, action={target}",
                await _timed(client, path, {"limit": 50, "action": target}, n),
                baseline,
            )
            _summary(
                "first page, action=campaign.* & outcome=success",
                await _timed(
                    client, path, {"limit": 50, "action": "campaign.*", "outcome": "success"}, n
                ),
                baseline,
            )
            _summary(
                "first page, target_type=lead (every entry)",
                await _timed(client, path, {"limit": 50, "target_type": "lead"}, n),
                baseline,
            )
            _summary(
                "first page, target_id=lead-4999 (1 in 5,000)",
                await _timed(client, path, {"limit": 50, "target_id": "lead-4999"}, n),
                baseline,
            )
            # Free text cannot use an index under row-level security: fewer, slower rounds.
            for term in ("person7@", "Lead 4999", "no such text"):
                _summary(
                    f"first page, q={term!r} ({min(n, 20)} requests)",
                    await _timed(client, path, {"limit": 50, "q": term}, min(n, 20)),
                    baseline,
                )
            _summary(
                f"page {depth:,} entries deep, no filter",
                await _timed(client, path, {"limit": 50, "cursor": encode_cursor(head - depth)}, n),
                baseline,
            )
            _summary(
                f"page {depth:,} matches deep, action={target}",
                await _timed(
                    client,
                    path,
                    {"limit": 50, "action": target, "cursor": encode_cursor(deep_filtered)},
                    n,
                ),
                baseline,
            )
    finally:
        server.terminate()
        server.wait()

    # Each export runs in a fresh server, so its peak RSS belongs to that export alone.
    figures = []
    for label, rows_wanted in (("small", args.small_rows), ("full", None)):
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        server = _serve(env, port)
        try:
            headers = await _sign_in(base, email, "bench-big")
            idle = _rss_mib(server.pid)
            params: dict[str, str] = {}
            if rows_wanted is not None:
                # Entries are one second apart: a time window picks the row count.
                async with httpx.AsyncClient(base_url=base, headers=headers) as client:
                    newest = (
                        await client.get(f"/api/admin/{tenant_id}/audit-log", params={"limit": 1})
                    ).json()
                from datetime import datetime, timedelta

                last = datetime.fromisoformat(newest["data"][0]["occurred_at"])
                params["since"] = (last - timedelta(seconds=rows_wanted - 1)).isoformat()
            samples: list[float] = []
            sampler = asyncio.create_task(_sample_rss(server.pid, samples))
            rows, seconds = await _export(
                base, headers, f"/api/admin/{tenant_id}/audit-log/export", params
            )
            sampler.cancel()
            peak = _rss_mib(server.pid)
            figures.append((label, rows, seconds, idle, peak, max(samples)))
        finally:
            server.terminate()
            server.wait()
    for label, rows, seconds, idle, peak, during in figures:
        print(
            f"CSV export ({label}) {rows:>9,} rows in {seconds:6.2f} s "
            f"= {rows / seconds:>9,.0f} rows/s;"
            f" server peak RSS {peak:6.1f} MiB (idle after sign-in {idle:6.1f} MiB,"
            f" highest sampled during export {during:6.1f} MiB)"
        )
    small, full = figures
    print(
        f"memory full/small export: peak {full[4] / small[4]:.2f}x, "
        f"highest sampled {full[5] / small[5]:.2f}x, for {full[1] / max(small[1], 1):.0f}x the rows"
    )
    await _prune(settings)


async def _prune(settings: Settings) -> None:
    """Prune the big tenant entirely (as if ten years had passed) and time it."""
    from datetime import timedelta

    from artisan.audit.maintenance import AuditMaintenance
    from artisan.core.ids import utcnow

    maintenance = AuditMaintenance(settings)
    try:
        started = time.perf_counter()
        results = await maintenance.prune(
            tenant_slug="bench-big", now=utcnow() + timedelta(days=3650)
        )
        seconds = time.perf_counter() - started
    finally:
        await maintenance.dispose()
    print(f"prune: {results[0].pruned:,} entries (and their targets) in {seconds:.1f} s")


if __name__ == "__main__":
    asyncio.run(main())
