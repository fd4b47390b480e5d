"""The platform's Celery app, which knows no domain, and the runtime its task bodies share.

`worker.py` assembles the worker's app from the domains' `tasks.py` modules (their tasks, beat
entries and process setup), as `app.py` assembles routers; an API process makes a producer-only
app to send tasks by name. Every task body of a worker process runs on one `TaskRuntime`: one
event loop and one `Database`, built for the first task and disposed when the process shuts down.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import structlog
from celery import Celery

from artisan.config import Settings, get_settings
from artisan.core.db import Database

log = structlog.get_logger(__name__)

T = TypeVar("T")
ProcessSetup = Callable[["TaskRuntime"], None]
# The attribute of a Celery app that holds its processes' runtimes.
_RUNTIMES = "artisan_runtimes"


@dataclass(frozen=True, slots=True)
class Periodic:
    """One beat entry: `task` every `schedule` (seconds, or a `celery.schedules.crontab`)."""

    key: str
    task: str
    schedule: Any
    # A run still queued this many seconds after it was due is dropped (the next one follows).
    expires: float | None = None

    def entry(self) -> dict[str, Any]:
        """The entry in Celery's `beat_schedule` form."""
        entry: dict[str, Any] = {"task": self.task, "schedule": self.schedule}
        if self.expires is not None:
            entry["options"] = {"expires": self.expires}
        return entry


class TaskRuntime:
    """One worker process's event loop and database, shared by every task body it runs.

    Domains add the long-lived parts they need (the webhook engine, a Redis client, the audit
    maintenance connection) with `part`; each is built once and closed with the runtime.
    """

    def __init__(self, settings: Settings, celery: Celery) -> None:
        self.settings = settings
        # The app whose tasks run here (a dispatcher sends follow-up tasks through it).
        self.celery = celery
        self.database = Database(settings)
        self._runner = asyncio.Runner()
        self._parts: dict[type[Any], object] = {}
        self._closers: list[Callable[[], Coroutine[Any, Any, None]]] = []
        self.closed = False

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a task body on this process's loop."""
        if self.closed:
            coro.close()
            raise RuntimeError("the task runtime is closed")
        return self._runner.run(coro)

    def provide(
        self, part: T, *, close: Callable[[T], Coroutine[Any, Any, None]] | None = None
    ) -> T:
        """Hold `part` for the process's tasks, found by its type; closed with the runtime."""
        kind = type(part)
        if kind in self._parts:
            raise RuntimeError(f"the task runtime already holds a {kind.__name__}")
        self._parts[kind] = part
        if close is not None:
            self._closers.append(lambda: close(part))
        return part

    def part(
        self,
        kind: type[T],
        build: Callable[[], T] | None = None,
        *,
        close: Callable[[T], Coroutine[Any, Any, None]] | None = None,
    ) -> T:
        """The part of type `kind`, built on first use when `build` is given."""
        found = self._parts.get(kind)
        if found is None:
            if build is None:
                raise RuntimeError(f"no {kind.__name__} was set up in this worker process")
            return self.provide(build(), close=close)
        return cast(T, found)

    def close(self) -> None:
        """Close the parts (newest first), dispose of the database, then close the loop."""
        if self.closed:
            return
        self.closed = True
        try:
            for closer in reversed(self._closers):
                try:
                    self._runner.run(closer())
                except Exception:
                    log.exception("task_runtime_part_close_failed")
            self._runner.run(self.database.dispose())
        finally:
            self._runner.close()
        log.info("task_runtime_closed", pid=os.getpid())


class ProcessRuntimes:
    """The runtime of each process running an app's tasks (a forked child builds its own)."""

    def __init__(self, celery: Celery, setup: Sequence[ProcessSetup]) -> None:
        self.celery = celery
        self.setup = tuple(setup)
        self._runtime: TaskRuntime | None = None
        self._pid: int | None = None

    def current(self) -> TaskRuntime:
        """This process's runtime, built (and set up by every domain's setup) on first use."""
        pid = os.getpid()
        if self._runtime is None or self._pid != pid or self._runtime.closed:
            # Pools and loops inherited through a fork are the parent's: never reused.
            runtime = TaskRuntime(get_settings(), self.celery)
            for set_up in self.setup:
                set_up(runtime)
            self._runtime, self._pid = runtime, pid
            log.info("task_runtime_started", pid=pid)
        return self._runtime

    def close_current(self) -> None:
        """Dispose of this process's runtime, if it built one."""
        if self._runtime is not None and self._pid == os.getpid():
            self._runtime.close()
        self._runtime = None


def make_celery(
    settings: Settings,
    *,
    include: Sequence[str] = (),
    periodic: Sequence[Periodic] = (),
    process_setup: Sequence[ProcessSetup] = (),
    set_as_current: bool = True,
) -> Celery:
    """A Celery app for `settings`: late ack, prefetch 1, a visibility timeout past any batch."""
    celery = Celery(
        "artisan",
        broker=settings.broker_url or "memory://",
        include=list(include),
        set_as_current=set_as_current,
    )
    celery.conf.update(
        task_acks_late=True,
        # A task whose worker died is put back on the queue instead of being acknowledged.
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        broker_transport_options={"visibility_timeout": settings.celery_visibility_timeout},
        broker_connection_retry_on_startup=True,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        worker_hijack_root_logger=False,
        timezone="UTC",
        beat_schedule={entry.key: entry.entry() for entry in periodic},
    )
    setattr(celery, _RUNTIMES, ProcessRuntimes(celery, process_setup))
    return celery


def _runtimes(celery: Celery) -> ProcessRuntimes:
    runtimes = getattr(celery, _RUNTIMES, None)
    if not isinstance(runtimes, ProcessRuntimes):
        raise RuntimeError("this Celery app was not made by artisan.core.task_queue.make_celery")
    return runtimes


def task_runtime(task: Any) -> TaskRuntime:
    """The runtime of the process running `task` (a bound task's `self`)."""
    return _runtimes(task.app).current()


def close_task_runtime(celery: Celery) -> None:
    """Dispose of this process's runtime of `celery`'s tasks (at worker shutdown)."""
    _runtimes(celery).close_current()
