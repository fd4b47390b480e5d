"""Analytics and ingestion benchmark: prints figures, asserts nothing.

    python bench/analytics.py --events 1000000

1. Builds a fresh database and bulk-loads N events (COPY) across tenants and campaigns, with a
   skewed (1/rank) split so one tenant is much larger than the rest; the per-lead state and
   rollups are then rebuilt set-based, exactly as ingestion would have left them, and the
   database is vacuumed and analysed, as autovacuum would have done to a settled one.
2. Starts the app under uvicorn on loopback and ingests --api-events more events through
   `POST /api/events/batch` from several concurrent clients, then COPYs the same number of
   equivalent rows straight into the events table in the same run: the ratio of the two rates.
3. Times the dashboard, a campaign report, a 90-day daily time series and a funnel for the
   largest tenant over HTTP (median and p99), beside the plain GROUP BY over raw events that the
   rollups replace.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import random
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from _serve import wait_ready

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from artisan.analytics.rebuild import rebuild_tenant  # noqa: E402
from artisan.auth.passwords import Passwords  # noqa: E402
from artisan.bootstrap import migrate  # noqa: E402
from artisan.config import Settings  # noqa: E402
from artisan.core.db import Database  # noqa: E402

PASSWORD = "bench-password-0123456789"  # noqa: S105 - a throwaway benchmark database
STEPS = [
    {
        "channel": "email",
        "delay_days": 0,
        "delay_hours": 0,
        "subject": "Hi {{first_name}}",
        "body": "b",
    },
    {"channel": "linkedin", "delay_days": 2, "delay_hours": 0, "subject": None, "body": "b"},
    {"channel": "email", "delay_days": 3, "delay_hours": 0, "subject": "Re", "body": "b"},
]
# A plausible outreach mix: many sends and deliveries, fewer opens, replies and meetings.
TYPE_WEIGHTS = {
    "email.sent": 30,
    "email.delivered": 28,
    "email.opened": 15,
    "email.clicked": 4,
    "email.replied": 2.5,
    "email.bounced": 1,
    "email.unsubscribed": 0.3,
    "email.spam_reported": 0.05,
    "linkedin.connection_sent": 8,
    "linkedin.connection_accepted": 3,
    "linkedin.message_sent": 3,
    "linkedin.replied": 1,
    "call.completed": 1,
    "meeting.booked": 0.5,
    "meeting.held": 0.3,
}
TYPES = list(TYPE_WEIGHTS)
CUM_WEIGHTS = list(__import__("itertools").accumulate(TYPE_WEIGHTS.values()))
SENTIMENTS = ("positive", "neutral", "negative")
SPAN_DAYS = 180


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--events", type=int, default=10_000_000, help="bulk-loaded events")
    parser.add_argument("--tenants", type=int, default=20)
    parser.add_argument("--campaigns", type=int, default=2000)
    parser.add_argument("--leads", type=int, default=200_000, help="leads across all tenants")
    parser.add_argument(
        "--api-events", type=int, default=100_000, help="events sent through the API"
    )
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=8, help="concurrent API clients")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--runs", type=int, default=50, help="timed runs per query")
    parser.add_argument(
        "--queries-only",
        action="store_true",
        help="reuse the database a previous run built and only time the reports",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--pairing",
        choices=("enrolled", "uniform"),
        default="enrolled",
        help="enrolled: each lead's events belong to its 1-2 campaigns; uniform: any campaign "
        "(worst case: almost every event starts a new lead-campaign pair)",
    )
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/artisan_bench_campaigns"
        ),
    )
    return parser.parse_args()


def plain_url(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


def weights(n: int) -> list[float]:
    raw = [1 / (rank + 1) for rank in range(n)]
    total = sum(raw)
    return [w / total for w in raw]


def split(total: int, shares: list[float], minimum: int = 1) -> list[int]:
    counts = [max(minimum, int(total * s)) for s in shares]
    counts[0] += total - sum(counts)
    return counts


async def recreate_database(url: str) -> None:
    base, _, name = plain_url(url).rpartition("/")
    conn = await asyncpg.connect(f"{base}/postgres")
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


class World:
    """The seeded tenants, campaigns and leads."""

    def __init__(self) -> None:
        self.tenants: list[uuid.UUID] = []
        self.slugs: list[str] = []
        self.emails: list[str] = []
        self.campaigns: list[list[uuid.UUID]] = []
        self.leads: list[list[uuid.UUID]] = []
        self.shares: list[float] = []
        self.pairing = "enrolled"


async def seed(conn: asyncpg.Connection, args: argparse.Namespace, settings: Settings) -> World:
    world = World()
    world.shares = weights(args.tenants)
    world.pairing = args.pairing
    password_hash = Passwords(settings).hash(PASSWORD)
    campaign_counts = split(args.campaigns, world.shares)
    lead_counts = split(args.leads, world.shares, minimum=10)
    for index in range(args.tenants):
        tenant_id = uuid.uuid4()
        slug = f"bench-{index}"
        await conn.execute(
            "INSERT INTO tenants (id, name, slug, plan, status, limit_overrides, "
            "feature_flag_overrides, settings) "
            "VALUES ($1, $2, $3, 'enterprise', 'active', '{}', '{}', '{}')",
            tenant_id,
            f"Bench {index}",
            slug,
        )
        email = f"admin@{slug}.example.com"
        await conn.execute(
            "INSERT INTO users (id, tenant_id, email, full_name, password_hash, role, is_active, "
            "is_superuser, mfa_enabled) VALUES ($1, $2, $3, 'Bench Admin', $4, 'admin', true, "
            "false, false)",
            uuid.uuid4(),
            tenant_id,
            email,
            password_hash,
        )
        campaigns = [uuid.uuid4() for _ in range(campaign_counts[index])]
        await conn.copy_records_to_table(
            "campaigns",
            records=[
                (
                    c,
                    tenant_id,
                    f"Campaign {i}",
                    json.dumps(["email", "linkedin"]),
                    json.dumps(STEPS),
                    "{}",
                    "active",
                )
                for i, c in enumerate(campaigns)
            ],
            columns=["id", "tenant_id", "name", "channels", "steps", "schedule", "status"],
        )
        leads = [uuid.uuid4() for _ in range(lead_counts[index])]
        await conn.copy_records_to_table(
            "leads",
            records=[
                (lead, tenant_id, f"l{i}@{slug}.example.com", "{}", "contacted")
                for i, lead in enumerate(leads)
            ],
            columns=["id", "tenant_id", "email", "custom_fields", "status"],
        )
        world.tenants.append(tenant_id)
        world.slugs.append(slug)
        world.emails.append(email)
        world.campaigns.append(campaigns)
        world.leads.append(leads)
    return world


def random_event(
    rng: random.Random, world: World, tenant: int, now: datetime, span: int = SPAN_DAYS * 86400
) -> dict[str, Any]:
    kind = rng.choices(TYPES, cum_weights=CUM_WEIGHTS)[0]
    leads, campaigns = world.leads[tenant], world.campaigns[tenant]
    lead_index = rng.randrange(len(leads))
    if world.pairing == "enrolled":
        # Each lead is enrolled in one campaign, a fifth of them in a second one too.
        offset = 7 if lead_index % 5 == 0 and rng.random() < 0.5 else 0
        campaign = campaigns[(lead_index + offset) % len(campaigns)]
    else:
        campaign = rng.choice(campaigns)
    prefix = kind.split(".", 1)[0]
    step = rng.choice((1, 3)) if prefix == "email" else (2 if prefix == "linkedin" else None)
    properties = {"sentiment": rng.choice(SENTIMENTS)} if kind.endswith("replied") else {}
    return {
        "type": kind,
        "channel": prefix if prefix in ("email", "linkedin", "call") else "email",
        "campaign_id": campaign,
        "lead_id": leads[lead_index],
        "step": step,
        "occurred_at": now - timedelta(seconds=rng.randrange(span)),
        "properties": properties,
    }


def csv_rows(
    events: list[tuple[int, dict[str, Any]]], world: World, client_suffix: str | None
) -> bytes:
    out = io.StringIO()
    for number, (tenant, e) in enumerate(events):
        props = json.dumps(e["properties"]).replace('"', '""')
        client = f"{number}{client_suffix}" if client_suffix is not None else ""
        out.write(
            f"{uuid.uuid4()},{world.tenants[tenant]},{e['type']},{e['channel']},{e['campaign_id']},"
            f"{e['lead_id']},{e['step'] if e['step'] else ''},{e['occurred_at'].isoformat()},"
            f'"{props}",{client},f\n'
        )
    return out.getvalue().encode()


EVENT_COLUMNS = [
    "id",
    "tenant_id",
    "type",
    "channel",
    "campaign_id",
    "lead_id",
    "step",
    "occurred_at",
    "properties",
    "client_id",
    "simulated",
]


async def copy_events(conn: asyncpg.Connection, payload: bytes) -> None:
    await conn.copy_to_table(
        "events", source=io.BytesIO(payload), columns=EVENT_COLUMNS, format="csv", null=""
    )


def pick_tenants(rng: random.Random, world: World, n: int) -> list[int]:
    return rng.choices(range(len(world.tenants)), weights=world.shares, k=n)


async def bulk_load(
    conn: asyncpg.Connection, world: World, args: argparse.Namespace, now: datetime
) -> float:
    rng = random.Random(args.seed)
    chunk = 200_000
    copy_seconds = 0.0
    done = 0
    while done < args.events:
        size = min(chunk, args.events - done)
        tenants = pick_tenants(rng, world, size)
        payload = csv_rows([(t, random_event(rng, world, t, now)) for t in tenants], world, None)
        started = time.perf_counter()
        await copy_events(conn, payload)
        copy_seconds += time.perf_counter() - started
        done += size
        print(f"  loaded {done:,} events", flush=True)
    return copy_seconds


def start_server(args: argparse.Namespace, url: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "src"),
        "DATABASE_URL": url,
        "REDIS_URL": "",
        "RATE_LIMIT_ENABLED": "false",
        "LOG_LEVEL": "WARNING",
        "ENVIRONMENT": "development",
        "DATABASE_POOL_SIZE": str(max(10, args.clients * 2)),
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "artisan.app:create_app",
            "--host",
            "127.0.0.1",
            "--port",
            str(args.port),
            "--workers",
            str(args.workers),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        env=env,
        cwd=ROOT,
    )


async def sign_in(http: httpx.AsyncClient, world: World) -> list[dict[str, str]]:
    headers = []
    for slug, email in zip(world.slugs, world.emails, strict=True):
        response = await http.post(
            "/api/auth/login", json={"email": email, "password": PASSWORD, "tenant_slug": slug}
        )
        response.raise_for_status()
        headers.append({"Authorization": f"Bearer {response.json()['access_token']}"})
    return headers


def wire(event: dict[str, Any], client_id: str) -> dict[str, Any]:
    body = {
        "type": event["type"],
        "campaign_id": str(event["campaign_id"]),
        "lead_id": str(event["lead_id"]),
        "occurred_at": event["occurred_at"].isoformat(),
        "properties": event["properties"],
        "client_id": client_id,
    }
    if event["step"]:
        body["step"] = event["step"]
    return body


async def api_ingest(
    http: httpx.AsyncClient,
    headers: list[dict[str, str]],
    batches: list[tuple[int, list[dict[str, Any]]]],
    clients: int,
) -> tuple[float, int]:
    # Bodies are encoded before the clock starts: the client's JSON encoding is not the
    # server's ingestion cost, and on a small machine it competes for the same cores.
    queue: asyncio.Queue[tuple[dict[str, str], bytes]] = asyncio.Queue()
    for tenant, events in batches:
        body = json.dumps({"events": events}, separators=(",", ":")).encode()
        queue.put_nowait(({**headers[tenant], "Content-Type": "application/json"}, body))
    accepted = 0

    async def worker() -> None:
        nonlocal accepted
        while not queue.empty():
            tenant_headers, body = queue.get_nowait()
            response = await http.post(
                "/api/events/batch", content=body, headers=tenant_headers, timeout=300
            )
            response.raise_for_status()
            accepted += response.json()["accepted"]

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    return time.perf_counter() - started, accepted


async def timed(call: Callable[[], Awaitable[httpx.Response]], runs: int) -> tuple[float, float]:
    for _ in range(3):
        (await call()).raise_for_status()
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        response = await call()
        samples.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
    samples.sort()
    p99 = samples[min(len(samples) - 1, round(0.99 * (len(samples) - 1)))]
    return statistics.median(samples), p99


async def run_queries(
    http: httpx.AsyncClient,
    conn: asyncpg.Connection,
    tenant_id: uuid.UUID,
    h: dict[str, str],
    args: argparse.Namespace,
    now: datetime,
) -> None:
    """Time the reports for the largest tenant beside the plain scan they replace."""
    top = await conn.fetchrow(
        "SELECT campaign_id, count(*) AS n FROM events WHERE tenant_id = $1 "
        "GROUP BY campaign_id ORDER BY n DESC LIMIT 1",
        tenant_id,
    )
    today = now.date()
    ninety = (today - timedelta(days=89)).isoformat()
    queries: dict[str, Callable[[], Awaitable[httpx.Response]]] = {
        "dashboard (30 days)": lambda: http.get("/api/analytics/dashboard", headers=h),
        "campaign report": lambda: http.get(
            f"/api/analytics/campaigns/{top['campaign_id']}", headers=h
        ),
        "timeseries (90 days, daily)": lambda: http.get(
            "/api/analytics/timeseries",
            params={
                "metric": "replied",
                "interval": "day",
                "start": ninety,
                "end": today.isoformat(),
                "timezone": "Europe/Paris",
            },
            headers=h,
        ),
        "funnel (30 days)": lambda: http.get("/api/analytics/funnel", headers=h),
    }
    largest_events = await conn.fetchval(
        "SELECT count(*) FROM events WHERE tenant_id = $1", tenant_id
    )
    print(f"largest tenant: {largest_events:,} events; its top campaign has {top['n']:,}")
    medians = {}
    for name, call in queries.items():
        median, p99 = await timed(call, args.runs)
        medians[name] = median
        print(f"  {name:<30} median {median:8.1f} ms   p99 {p99:8.1f} ms")
    baseline = []
    lower = now - timedelta(days=30)
    for _ in range(5):
        started = time.perf_counter()
        await conn.fetch(
            "SELECT type, count(*), count(DISTINCT (campaign_id, lead_id)) FROM events "
            "WHERE tenant_id = $1 AND occurred_at >= $2 AND NOT simulated "
            "GROUP BY type",
            tenant_id,
            lower,
        )
        baseline.append((time.perf_counter() - started) * 1000)
    plain = statistics.median(baseline)
    print(
        f"  plain GROUP BY over raw events (30 days, SQL only): median {plain:8.1f} ms "
        f"= {plain / medians['dashboard (30 days)']:.1f}x the dashboard over HTTP"
    )


async def queries_only(args: argparse.Namespace, url: str, async_url: str) -> None:
    """Time the reports against a database an earlier full run left behind."""
    conn = await asyncpg.connect(url)
    world = World()
    for row in await conn.fetch(
        "SELECT t.id, t.slug, u.email FROM tenants t JOIN users u ON u.tenant_id = t.id "
        "WHERE t.slug LIKE 'bench-%' ORDER BY length(t.slug), t.slug"
    ):
        world.tenants.append(row["id"])
        world.slugs.append(row["slug"])
        world.emails.append(row["email"])
    now = datetime.now(UTC).replace(microsecond=0)
    server = start_server(args, async_url)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{args.port}") as http:
            await wait_ready(http)
            headers = await sign_in(http, world)
            await run_queries(http, conn, world.tenants[0], headers[0], args, now)
    finally:
        server.terminate()
        server.wait(timeout=30)
        await conn.close()


async def main() -> None:
    args = parse_args()
    url = plain_url(args.database_url)
    async_url = url.replace("postgresql://", "postgresql+asyncpg://", 1)
    if args.queries_only:
        await queries_only(args, url, async_url)
        return
    print(
        f"scale: {args.events:,} bulk events, {args.tenants} tenants, "
        f"{args.campaigns:,} campaigns, "
        f"{args.leads:,} leads; API sample {args.api_events:,} events, {args.clients} clients, "
        f"{args.workers} worker(s), {args.pairing} pairing"
    )
    await recreate_database(url)
    settings = Settings(
        database_url=async_url, argon2_time_cost=1, argon2_memory_cost=1024, argon2_parallelism=1
    )
    migrate(settings)
    conn = await asyncpg.connect(url)
    now = datetime.now(UTC).replace(microsecond=0)
    try:
        world = await seed(conn, args, settings)
        largest = 0
        print(
            f"largest tenant: {len(world.campaigns[largest]):,} campaigns, "
            f"{len(world.leads[largest]):,} leads, "
            f"~{world.shares[largest]:.0%} of events"
        )
        copy_seconds = await bulk_load(conn, world, args, now)
        print(f"bulk COPY: {args.events / copy_seconds:,.0f} events/s")
        started = time.perf_counter()
        database = Database(settings.model_copy(update={"database_app_role": None}))
        for tenant_id in world.tenants:
            async with database.transaction(tenant_id=tenant_id) as session:
                await rebuild_tenant(session, tenant_id)
        await database.dispose()
        # As autovacuum leaves a settled database: statistics, and the visibility map that lets
        # index-only scans skip the table (a bulk load this fresh has had neither yet).
        await conn.execute("VACUUM (ANALYZE)")
        print(f"rebuild of per-lead state and rollups: {time.perf_counter() - started:,.1f} s")
        sizes = await conn.fetch(
            "SELECT relname, reltuples::bigint AS n_live_tup FROM pg_class WHERE relname IN "
            "('events', 'lead_metric_state', 'analytics_campaign_rollups', "
            "'analytics_tenant_rollups') "
            "ORDER BY relname"
        )
        print("rows: " + ", ".join(f"{r['relname']}={r['n_live_tup']:,}" for r in sizes))

        server = start_server(args, async_url)
        try:
            # Keep-alive with one pooled connection per client.
            limits = httpx.Limits(
                max_connections=args.clients, max_keepalive_connections=args.clients
            )
            async with httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{args.port}", limits=limits
            ) as http:
                await wait_ready(http)
                headers = await sign_in(http, world)
                rng = random.Random(args.seed + 1)
                # Live traffic: the sample's events happened within the last day.
                sample = [
                    (t, random_event(rng, world, t, now, span=86400))
                    for t in pick_tenants(rng, world, args.api_events)
                ]
                by_tenant: dict[int, list[dict[str, Any]]] = {}
                batches: list[tuple[int, list[dict[str, Any]]]] = []
                for number, (tenant, event) in enumerate(sample):
                    pending = by_tenant.setdefault(tenant, [])
                    pending.append(wire(event, f"api-{number}"))
                    if len(pending) == args.batch:
                        batches.append((tenant, pending))
                        by_tenant[tenant] = []
                batches += [(t, evs) for t, evs in by_tenant.items() if evs]
                rng.shuffle(batches)
                api_seconds, accepted = await api_ingest(http, headers, batches, args.clients)
                api_rate = accepted / api_seconds
                payload = csv_rows(sample, world, "-copy")
                started = time.perf_counter()
                await copy_events(conn, payload)
                copy_rate = len(sample) / (time.perf_counter() - started)
                print(
                    f"ingest via POST /api/events/batch: {api_rate:,.0f} events/s "
                    f"({accepted:,} accepted in {api_seconds:.1f} s)"
                )
                print(f"raw COPY of the same rows:        {copy_rate:,.0f} events/s")
                print(f"ratio API/COPY: {api_rate / copy_rate:.3f} (goal >= 0.2)")

                await run_queries(http, conn, world.tenants[0], headers[0], args, now)
        finally:
            server.terminate()
            server.wait(timeout=30)
    finally:
        await conn.close()


if __name__ == "__main__":
    asyncio.run(main())
