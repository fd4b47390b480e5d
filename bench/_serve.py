"""What the benchmarks that start a real API process share: a fresh database, a port, readiness."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time

import httpx
import psycopg


def fresh_database(database_url: str, env: dict[str, str]) -> None:
    """Drop and create the benchmark's database, then migrate it in a process with `env`."""
    name = database_url.rsplit("/", 1)[1]
    admin_url = database_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    subprocess.run(
        [
            sys.executable,
            "-c",
            "from artisan.bootstrap import migrate; from artisan.config "
            "import Settings; migrate(Settings())",
        ],
        env=env,
        check=True,
    )


def free_port() -> int:
    """A loopback port nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def wait_ready(client: httpx.AsyncClient, within: float = 30) -> None:
    """Wait until the server answers /health."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if (await client.get("/health")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.1)
    raise RuntimeError("the server did not start")
