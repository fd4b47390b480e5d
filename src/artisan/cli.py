"""The `artisan` command: serve, migrate, create-tenant, create-superuser, seed-demo."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from typing import Annotated, Any

import typer

from artisan import bootstrap
from artisan.config import Settings, get_settings
from artisan.models.tenant import Plan

app = typer.Typer(help="Artisan Platform operations.", no_args_is_help=True)
migrate_app = typer.Typer(help="Apply or roll back database migrations.", no_args_is_help=True)
app.add_typer(migrate_app, name="migrate")
audit_app = typer.Typer(help="Maintain the audit trail.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


@app.callback()
def _quiet_by_default() -> None:
    """One-shot commands print their results, not the platform's info log lines."""
    # `serve`, `worker` and `beat` configure logging again from LOG_LEVEL as they start.
    from artisan.core.logging import configure_logging

    configure_logging("WARNING", json=get_settings().json_logs)


def _settings() -> Settings:
    """The settings, with the quickstart's embedded PostgreSQL when DATABASE_URL is unset."""
    settings = get_settings()
    if settings.database_url:
        return settings
    _start_embedded(settings)
    return get_settings()


def _start_embedded(settings: Settings) -> Any:
    """Join the embedded PostgreSQL of `artisan serve`, or start it; it stops with its last
    user (a one-shot command that started it stops it as it exits)."""
    from artisan.core.embedded_pg import start_embedded_postgres

    typer.echo(
        f"No DATABASE_URL: using the quickstart's embedded PostgreSQL in "
        f"{settings.embedded_postgres_dir}",
        err=True,
    )
    server, url = start_embedded_postgres(settings.embedded_postgres_dir)
    os.environ["DATABASE_URL"] = url
    get_settings.cache_clear()
    return server


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
    demo: Annotated[
        bool | None,
        typer.Option(help="Load the demo tenant (default: on with embedded PostgreSQL)"),
    ] = None,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes")] = 1,
) -> None:
    """Migrate and serve the API (with an embedded PostgreSQL when DATABASE_URL is unset)."""
    import uvicorn

    settings = get_settings()
    embedded = None
    if not settings.database_url:
        embedded = _start_embedded(settings)
        settings = get_settings()
        demo = True if demo is None else demo
    typer.echo("Applying migrations ...")
    bootstrap.migrate(settings)
    if demo:
        account = asyncio.run(bootstrap.seed_demo(settings))
        typer.echo(
            f"Demo tenant '{account.tenant_slug}': sign in as {account.email} "
            f"with password {bootstrap.DEMO_ADMIN_PASSWORD}"
        )
    typer.echo(f"API docs: http://{host}:{port}/docs  (ReDoc /redoc, OpenAPI /openapi.json)")
    typer.echo(
        "Sign in there with Authorize (the email as username), or POST /api/auth/login; "
        "the guides are in docs/ (start with docs/auth.md)."
    )
    if embedded is not None:
        # uvicorn re-raises SIGTERM after its graceful shutdown; turn it into an exit so the
        # embedded PostgreSQL is stopped below instead of being orphaned.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        uvicorn.run(
            "artisan.app:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            proxy_headers=False,
            log_config=None,
        )
    finally:
        if embedded is not None:
            embedded.cleanup()


_PASSTHROUGH = {"allow_extra_args": True, "ignore_unknown_options": True}


@app.command(context_settings=_PASSTHROUGH)
def worker(
    ctx: typer.Context,
    concurrency: Annotated[int, typer.Option(min=1, help="Worker processes")] = 1,
    beat: Annotated[bool, typer.Option(help="Also run the beat scheduler in this worker")] = False,
) -> None:
    """Start a Celery worker (deliveries and periodic jobs); extra args go to Celery."""
    from artisan.worker import app as celery_app

    _settings()
    argv = ["worker", f"--concurrency={concurrency}", "--loglevel=INFO"]
    if concurrency == 1:
        # One process with one event loop: batches already send concurrently over aiohttp.
        argv.append("--pool=solo")
    if beat:
        argv.append("--beat")
    celery_app.worker_main([*argv, *ctx.args])


