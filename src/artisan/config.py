"""Application settings, read once from the environment and an optional `.env` file."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

INSECURE_DEV_SECRET = "dev-insecure-secret-key-change-me-0123456789"  # noqa: S105


class Settings(BaseSettings):
    """Every setting of the service; docs/configuration.md documents each one."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    environment: Literal["development", "test", "production"] = "development"
    app_name: str = "Artisan Platform"

    # Database: with no DATABASE_URL, `artisan serve` starts an embedded PostgreSQL.
    database_url: str | None = None
    database_app_role: str | None = Field(
        default="artisan_app",
        description="Role the app switches to on connect so row-level security applies; "
        "empty when DATABASE_URL already logs in as a non-privileged role.",
    )
    database_pool_size: int = Field(default=10, ge=1, le=200)
    database_max_overflow: int = Field(default=10, ge=0, le=200)
    embedded_postgres_dir: str = ".data/postgres"

    redis_url: str | None = None

    # Security
    secret_key: str = INSECURE_DEV_SECRET
    jwt_algorithm: Literal["HS256", "HS384", "HS512"] = "HS256"
    jwt_expiration_hours: float = Field(default=24, gt=0, le=24 * 30)
    refresh_token_days: int = Field(default=30, ge=1, le=365)
    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_memory_cost: int = Field(default=65536, ge=8)
    argon2_parallelism: int = Field(default=4, ge=1)
    trial_days: int = Field(default=14, ge=0)
    tenant_restore_grace_days: int = Field(default=30, ge=0)

    # HTTP
    max_request_body_size: int = Field(default=10 * 1024 * 1024, ge=1024)
    enable_https_redirect: bool = False
    trusted_proxies: list[str] = Field(default_factory=lambda: ["127.0.0.1", "::1"])
    cors_origins: list[str] = Field(default_factory=list)

    # Rate limits (the `limits` package notation, e.g. "120/minute")
    rate_limit_enabled: bool = True
    rate_limit_user: str = "600/minute"
    rate_limit_anonymous: str = "120/minute"
    rate_limit_login_ip: str = "20/minute"
    rate_limit_login_email: str = "10/minute"

    # Campaigns and event tracking
    events_max_future_seconds: int = Field(
        default=300,
        ge=0,
        le=86_400,
        description="How far past the server clock an event's occurred_at may be (clock skew)",
    )
    campaign_max_enrolments: int = Field(
        default=10_000, ge=1, description="Leads one campaign may enrol"
    )

    # Observability
    log_level: str = "INFO"
    log_json: bool | None = None
    sentry_dsn: str | None = None
    sentry_environment: str | None = None

    @field_validator("database_url")
    @classmethod
    def _normalise_database_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        for prefix in ("postgres://", "postgresql://", "postgresql+psycopg://"):
            if value.startswith(prefix):
                return "postgresql+asyncpg://" + value[len(prefix) :]
        return value

    @field_validator("database_app_role")
    @classmethod
    def _empty_role_is_none(cls, value: str | None) -> str | None:
        return value or None

    @model_validator(mode="after")
    def _refuse_weak_secret_in_production(self) -> Settings:
        if self.environment == "production" and (
            len(self.secret_key) < 32 or self.secret_key == INSECURE_DEV_SECRET
        ):
            raise ValueError("SECRET_KEY must be set to at least 32 characters in production")
        return self

    @property
    def json_logs(self) -> bool:
        """Whether logs render as JSON (production default) or for humans."""
        return self.log_json if self.log_json is not None else self.environment == "production"

    @property
    def sync_database_url(self) -> str:
        """The database URL for synchronous tools (Alembic runs on psycopg)."""
        assert self.database_url is not None
        return self.database_url.replace("postgresql+asyncpg://", "postgresql+psycopg://", 1)


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read from the environment once."""
    return Settings()
