"""API key verification overhead: the same scoped read with a key, a user token, and no auth.

Starts the app under uvicorn on a loopback port against its own fresh database, issues a key
through the API, then times sequential keep-alive requests, interleaving the variants in rounds
so drift on a shared machine hits them alike. Prints median and p99 latency, requests per second,
and the key's overhead over the unauthenticated floor.

    python bench/api_keys.py [--requests 3000] [--warmup 300]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

from _serve import free_port, fresh_database, wait_ready

ROOT = Path(__file__).resolve().parents[1]
DATABASE_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/artisan_bench_keys"
)
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/11")


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT / 'bench'}",
            "DATABASE_URL": DATABASE_URL,
            "REDIS_URL": REDIS_URL,
            "SECRET_KEY": "bench-secret-key-that-is-long-enough-0123456789",
            "LOG_LEVEL": "WARNING",
            "RATE_LIMIT_USER": "10000000/minute",
            "ARGON2_TIME_COST": "1",
            "ARGON2_MEMORY_COST": "1024",
            "ARGON2_PARALLELISM": "1",
        }
    )
    return env


async def _setup(client: httpx.AsyncClient) -> tuple[str, dict[str, str], dict[str, str]]:
    signup = await client.post(
        "/api/auth/signup",
        json={
            "company_name": "Bench Co",
            "email": "bench@example.com",
            "password": "a-long-bench-password",
            "name": "Bench",
        },
    )
    signup.raise_for_status()
    user = {"Authorization": f"Bearer {signup.json()['access_token']}"}
    me = await client.get("/api/auth/me", headers=user)
    tenant_id = me.json()["tenant"]["id"]
    created = await client.post(
        f"/api/admin/{tenant_id}/api-keys",
        json={"name": "bench", "scopes": ["leads:read"]},
        headers=user,
    )
    created.raise_for_status()
    key = {"Authorization": f"Bearer {created.json()['secret']}"}
    return tenant_id, user, key


async def _time(
    client: httpx.AsyncClient, path: str, headers: dict[str, str], n: int
) -> list[float]:
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        response = await client.get(path, headers=headers)
        samples.append(time.perf_counter() - started)
        if response.status_code != 200:
            raise RuntimeError(f"{path}: {response.status_code} {response.text}")
    return samples


def _p(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def _run(port: int, requests: int, warmup: int, rounds: int) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
        await wait_ready(client)
        tenant_id, user, key = await _setup(client)
        variants = {
            "/health (floor, no DB)": ("/health", {}),
            "no auth (same read)": (f"/bench/{tenant_id}/open", {}),
            "API key": (f"/bench/{tenant_id}/scoped", key),
            "user JWT": (f"/bench/{tenant_id}/scoped", user),
        }
        for path, headers in variants.values():
            await _time(client, path, headers, warmup)
        samples: dict[str, list[float]] = {name: [] for name in variants}
        per_round = max(1, requests // rounds)
        for _ in range(rounds):
            for name, (path, headers) in variants.items():
                samples[name] += await _time(client, path, headers, per_round)

    print(f"{'variant':<24}{'median ms':>11}{'p99 ms':>9}{'req/s':>9}")
    for name, values in samples.items():
        print(
            f"{name:<24}{statistics.median(values) * 1000:>11.3f}{_p(values, 0.99):>9.3f}"
            f"{len(values) / sum(values):>9.0f}"
        )
    floor = statistics.median(samples["no auth (same read)"]) * 1000
    keyed = statistics.median(samples["API key"]) * 1000
    jwt = statistics.median(samples["user JWT"]) * 1000
    p99_delta = _p(samples["API key"], 0.99) - _p(samples["no auth (same read)"], 0.99)
    print(
        f"\nAPI key overhead over the same read without auth: {keyed - floor:.3f} ms median "
        f"(ratio {keyed / floor:.2f}); p99 {p99_delta:.3f} ms"
    )
    print(
        f"User JWT overhead for comparison: {jwt - floor:.3f} ms median (ratio {jwt / floor:.2f})"
    )
    print(f"Requests per variant: {len(samples['API key'])} sequential, keep-alive, one client")


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    fresh_database(DATABASE_URL, _env())
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "_bench_app:create",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        env=_env(),
        cwd=ROOT / "bench",
    )
    try:
        asyncio.run(_run(port, args.requests, args.warmup, args.rounds))
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