@app.command(context_settings=_PASSTHROUGH)
def beat(ctx: typer.Context) -> None:
    """Start the Celery beat scheduler (run exactly one); extra args go to Celery."""
    from artisan.worker import app as celery_app

    _settings()
    celery_app.start(["beat", "--loglevel=INFO", *ctx.args])


@migrate_app.command("upgrade")
def migrate_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Upgrade the schema (to head by default)."""
    bootstrap.migrate(_settings(), revision)
    typer.echo(f"Upgraded to {revision}")


@migrate_app.command("downgrade")
def migrate_downgrade(revision: Annotated[str, typer.Argument(help="e.g. -1 or base")]) -> None:
    """Roll the schema back to a revision (`-1` for one step, `base` for empty)."""
    bootstrap.migrate(_settings(), revision, down=True)
    typer.echo(f"Downgraded to {revision}")


def _password(value: str | None, label: str) -> str:
    if value:
        return value
    return str(typer.prompt(label, hide_input=True, confirmation_prompt=True))


@app.command("create-tenant")
def create_tenant(
    name: Annotated[str, typer.Option(help="Company name")],
    admin_email: Annotated[str, typer.Option(help="First admin's email")],
    slug: Annotated[
        str | None, typer.Option(help="URL slug (derived from the name if omitted)")
    ] = None,
    plan: Annotated[Plan, typer.Option(help="Plan")] = Plan.free,
    admin_password: Annotated[
        str | None,
        typer.Option(
            help="First admin's password (prompted if omitted)", envvar="ARTISAN_ADMIN_PASSWORD"
        ),
    ] = None,
) -> None:
    """Create a tenant with its first admin."""
    account = asyncio.run(
        bootstrap.create_tenant_with_admin(
            _settings(),
            name=name,
            slug=slug,
            plan=plan,
            admin_email=admin_email,
            admin_password=_password(admin_password, "Admin password"),
        )
    )
    state = "created" if account.created else "exists"
    typer.echo(f"Tenant {account.tenant_slug}: admin {account.email} ({state})")


@app.command("create-superuser")
def create_superuser(
    email: Annotated[str, typer.Option(help="Operator's email")],
    password: Annotated[
        str | None,
        typer.Option(help="Password (prompted if omitted)", envvar="ARTISAN_SUPERUSER_PASSWORD"),
    ] = None,
) -> None:
    """Create a platform operator (in the internal `platform` tenant)."""
    account = asyncio.run(
        bootstrap.create_tenant_with_admin(
            _settings(),
            name="Artisan Platform Operators",
            slug=bootstrap.PLATFORM_TENANT_SLUG,
            plan=Plan.enterprise,
            admin_email=email,
            admin_password=_password(password, "Password"),
            admin_name="Platform Operator",
            superuser=True,
        )
    )
    typer.echo(f"Superuser {account.email} ({'created' if account.created else 'exists'})")


@app.command("seed-demo")
def seed_demo() -> None:
    """Load the demo tenant and its admin (idempotent)."""
    account = asyncio.run(bootstrap.seed_demo(_settings()))
    typer.echo(
        f"Demo tenant '{account.tenant_slug}': {account.email} / {bootstrap.DEMO_ADMIN_PASSWORD}"
    )


@audit_app.command("prune")
def audit_prune(
    tenant: Annotated[
        str | None, typer.Option(help="Only this tenant (slug); every tenant if omitted")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option(help="Report what would be pruned, delete nothing")
    ] = False,
) -> None:
    """Delete audit entries older than each tenant's retention, leaving signed checkpoints."""
    from artisan.audit.maintenance import AuditMaintenance

    async def run() -> list[Any]:
        maintenance = AuditMaintenance(_settings())
        try:
            return await maintenance.prune(tenant_slug=tenant, dry_run=dry_run)
        finally:
            await maintenance.dispose()

    try:
        results = asyncio.run(run())
    except LookupError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc
    verb = "would prune" if dry_run else "pruned"
    for result in results:
        typer.echo(
            f"{result.tenant_slug}: {verb} {result.pruned} entries older than "
            f"{result.cutoff.date().isoformat()} (retention {result.retention_days} days)"
        )
    typer.echo(f"Total {verb}: {sum(r.pruned for r in results)}")


def main() -> None:
    """Entry point of the `artisan` console script."""
    app()


if __name__ == "__main__":
    main()
