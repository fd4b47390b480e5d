"""The worker process's task runtime: one loop and one database, its parts, its disposal."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from celery import Celery
from sqlalchemy import text

from artisan.config import Settings, get_settings
from artisan.core.task_queue import (
    Periodic,
    ProcessRuntimes,
    TaskRuntime,
    close_task_runtime,
    make_celery,
    task_runtime,
)
from tests.conftest import make_settings


@pytest.fixture
def settings(database_url: str) -> Settings:
    """Test settings."""
    return make_settings(database_url)


@pytest.fixture
def environment(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The settings in the environment, where a worker process's runtime reads them."""
    monkeypatch.setenv("DATABASE_URL", str(settings.database_url))
    monkeypatch.setenv("SECRET_KEY", settings.secret_key)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _backend_pid(runtime: TaskRuntime) -> int:
    async def query() -> int:
        async with runtime.database.transaction() as session:
            return int((await session.execute(text("SELECT pg_backend_pid()"))).scalar_one())

    return runtime.run(query())


def _connected(settings: Settings, pid: int) -> bool:
    url = settings.driver_database_url
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone()
    return row is not None and bool(row[0])


class Part:
    """A stand-in for a domain's long-lived part (an engine, a client)."""

    def __init__(self, name: str, closed: list[str]) -> None:
        self.name = name
        self.closed = closed

    async def close(self) -> None:
        self.closed.append(self.name)


class OtherPart(Part):
    """A second kind of part."""


def test_parts_are_built_once_and_closed_newest_first(settings: Settings) -> None:
    runtime = TaskRuntime(settings, Celery("test", set_as_current=False))
    closed: list[str] = []
    first = runtime.provide(Part("first", closed), close=Part.close)
    builds: list[int] = []

    def build() -> OtherPart:
        builds.append(1)
        return OtherPart("second", closed)

    second = runtime.part(OtherPart, build, close=OtherPart.close)
    assert runtime.part(OtherPart, build) is second
    assert runtime.part(Part) is first
    assert builds == [1]
    with pytest.raises(RuntimeError, match="already holds a Part"):
        runtime.provide(Part("again", closed))
    with pytest.raises(RuntimeError, match="no str was set up"):
        runtime.part(str)
    pid = _backend_pid(runtime)
    assert _connected(settings, pid)
    runtime.close()
    assert closed == ["second", "first"]
    # The database's pooled connection is gone (its backend exits once the socket closes), and
    # the loop is closed.
    deadline = time.monotonic() + 10
    while _connected(settings, pid):
        assert time.monotonic() < deadline, "the runtime's connection is still open"
        time.sleep(0.05)
    with pytest.raises(RuntimeError, match="closed"):
        runtime.run(_noop())
    runtime.close()  # a second close does nothing
    assert closed == ["second", "first"]


async def _noop() -> None:
    return None


def test_one_runtime_per_process_set_up_once(
    environment: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_up: list[TaskRuntime] = []
    celery = Celery("test", set_as_current=False)
    runtimes = ProcessRuntimes(celery, [set_up.append])
    try:
        first = runtimes.current()
        assert runtimes.current() is first
        assert set_up == [first]
        assert first.celery is celery
        # A forked child must not reuse the parent's pools and loop: it builds its own.
        parent = os.getpid()
        monkeypatch.setattr(os, "getpid", lambda: parent + 1)
        child = runtimes.current()
        assert child is not first
        assert set_up == [first, child]
        runtimes.close_current()
        assert child.closed
        assert not first.closed
    finally:
        monkeypatch.setattr(os, "getpid", lambda: parent)
        first.close()


def test_tasks_find_the_runtime_of_their_app(settings: Settings, environment: None) -> None:
    celery = make_celery(settings, set_as_current=False)

    class BoundTask:
        app = celery

    runtime = task_runtime(BoundTask())
    assert task_runtime(BoundTask()) is runtime
    close_task_runtime(celery)
    assert runtime.closed

    class ForeignTask:
        app: Any = Celery("plain", set_as_current=False)

    with pytest.raises(RuntimeError, match="not made by"):
        task_runtime(ForeignTask())


def test_beat_entries_take_celerys_form() -> None:
    assert Periodic("sweep", "artisan.x.sweep", 5.0, expires=25).entry() == {
        "task": "artisan.x.sweep",
        "schedule": 5.0,
        "options": {"expires": 25},
    }
    assert Periodic("daily", "artisan.x.prune", 3600.0).entry() == {
        "task": "artisan.x.prune",
        "schedule": 3600.0,
    }
