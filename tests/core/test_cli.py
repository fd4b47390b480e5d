"""The `artisan` command, run as a real process against the test database."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import time
from pathlib import Path

import httpx
import psutil
from fastapi import FastAPI

ROOT = Path(__file__).resolve().parents[2]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env["PYTHONPATH"] = str(ROOT / "src")
    env["LOG_LEVEL"] = "WARNING"
    env.update(extra)
    return env


async def artisan(*args: str, **env: str) -> tuple[int, str]:
    """Run `artisan ARGS` and return its exit code and combined output."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "artisan.cli",
        *args,
        env=_env(**env),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=120)
    return process.returncode or 0, output.decode()


async def test_help_lists_the_commands() -> None:
    code, output = await artisan("--help")
    assert code == 0
    for command in (
        "serve",
        "migrate",
        "create-tenant",
        "create-superuser",
        "seed-demo",
        "worker",
        "beat",
        "audit",
    ):
        assert command in output


async def test_one_shot_commands_use_the_embedded_database_quietly(tmp_path: Path) -> None:
    # No DATABASE_URL: the quickstart's embedded PostgreSQL is started (or joined), and said so;
    # info lines of the platform (rls_bypass) and of Alembic stay out of the output.
    env = {"EMBEDDED_POSTGRES_DIR": str(tmp_path / "pg"), "LOG_LEVEL": "INFO"}
    code, output = await artisan("migrate", "upgrade", **env)
    assert code == 0, output
    assert "embedded PostgreSQL" in output
    assert "Upgraded to head" in output
    assert "Running upgrade" not in output
    code, output = await artisan("seed-demo", **env)
    assert code == 0, output
    assert "admin@demo.artisan.dev" in output
    assert "rls_bypass" not in output
    # The command that started the server stopped it as it exited.
    data_dir = str(tmp_path / "pg")
    leftovers = [
        p for p in psutil.process_iter(["cmdline"]) if data_dir in " ".join(p.info["cmdline"] or [])
    ]
    assert leftovers == []


async def test_create_tenant_superuser_and_demo(
    app: FastAPI, client: httpx.AsyncClient, database_url: str
) -> None:
    code, output = await artisan(
        "create-tenant",
        "--name",
        "Initech",
        "--slug",
        "initech",
        "--plan",
        "starter",
        "--admin-email",
        "peter@initech.example.com",
        DATABASE_URL=database_url,
        ARTISAN_ADMIN_PASSWORD="tps-reports-2026",
    )
    assert code == 0, output
    login = await client.post(
        "/api/auth/login",
        json={"email": "peter@initech.example.com", "password": "tps-reports-2026"},
    )
    assert login.status_code == 200

    code, output = await artisan(
        "create-superuser",
        "--email",
        "ops@example.com",
        DATABASE_URL=database_url,
        ARTISAN_SUPERUSER_PASSWORD="operator-password-1",
    )
    assert code == 0, output
    token = (
        await client.post(
            "/api/auth/login", json={"email": "ops@example.com", "password": "operator-password-1"}
        )
    ).json()["access_token"]
    tenants = await client.get(
        "/api/platform/tenants", headers={"Authorization": f"Bearer {token}"}
    )
    assert {"initech", "platform"} <= {t["slug"] for t in tenants.json()["data"]}

    for _ in range(2):  # idempotent
        code, output = await artisan("seed-demo", DATABASE_URL=database_url)
        assert code == 0, output
    demo = await client.post(
        "/api/auth/login",
        json={"email": "admin@demo.artisan.dev", "password": "artisan-demo-password"},
    )
    assert demo.status_code == 200
    # Something to look at, loaded once however often the command runs.
    headers = {"Authorization": f"Bearer {demo.json()['access_token']}"}
    leads = (await client.get("/api/leads?limit=200", headers=headers)).json()["data"]
    assert len(leads) == 12
    assert {lead["status"] for lead in leads} - {"new"}  # engagement moved some on
    campaigns = (await client.get("/api/campaigns", headers=headers)).json()["data"]
    assert sorted(c["status"] for c in campaigns) == ["active", "draft"]
    dashboard = (await client.get("/api/analytics/dashboard", headers=headers)).json()
    assert any(kpi["value"] for kpi in dashboard["kpis"])
    events = (await client.get("/api/events", headers=headers)).json()["data"]
    assert events
    tenant_id = demo.json()["tenant_id"]
    audit = await client.get(f"/api/admin/{tenant_id}/audit-log", headers=headers)
    assert len(audit.json()["data"]) >= 5


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_quickstart_serve_with_embedded_postgres(tmp_path: Path) -> None:
    """`artisan serve` with no DATABASE_URL: embedded PostgreSQL, migrations, demo data, docs."""
    port = _free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "artisan.cli",
        "serve",
        "--port",
        str(port),
        env=_env(EMBEDDED_POSTGRES_DIR=str(tmp_path / "pg")),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        async with httpx.AsyncClient(base_url=base) as http:
            while True:
                assert process.returncode is None, "serve exited early"
                try:
                    if (await http.get("/health/ready")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "serve did not become ready"
                await asyncio.sleep(0.5)
            login = await http.post(
                "/api/auth/login",
                json={"email": "admin@demo.artisan.dev", "password": "artisan-demo-password"},
            )
            assert login.status_code == 200, login.text
            assert (await http.get("/docs")).status_code == 200
            assert (await http.get("/redoc")).status_code == 200
            assert "/api/auth/login" in (await http.get("/openapi.json")).json()["paths"]
    finally:
        process.terminate()
        output, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    text = output.decode()
    assert "admin@demo.artisan.dev" in text
    assert "artisan-demo-password" in text
    # Stopping the server also stops its embedded PostgreSQL.
    data_dir = str(tmp_path / "pg")
    leftovers = [
        p for p in psutil.process_iter(["cmdline"]) if data_dir in " ".join(p.info["cmdline"] or [])
    ]
    assert leftovers == []
