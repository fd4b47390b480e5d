"""The Celery worker, assembled from the domains' tasks as `app.py` assembles their routers.

`celery -A artisan.worker worker|beat` works. Each domain's `tasks.py` owns its task names, its
tasks and its beat entries; this module only gathers them, says what every worker process sets
up before its first task, and disposes of the process's runtime at shutdown.
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from celery.signals import setup_logging, task_postrun, worker_process_shutdown, worker_shutdown

from artisan.api_keys import tasks as api_key_tasks
from artisan.audit import tasks as audit_tasks
from artisan.audit.recorder import install_audit
from artisan.campaigns import tasks as campaign_tasks
from artisan.config import Settings, get_settings
from artisan.core import task_queue
from artisan.core.task_queue import TaskRuntime, close_task_runtime, task_runtime
from artisan.webhooks import tasks as webhook_tasks

TASK_MODULES = (webhook_tasks, api_key_tasks, audit_tasks, campaign_tasks)


def set_up_process(runtime: TaskRuntime) -> None:
    """What every session of a worker process needs before its first task runs."""
    install_audit(runtime.database, runtime.settings)
    # Events emitted by any task (campaign schedules, endpoint health) go out through the queue.
    webhook_tasks.set_up_worker(runtime)


def make_celery(settings: Settings) -> Celery:
    """The worker's app: every domain's tasks and the whole beat schedule."""
    return task_queue.make_celery(
        settings,
        include=[module.__name__ for module in TASK_MODULES],
        periodic=[
            *webhook_tasks.periodic(settings),
            *api_key_tasks.periodic(settings),
            *audit_tasks.periodic(settings),
            *campaign_tasks.periodic(settings),
        ],
        process_setup=[set_up_process],
    )


app = make_celery(get_settings())


@task_postrun.connect
def _count_task_outcome(
    sender: Any = None, task: Any = None, state: str | None = None, **_: Any
) -> None:
    """Count every finished task by name and outcome for /metrics."""
    name = str(getattr(task, "name", None) or getattr(sender, "name", "unknown"))
    if task is not None and name.startswith("artisan."):
        webhook_tasks.record_task_outcome(task_runtime(task), name, (state or "unknown").lower())


@worker_process_shutdown.connect
@worker_shutdown.connect
def _close_runtime(**_: Any) -> None:
    """Dispose of the process's task runtime: its loop, database pool, HTTP session, clients."""
    close_task_runtime(app)


@setup_logging.connect
def _configure_logging(loglevel: int | str | None = None, **_: Any) -> None:
    """Workers and beat log like the API: LOG_LEVEL and JSON_LOGS apply (not Celery's defaults).

    Celery's own lines (start-up, `ready.`, task failures) keep the `--loglevel` they were given.
    """
    import logging

    from artisan.core.logging import configure_logging

    settings = get_settings()
    configure_logging(settings.log_level, json=settings.json_logs)
    if loglevel:
        logging.getLogger("celery").setLevel(loglevel)
