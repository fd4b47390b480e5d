"""Database engine, the per-request transaction and the tenant context for row-level security."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any, TypeVar

import structlog
from fastapi import Depends, Request
from sqlalchemy import Select, text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from artisan.config import Settings
from artisan.core.errors import NotFound

log = structlog.get_logger(__name__)

AfterCommit = Callable[[], Awaitable[None]]
T = TypeVar("T")


def server_settings(settings: Settings) -> dict[str, str]:
    """The session settings every connection of the platform opens with."""
    # No JIT compilation: it is decided by estimated cost, and a short statement the planner
    # over-estimates (a webhook claim walking the due index) paid ~30 ms of compilation on
    # every execution. The platform's statements are short; none gains from it.
    server = {"application_name": "artisan", "jit": "off"}
    if settings.database_app_role:
        # Connect as the deployment's login role, then act as the non-privileged role that
        # row-level security applies to.
        server["role"] = settings.database_app_role
    return server


class Database:
    """The engine and session factory of one process; held on `app.state`, never a global.

    The process's assembler (app.py, worker.py, the CLI) installs what domains read from every
    session (the audit key, the webhook dispatcher) with `add_session_info`.
    """

    def __init__(self, settings: Settings) -> None:
        if not settings.database_url:
            raise RuntimeError("DATABASE_URL is not set")
        connect_args: dict[str, Any] = {"server_settings": server_settings(settings)}
        self.engine: AsyncEngine = create_async_engine(
            settings.database_url,
            pool_size=settings.database_pool_size,
            max_overflow=settings.database_max_overflow,
            pool_pre_ping=True,
            connect_args=connect_args,
        )
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)

    def add_session_info(self, key: str, value: object) -> None:
        """Hand every later session of this database a process-wide object in `session.info`."""
        info = dict(self.sessionmaker.kw.get("info") or {})
        info[key] = value
        self.sessionmaker.configure(info=info)

    @asynccontextmanager
    async def transaction(
        self, *, tenant_id: uuid.UUID | None = None, bypass_rls: bool = False
    ) -> AsyncIterator[AsyncSession]:
        """One unit of work: commit on success, roll back on error, then run after-commit hooks."""
        async with self.sessionmaker() as session:
            async with session.begin():
                if tenant_id is not None:
                    await set_tenant(session, tenant_id)
                if bypass_rls:
                    await enable_rls_bypass(session, reason="system")
                yield session
            await run_after_commit(session)

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()


async def set_tenant(session: AsyncSession, tenant_id: uuid.UUID) -> None:
    """Bind the current transaction to one tenant; RLS policies hide every other tenant's rows."""
    await session.execute(
        text("SELECT set_config('app.tenant_id', :tenant_id, true)"),
        {"tenant_id": str(tenant_id)},
    )
    session.info["tenant_id"] = tenant_id


async def enable_rls_bypass(session: AsyncSession, *, reason: str) -> None:
    """Let this transaction see every tenant (platform and system work only); logged."""
    await session.execute(text("SELECT set_config('app.rls_bypass', 'on', true)"))
    session.info["rls_bypass"] = reason
    log.info("rls_bypass", reason=reason)


async def one_or_404(
    session: AsyncSession, query: Select[T], detail: str, *, for_update: bool = False
) -> T:
    """The single row a query selects (locked when asked); a 404 problem when there is none."""
    if for_update:
        query = query.with_for_update()
    row = (await session.execute(query)).scalar_one_or_none()
    if row is None:
        raise NotFound(detail)
    return row


def on_commit(session: AsyncSession, callback: AfterCommit) -> None:
    """Run `callback` only after the session's transaction commits (dropped on rollback)."""
    session.info.setdefault("after_commit", []).append(callback)


async def run_after_commit(session: AsyncSession) -> None:
    """Run the callbacks collected during a committed transaction; failures are logged."""
    callbacks: list[AfterCommit] = session.info.pop("after_commit", [])
    for callback in callbacks:
        try:
            await callback()
        except Exception:
            log.exception("after_commit_failed")


def get_database(request: Request) -> Database:
    """The process's database, from application state."""
    database: Database = request.app.state.database
    return database


async def _request_session(request: Request) -> AsyncIterator[AsyncSession]:
    database = get_database(request)
    async with database.sessionmaker() as session:
        async with session.begin():
            yield session
        await run_after_commit(session)


# Function scope: the transaction commits before the response is sent, so an acknowledged
# write is a durable write.
SessionDep = Annotated[AsyncSession, Depends(_request_session, scope="function")]
