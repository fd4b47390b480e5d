"""Application settings, read once from the environment and an optional `.env` file."""

from __future__ import annotations

import hmac
from functools import lru_cache
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
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
    password_hash_workers: int = Field(
        default=2,
        ge=1,
        le=64,
        description="Threads that hash passwords beside the event loop; more sign-ins queue",
    )
    trial_days: int = Field(default=14, ge=0)
    tenant_restore_grace_days: int = Field(default=30, ge=0)

    # HTTP
    max_request_body_size: int = Field(default=10 * 1024 * 1024, ge=1024)
    free_json_max_bytes: int = Field(
        default=16 * 1024,
        ge=256,
        le=1024 * 1024,
        description="Largest free-form JSON object (lead custom fields, event properties, "
        "preview samples), in bytes of its compact UTF-8 encoding",
    )
    free_json_max_depth: int = Field(
        default=5, ge=1, le=32, description="Deepest nesting of a free-form JSON object"
    )
    free_json_max_key_length: int = Field(
        default=100, ge=1, le=1000, description="Longest key anywhere in a free-form JSON object"
    )
    enable_https_redirect: bool = False
    trusted_proxies: list[str] = Field(default_factory=lambda: ["127.0.0.1", "::1"])
    cors_origins: list[str] = Field(default_factory=list)

    # Rate limits (the `limits` package notation, e.g. "120/minute")
    rate_limit_enabled: bool = True
    rate_limit_user: str = "600/minute"
    rate_limit_anonymous: str = "120/minute"
    rate_limit_login_ip: str = "20/minute"
    rate_limit_login_email: str = "10/minute"

    # API keys
    api_key_secret: str | None = Field(
        default=None,
        description="Server secret keying the HMAC under which API keys are stored; derived "
        "from SECRET_KEY when empty. Changing it invalidates every issued key.",
    )
    api_key_cache_ttl_seconds: float = Field(
        default=30,
        ge=0,
        le=300,
        description="How long a process may reuse a verified key without reading the database; "
        "revocations reach every process through Redis pub/sub sooner. 0 turns the cache off.",
    )
    api_key_cache_max_entries: int = Field(default=10_000, ge=1)
    campaign_schedule_interval_seconds: float = Field(
        default=60,
        gt=0,
        le=3600,
        description="How often scheduled campaigns are started at their start time and active "
        "or paused ones completed at their end time (a beat job, or a loop inside `artisan serve` "
        "without Redis).",
    )
    api_key_usage_flush_seconds: float = Field(
        default=15,
        gt=0,
        le=60,
        description="How often each API process writes buffered key usage to the database.",
    )
    api_key_usage_flush_in_app: bool = Field(
        default=True,
        description="Whether API processes flush key usage themselves; when false they only "
        "stage it in Redis for a scheduled job calling flush_usage().",
    )
    rate_limit_api_key_failures: str = Field(
        default="20/minute",
        description="Failed API key authentications allowed per client IP before 429s.",
    )

    # Webhooks (docs/webhooks.md, "Settings")
    webhook_runner: Literal["auto", "celery", "inprocess", "off"] = Field(
        default="auto",
        description="Who sends webhooks: Celery workers (auto when REDIS_URL is set), the "
        "in-process runner inside `artisan serve` (auto without REDIS_URL), or nobody (off).",
    )
    webhook_retry_schedule: str = Field(
        default="0,5,300,1800,7200",
        description="Comma-separated seconds to wait before each attempt (first is usually 0); "
        "its length is the number of attempts. Each wait gets +/-20% jitter.",
    )
    webhook_timeout_seconds: float = Field(default=15, gt=0, le=120)
    webhook_allow_private_networks: str = Field(
        default="",
        description="Comma-separated CIDRs that SSRF protection lets through "
        "(e.g. 127.0.0.0/8 for local development). Empty by default.",
    )
    webhook_require_https: bool | None = Field(
        default=None, description="Refuse http:// endpoint URLs (default: on in production)."
    )
    webhook_max_payload_bytes: int = Field(default=256 * 1024, ge=1024)
    webhook_payload_retention_days: int = Field(default=30, ge=1)
    webhook_retry_after_max_seconds: int = Field(
        default=3600, ge=1, description="Upper bound on an honoured Retry-After header."
    )
    webhook_disable_after_days: float = Field(
        default=5, gt=0, description="Disable an endpoint whose attempts all failed this long."
    )
    webhook_disable_after_failures: int = Field(
        default=100,
        ge=1,
        description="Disable an endpoint after this many dead-lettered messages in a row.",
    )
    webhook_batch_size: int = Field(default=500, ge=1, le=5000)
    webhook_concurrency: int = Field(default=64, ge=1, le=1000)
    webhook_sweep_interval_seconds: float = Field(default=2, gt=0, le=300)
    webhook_requeue_after_seconds: float = Field(
        default=60,
        gt=0,
        description="A due delivery that was queued this long ago and never started is queued "
        "again by the sweeper (a lost broker message, a flushed Redis).",
    )
    celery_broker_url: str | None = Field(
        default=None, description="Celery broker; REDIS_URL when unset."
    )
    celery_visibility_timeout: int = Field(
        default=600,
        ge=1,
        description="Seconds before a task a worker took but never acknowledged is redelivered; "
        "longer than the longest delivery batch.",
    )

    # Audit trail
    audit_hmac_key: SecretStr | None = Field(
        default=None,
        description="Key of the audit trail's personal-field digests and checkpoint signatures; "
        "derived from SECRET_KEY when unset. Keep it stable: a new key cannot re-check old rows.",
    )
    audit_retention_days_by_plan: dict[str, int] = Field(
        default_factory=lambda: {"free": 90, "starter": 365, "growth": 365, "enterprise": 730},
        description="Days audit entries are kept, by plan; a tenant's audit_retention_days "
        "setting overrides it.",
    )
    audit_metadata_max_bytes: int = Field(
        default=8192,
        ge=256,
        le=1024 * 1024,
        description="Largest JSON metadata an audit entry keeps; larger metadata is replaced "
        "by a marker noting its size.",
    )
    audit_maintenance_database_url: str | None = Field(
        default=None,
        description="Connection used for pruning and erasure (DATABASE_URL when unset); its "
        "login role must be allowed to SET ROLE artisan_audit_maintainer.",
    )
    audit_export_batch_rows: int = Field(
        default=2000,
        ge=100,
        le=50_000,
        description="Rows fetched per round trip from the server-side cursor of an export.",
    )

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

    @field_validator("database_url", "audit_maintenance_database_url")
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
        if (
            self.environment == "production"
            and self.api_key_secret is not None
            and len(self.api_key_secret) < 32
        ):
            raise ValueError("API_KEY_SECRET must be at least 32 characters in production")
        return self

    @field_validator("webhook_retry_schedule")
    @classmethod
    def _check_retry_schedule(cls, value: str) -> str:
        delays = [part.strip() for part in value.split(",") if part.strip()]
        if not delays or any(float(d) < 0 for d in delays):
            raise ValueError("WEBHOOK_RETRY_SCHEDULE must be comma-separated seconds >= 0")
        return ",".join(delays)

    @field_validator("webhook_allow_private_networks")
    @classmethod
    def _check_private_networks(cls, value: str) -> str:
        import ipaddress

        for cidr in (part.strip() for part in value.split(",")):
            if cidr:
                ipaddress.ip_network(cidr, strict=False)
        return value

    @property
    def webhook_retry_delays(self) -> list[float]:
        """WEBHOOK_RETRY_SCHEDULE as seconds before each attempt."""
        return [float(part) for part in self.webhook_retry_schedule.split(",")]

    @property
    def webhook_https_required(self) -> bool:
        """Whether endpoint URLs must use https."""
        if self.webhook_require_https is not None:
            return self.webhook_require_https
        return self.environment == "production"

    @property
    def broker_url(self) -> str | None:
        """The Celery broker URL."""
        return self.celery_broker_url or self.redis_url

    @property
    def json_logs(self) -> bool:
        """Whether logs render as JSON (production default) or for humans."""
        return self.log_json if self.log_json is not None else self.environment == "production"

    @property
    def audit_key(self) -> bytes:
        """The audit trail's HMAC key (derived from SECRET_KEY unless set on its own)."""
        if self.audit_hmac_key is not None:
            return self.audit_hmac_key.get_secret_value().encode()
        return hmac.new(self.secret_key.encode(), b"artisan-audit-trail-v1", "sha256").digest()

    @property
    def driver_database_url(self) -> str:
        """The database URL as the asyncpg driver itself takes it (the webhook engine's own
        connections)."""
        if not self.database_url:
            raise RuntimeError("DATABASE_URL is not set")
        return self.database_url.replace("postgresql+asyncpg://", "postgresql://", 1)

    @property
    def sync_database_url(self) -> str:
        """The database URL for synchronous tools (Alembic runs on psycopg)."""
        assert self.database_url is not None
        return self.database_url.replace("postgresql+asyncpg://", "postgresql+psycopg://", 1)


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read from the environment once."""
    return Settings()
