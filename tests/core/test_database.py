"""How the platform's database sessions are set up."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy import text

from artisan.core.db import Database


async def test_sessions_run_without_jit_compilation(app: FastAPI) -> None:
    # A short statement whose cost the planner over-estimates would otherwise pay tens of
    # milliseconds of compilation on every execution.
    database: Database = app.state.database
    async with database.transaction(bypass_rls=True) as session:
        assert (await session.execute(text("SHOW jit"))).scalar_one() == "off"
        assert (await session.execute(text("SHOW application_name"))).scalar_one() == "artisan"
