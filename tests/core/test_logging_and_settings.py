"""No secret reaches a log line; settings refuse unsafe production configuration."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest
import structlog
from fastapi import FastAPI
from pydantic import ValidationError

from artisan.config import Settings
from tests.conftest import client_for


async def test_secrets_never_reach_the_logs(
    app_factory: Callable[..., FastAPI], caplog: pytest.LogCaptureFixture
) -> None:
    app = app_factory(log_level="DEBUG")
    password = "a-very-secret-password-42"
    caplog.set_level(logging.DEBUG)
    async with client_for(app) as http:
        signup = await http.post(
            "/api/auth/signup",
            json={
                "company_name": "Loggers",
                "email": "log@example.com",
                "password": password,
                "name": "L",
            },
        )
        tokens = signup.json()
        await http.post(
            "/api/auth/login", json={"email": "log@example.com", "password": "wrong-" + password}
        )
        refreshed = (
            await http.post("/api/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
        ).json()
        invite = await http.post(
            f"/api/admin/{tokens['tenant_id']}/users",
            headers={"Authorization": f"Bearer {refreshed['access_token']}"},
            json={"email": "invitee@example.com", "full_name": "Invitee"},
        )
    logged = "\n".join(str(record.msg) + str(record.args) for record in caplog.records)
    assert "request" in logged  # the access log was captured at all
    secrets = [
        password,
        tokens["access_token"],
        tokens["refresh_token"],
        refreshed["access_token"],
        refreshed["refresh_token"],
        invite.json()["invitation_token"],
    ]
    for secret in secrets:
        assert secret not in logged


def test_production_refuses_a_weak_secret_key() -> None:
    with pytest.raises(ValidationError, match="SECRET_KEY"):
        Settings(environment="production", secret_key="short")
    with pytest.raises(ValidationError, match="SECRET_KEY"):
        Settings(environment="production")
    strong = Settings(environment="production", secret_key="s" * 40)
    assert strong.json_logs is True


def test_database_url_forms_are_normalised() -> None:
    assert Settings(database_url="postgres://u@h/db").database_url == "postgresql+asyncpg://u@h/db"
    assert (
        Settings(database_url="postgresql://u@h/db").sync_database_url
        == "postgresql+psycopg://u@h/db"
    )
    assert Settings(database_url="").database_url is None


def test_every_setting_is_documented() -> None:
    documented = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()
    missing = [
        name.upper() for name in Settings.model_fields if f"`{name.upper()}" not in documented
    ]
    assert missing == []


def test_worker_and_beat_processes_log_at_the_configured_level(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from celery.signals import setup_logging

    import artisan.worker  # noqa: F401 - connects the worker's logging setup
    from artisan.config import get_settings

    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    get_settings.cache_clear()
    # Start from what a fresh worker process has: nothing configured, everything let through.
    structlog.reset_defaults()
    root = logging.getLogger()
    previous_level = root.level
    root.setLevel(logging.DEBUG)
    try:
        # What Celery sends when a worker or beat starts, instead of configuring logging itself.
        setup_logging.send(sender=None, loglevel="INFO", logfile=None, format="", colorize=False)
        log = structlog.get_logger("artisan.test_worker_logging")
        log.info("below_the_level")
        log.warning("at_the_level", signature="v1,abc")
    finally:
        get_settings.cache_clear()
        root.setLevel(previous_level)
    out = capsys.readouterr().out
    assert "at_the_level" in out
    assert "below_the_level" not in out
    assert "v1,abc" not in out
