"""Does a stream of failing sign-ins stall the API process? `/health` latency, idle and under load.

Starts one `artisan` API process (uvicorn, the production Argon2 cost) on a loopback port against
its own fresh database, signs a user up, then times sequential keep-alive `GET /health` requests
twice: alone, and while --clients other clients keep sending sign-ins with a wrong password (the
sign-in rate limits off, so every attempt costs a real hash check). Prints the median and p99 of
both and their ratio, the figures the fast-path issue sets its goal in (a median within 4x of
idle, a p99 under 100 ms), and the failing sign-ins per second served meanwhile. Asserts nothing.

    python bench/sign_in_stall.py [--requests 400] [--clients 4]
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
    "BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/artisan_bench_sign_in"
)
EMAIL, PASSWORD = "bench@example.com", "a-long-bench-password"


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "PYTHONPATH": str(ROOT / "src"),
            "DATABASE_URL": DATABASE_URL,
            "SECRET_KEY": "bench-secret-key-that-is-long-enough-0123456789",
            "LOG_LEVEL": "WARNING",
            "RATE_LIMIT_ENABLED": "false",
            "WEBHOOK_RUNNER": "off",
        }
    )
    env.pop("REDIS_URL", None)
    return env


async def _health_latencies(client: httpx.AsyncClient, n: int) -> list[float]:
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        response = await client.get("/health")
        samples.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
    return samples


async def _fail_sign_ins(base: str, stop: asyncio.Event, counts: list[int]) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        while not stop.is_set():
            response = await client.post(
                "/api/auth/login", json={"email": EMAIL, "password": "not-the-password"}
            )
            assert response.status_code == 401, response.text
            counts.append(1)


def _p99(samples: list[float]) -> float:
    return sorted(samples)[max(0, int(len(samples) * 0.99) - 1)]


async def main(args: argparse.Namespace) -> None:
    fresh_database(DATABASE_URL, _env())
    port = free_port()
    server = subprocess.Popen(  # noqa: ASYNC220 - the server under test, started once
        [
            sys.executable,
            "-m",
            "uvicorn",
            "artisan.app:create_app",
            "--factory",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=_env(),
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=60) as client:
            await wait_ready(client)
            signup = await client.post(
                "/api/auth/signup",
                json={"company_name": "Bench", "email": EMAIL, "password": PASSWORD, "name": "B"},
            )
            signup.raise_for_status()
            await _health_latencies(client, 50)  # warm-up
            idle = await _health_latencies(client, args.requests)
            stop, counts = asyncio.Event(), []
            attackers = [
                asyncio.create_task(_fail_sign_ins(base, stop, counts)) for _ in range(args.clients)
            ]
            await asyncio.sleep(1.0)  # let the sign-ins fill the hashing pool
            started, before = time.perf_counter(), len(counts)
            loaded = await _health_latencies(client, args.requests)
            elapsed = time.perf_counter() - started
            served = len(counts) - before
            stop.set()
            await asyncio.gather(*attackers)
    finally:
        server.terminate()
        server.wait(20)
    idle_median, loaded_median = statistics.median(idle), statistics.median(loaded)
    print(f"/health idle:  median {idle_median:.2f} ms, p99 {_p99(idle):.2f} ms")
    print(
        f"/health while {args.clients} clients keep failing sign-ins: median "
        f"{loaded_median:.2f} ms, p99 {_p99(loaded):.2f} ms"
    )
    print(
        f"ratio of the medians (loaded / idle): {loaded_median / idle_median:.2f} "
        "(goal <= 4); loaded p99 goal <= 100 ms"
    )
    print(f"failing sign-ins served meanwhile: {served / elapsed:.1f}/s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--clients", type=int, default=4)
    asyncio.run(main(parser.parse_args()))
