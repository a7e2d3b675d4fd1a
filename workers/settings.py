"""Settings from the environment, validated once at start.

Names are the integration design's (``SUPABASE_*``) plus ``CELERY_BROKER_URL``, ``DATABASE_URL``,
``PUSHER_*`` and our own ``AGENTQ_*``. A bad value raises :class:`SettingsError`
whose message names the variable; secrets are ``SecretStr`` so they never show in
a repr, a log line or an exception.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote, urlsplit

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError
from pydantic_settings import SettingsConfigDict

from workers.settings_realtime import RealtimeSettings
from workers.settings_serve import ServeSettings
from workers.urls import redact_url as redact_url  # re-exported: callers import it from here
from workers.urls import to_sqlalchemy_url

DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/0"
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/agent_workers"


class SettingsError(RuntimeError):
    """The environment holds a value we cannot start with; the message names it."""


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "agentq"


def _env(name: str, *more: str) -> Any:
    return Field(validation_alias=AliasChoices(name, *more))


class Settings(RealtimeSettings, ServeSettings):
    """Every setting the workers, producer and CLI read. Build with :func:`get_settings`."""

    # env_ignore_empty: `VAR=` (docker compose's ${VAR:-}) means "not set", not "".
    model_config = SettingsConfigDict(
        extra="ignore",
        case_sensitive=False,
        frozen=True,
        populate_by_name=True,
        env_ignore_empty=True,
    )

    # --- logging (workers/logs.py): every agentq command and Celery worker / beat ----
    log_level: str = Field(
        "INFO", pattern=r"(?i)^(debug|info|warning|error|critical)$", validation_alias="LOG_LEVEL"
    )
    # DEBUG for the Supabase-related loggers only (workers.logs.SUPABASE_LOGGERS).
    supabase_debug: bool = Field(False, validation_alias="SUPABASE_DEBUG")
    # text: human-readable lines; json: one JSON object per line (workers/log_json.py).
    log_format: Literal["text", "json"] = Field("text", validation_alias="LOG_FORMAT")

    # --- Celery and the database -------------------------------------------------
    celery_broker_url: SecretStr = Field(
        SecretStr(DEFAULT_BROKER_URL), validation_alias="CELERY_BROKER_URL"
    )
    database_url: SecretStr = Field(
        SecretStr(DEFAULT_DATABASE_URL), validation_alias="DATABASE_URL"
    )
    # Where hooks buffer transitions (a Redis stream). Default: the broker if Redis, else local.
    events_url: SecretStr | None = Field(None, validation_alias="AGENTQ_EVENTS_URL")
    events_stream: str = Field("agentq:events", validation_alias="AGENTQ_EVENTS_STREAM")
    recording: bool = Field(True, validation_alias="AGENTQ_RECORDING")
    # How hooks treat Redis's reply to their XADD. auto: wait for it in worker processes
    # (an event is in Redis before the task's message is acknowledged), not in
    # publishers (the web app's enqueue does not pay a round trip). deferred / each:
    # the same everywhere.
    events_confirm: Literal["auto", "deferred", "each"] = Field(
        "auto", validation_alias="AGENTQ_EVENTS_CONFIRM"
    )
    # A pool process holds a task's `running` this long and sends it in one entry with the
    # task's end when the task ends first (workers/recording/held_running.py); 0: never.
    running_hold_ms: int = Field(0, ge=0, le=60_000, validation_alias="AGENTQ_RUNNING_HOLD_MS")
    # Celery's task events (worker_send_task_events, task_send_sent_event): off, because
    # only Flower reads them and the record holds every transition. Flower switches them on
    # in running workers itself; true sends them always (and the producers' task-sent).
    task_events: bool = Field(False, validation_alias="AGENTQ_TASK_EVENTS")
    embedded_recorder: bool = Field(True, validation_alias="AGENTQ_EMBEDDED_RECORDER")
    # A child process (default) or a thread of the worker (workers/recording/recorder_process.py).
    recorder_process: bool = Field(True, validation_alias="AGENTQ_RECORDER_PROCESS")
    recorder_batch_size: int = Field(500, ge=1, le=10_000, validation_alias="AGENTQ_RECORDER_BATCH")
    recorder_backlog_batch_size: int = Field(
        5_000, ge=1, le=10_000, validation_alias="AGENTQ_RECORDER_BACKLOG_BATCH"
    )
    recorder_block_ms: int = Field(50, ge=1, le=10_000, validation_alias="AGENTQ_RECORDER_BLOCK_MS")
    # Minimum time between two batches: larger batches, less CPU, that much more lag.
    recorder_batch_window_ms: int = Field(
        100, ge=0, le=10_000, validation_alias="AGENTQ_RECORDER_BATCH_WINDOW_MS"
    )
    # Entries a dead recorder read but never acknowledged are claimed after this long.
    recorder_claim_idle_ms: int = Field(
        30_000, ge=100, validation_alias="AGENTQ_RECORDER_CLAIM_IDLE_MS"
    )
    heartbeat_seconds: float = Field(10.0, gt=0, validation_alias="AGENTQ_HEARTBEAT_SECONDS")
    # Recording stalled (unhealthy): entries waited this long, no batch committed for as long.
    recording_stall_seconds: float = Field(
        60.0, gt=0, validation_alias="AGENTQ_RECORDING_STALL_SECONDS"
    )
    # Health calls a worker stalled (unhealthy) when it holds messages and no task started
    # or ended there for this long (above the longest task time limit: workers/health/progress.py).
    worker_stall_seconds: float = Field(300.0, gt=0, validation_alias="AGENTQ_WORKER_STALL_SECONDS")
    data_dir: Path = Field(default_factory=_default_data_dir, validation_alias="AGENTQ_DATA_DIR")
    max_input_bytes: int = Field(1 << 20, ge=1, validation_alias="AGENTQ_MAX_INPUT_BYTES")
    # A broker message larger than this is set aside unread (the producer never sends
    # one: its input is capped at AGENTQ_MAX_INPUT_BYTES); 0: 4 x max_input_bytes.
    max_message_bytes: int = Field(0, ge=0, validation_alias="AGENTQ_MAX_MESSAGE_BYTES")
    # Dead letters keep a poison message's raw bytes up to this size (then truncated).
    dead_letter_max_bytes: int = Field(
        8 << 20, ge=1024, validation_alias="AGENTQ_DEAD_LETTER_MAX_BYTES"
    )
    visibility_timeout: int = Field(1800, ge=1, validation_alias="AGENTQ_VISIBILITY_TIMEOUT")
    prefetch_multiplier: int = Field(4, ge=1, validation_alias="AGENTQ_PREFETCH_MULTIPLIER")
    db_pool_size: int = Field(5, ge=1, le=100, validation_alias="AGENTQ_DB_POOL_SIZE")
    retry_backoff_max: int = Field(600, ge=1, validation_alias="AGENTQ_RETRY_BACKOFF_MAX")

    # --- celery beat: aggregation, health, reaper, retention ------------------------
    metrics_period_minutes: int = Field(
        5, ge=1, le=1440, validation_alias="AGENTQ_METRICS_PERIOD_MINUTES"
    )
    metrics_backfill_periods: int = Field(
        288, ge=1, le=100_000, validation_alias="AGENTQ_METRICS_BACKFILL_PERIODS"
    )
    # How often beat looks for newly closed periods (reruns are no-ops).
    metrics_interval_seconds: float = Field(
        60, gt=0, validation_alias="AGENTQ_METRICS_INTERVAL_SECONDS"
    )
    health_interval_seconds: float = Field(
        60, gt=0, validation_alias="AGENTQ_HEALTH_INTERVAL_SECONDS"
    )
    stale_agent_seconds: float = Field(60, gt=0, validation_alias="AGENTQ_STALE_AGENT_SECONDS")
    reaper_interval_seconds: float = Field(
        60, gt=0, validation_alias="AGENTQ_REAPER_INTERVAL_SECONDS"
    )
    retention_executions_days: float = Field(
        30, gt=0, validation_alias="AGENTQ_RETENTION_EXECUTIONS_DAYS"
    )
    retention_metrics_days: float = Field(
        90, gt=0, validation_alias="AGENTQ_RETENTION_METRICS_DAYS"
    )
    retention_health_days: float = Field(14, gt=0, validation_alias="AGENTQ_RETENTION_HEALTH_DAYS")
    retention_batch: int = Field(5000, ge=1, le=100_000, validation_alias="AGENTQ_RETENTION_BATCH")
    retention_budget_seconds: float = Field(
        10, gt=0, validation_alias="AGENTQ_RETENTION_BUDGET_SECONDS"
    )
    retention_interval_seconds: float = Field(
        3600, gt=0, validation_alias="AGENTQ_RETENTION_INTERVAL_SECONDS"
    )

    # --- the reconciler: the record against the broker (docs/reconcile.md) ------------
    reconcile_interval_seconds: float = Field(
        60, gt=0, validation_alias="AGENTQ_RECONCILE_INTERVAL"
    )
    # Beat's pass repairs what it finds (lost tasks published again, unrecorded rows
    # created, expired / revoked ones set final); off: it only reports.
    reconcile_repair: bool = Field(False, validation_alias="AGENTQ_RECONCILE_REPAIR")
    # A row waiting this long for a message that is nowhere is lost (beyond the
    # recording lag; a message lost with Redis never comes back).
    reconcile_grace_seconds: float = Field(300, ge=0, validation_alias="AGENTQ_RECONCILE_GRACE")
    # Messages per LRANGE / HSCAN / XRANGE and rows per query of one pass.
    reconcile_page: int = Field(1000, ge=10, le=100_000, validation_alias="AGENTQ_RECONCILE_PAGE")

    # --- Supabase (the integration design's names and defaults) -------------------------------
    # None (unset): Supabase is used when SUPABASE_* name one (workers/stores.py);
    # false: never, whatever SUPABASE_* say; true: required (an error when none is named).
    enable_supabase_integration: bool | None = Field(
        None, validation_alias="ENABLE_SUPABASE_INTEGRATION"
    )
    supabase_url: str | None = Field(None, validation_alias="SUPABASE_URL")
    supabase_anon_key: SecretStr | None = Field(None, validation_alias="SUPABASE_ANON_KEY")
    supabase_service_role_key: SecretStr | None = Field(
        None, validation_alias="SUPABASE_SERVICE_ROLE_KEY"
    )
    supabase_db_host: str = Field("localhost", validation_alias="SUPABASE_DB_HOST")
    supabase_db_port: int = Field(54322, ge=1, le=65535, validation_alias="SUPABASE_DB_PORT")
    supabase_db_name: str = Field("postgres", validation_alias="SUPABASE_DB_NAME")
    supabase_db_user: str = Field("postgres", validation_alias="SUPABASE_DB_USER")
    supabase_db_pass: SecretStr = Field(SecretStr("postgres"), validation_alias="SUPABASE_DB_PASS")
    # Supabase refuses plain connections: a URL built from SUPABASE_DB_* asks for TLS.
    supabase_db_sslmode: Literal[
        "disable", "allow", "prefer", "require", "verify-ca", "verify-full"
    ] = Field("require", validation_alias="SUPABASE_DB_SSLMODE")
    supabase_agent_schema: str = Field(
        "public", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", validation_alias="SUPABASE_AGENT_SCHEMA"
    )
    supabase_enable_realtime: bool = Field(True, validation_alias="SUPABASE_ENABLE_REALTIME")
    supabase_enable_rls: bool = Field(True, validation_alias="SUPABASE_ENABLE_RLS")
    supabase_connection_timeout: float = Field(
        30, gt=0, validation_alias="SUPABASE_CONNECTION_TIMEOUT"
    )
    supabase_max_retries: int = Field(3, ge=0, le=20, validation_alias="SUPABASE_MAX_RETRIES")
    supabase_retry_delay: float = Field(5, ge=0, validation_alias="SUPABASE_RETRY_DELAY")
    # The mirror (dual database): its circuit breaker and the outbox replay by beat.
    mirror_breaker_failures: int = Field(
        3, ge=1, le=100, validation_alias="AGENTQ_MIRROR_BREAKER_FAILURES"
    )
    mirror_breaker_reset_seconds: float = Field(
        30, gt=0, validation_alias="AGENTQ_MIRROR_BREAKER_RESET_SECONDS"
    )
    outbox_replay_seconds: float = Field(15, gt=0, validation_alias="AGENTQ_OUTBOX_REPLAY_SECONDS")
    outbox_replay_batch: int = Field(
        200, ge=1, le=10_000, validation_alias="AGENTQ_OUTBOX_REPLAY_BATCH"
    )
    # An outbox row older than this makes `agentq health` say degraded.
    outbox_degraded_seconds: float = Field(
        300, gt=0, validation_alias="AGENTQ_OUTBOX_DEGRADED_SECONDS"
    )

    @model_validator(mode="after")
    def _enabled_supabase_is_named(self) -> Settings:
        if self.enable_supabase_integration and not self._supabase_named():
            missing = (
                "SUPABASE_DB_HOST (the database), or SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY"
            )
            if self.supabase_url:
                missing = "SUPABASE_SERVICE_ROLE_KEY or SUPABASE_ANON_KEY (SUPABASE_URL has no key)"
            msg = "ENABLE_SUPABASE_INTEGRATION=true but no Supabase is configured: set {missing}"
            raise PydanticCustomError("supabase_missing", msg, {"missing": missing})
        return self

    @field_validator("log_format", mode="before")
    @classmethod
    def _log_format_any_case(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("celery_broker_url")
    @classmethod
    def _known_broker(cls, value: SecretStr) -> SecretStr:
        url = value.get_secret_value()
        scheme = urlsplit(url).scheme
        if scheme not in {"redis", "rediss", "amqp", "amqps", "pyamqp", "redis+socket", "memory"}:
            raise ValueError(
                f"{redact_url(url)!r} is not a broker URL: use redis://host:6379/0 or"
                " amqp://user:password@host:5672//"
            )
        return value

    @field_validator("database_url")
    @classmethod
    def _postgres_only(cls, value: SecretStr) -> SecretStr:
        url = value.get_secret_value()
        if not urlsplit(url).scheme.startswith("postgres"):
            raise ValueError(
                f"{redact_url(url)!r} is not a PostgreSQL URL:"
                " use postgresql://user:password@host:5432/dbname"
            )
        return value

    @model_validator(mode="after")
    def _agent_schema_rest_only(self) -> Settings:
        """SUPABASE_AGENT_SCHEMA other than public only where the REST store uses it. The SQL
        path (migrations, the SQL store, the SQL mirror, the realtime triggers and
        functions) keeps the agent tables in the connection's schema, public: honouring it
        on half the paths would split the data between two schemas without a word."""
        schema = self.supabase_agent_schema
        rest_only = (
            self.is_supabase_configured() and "supabase_db_host" not in self.model_fields_set
        )
        if schema == "public" or rest_only:
            return self
        raise ValueError(
            f"SUPABASE_AGENT_SCHEMA={schema!r} is honoured only by the Supabase REST store "
            "(SUPABASE_URL + key, no SUPABASE_DB_HOST); the SQL path (DATABASE_URL, "
            "SUPABASE_DB_*: migrations, the SQL store and mirror) keeps the agent tables in "
            "public. Leave it unset or set it to public"
        )

    # --- derived values ----------------------------------------------------------
    @property
    def broker_url(self) -> str:
        return self.celery_broker_url.get_secret_value()

    @property
    def sqlalchemy_url(self) -> str:
        """The primary database (:attr:`primary_database_url`) in SQLAlchemy's spelling
        for psycopg 3."""
        return to_sqlalchemy_url(self.primary_database_url)

    @property
    def primary_database_url(self) -> str:
        """``DATABASE_URL``; Supabase's own database when only ``SUPABASE_DB_HOST`` …
        name one (contains the password: never log it, use :func:`redact_url`)."""
        fields = self.model_fields_set
        if "database_url" not in fields and self.supabase_enabled and "supabase_db_host" in fields:
            return self.get_supabase_database_url()
        return self.database_url.get_secret_value()

    @property
    def recorder_redis_url(self) -> str:
        if self.events_url is not None:
            return self.events_url.get_secret_value()
        if self.broker_url.startswith(("redis://", "rediss://", "unix://")):
            return self.broker_url
        return "redis://127.0.0.1:6379/0"

    @property
    def spool_dir(self) -> Path:
        return self.data_dir / "spool"

    @property
    def message_size_limit(self) -> int:
        return self.max_message_bytes or 4 * self.max_input_bytes

    @property
    def supabase_enabled(self) -> bool:
        """Whether Supabase may be used at all: ``ENABLE_SUPABASE_INTEGRATION`` when set,
        otherwise whether ``SUPABASE_*`` name a database or a REST API."""
        if self.enable_supabase_integration is not None:
            return self.enable_supabase_integration
        return self._supabase_named()

    def _supabase_named(self) -> bool:
        rest = self.supabase_url and (self.supabase_service_role_key or self.supabase_anon_key)
        return "supabase_db_host" in self.model_fields_set or bool(rest)

    # --- the integration design's Supabase helpers ----------------------------------------------
    def get_supabase_config(self) -> dict[str, Any]:
        """The Supabase settings as a dict, secrets still wrapped (safe to log)."""
        return {
            "url": self.supabase_url,
            "anon_key": self.supabase_anon_key,
            "service_role_key": self.supabase_service_role_key,
            "jwt_secret": self.supabase_jwt_secret,
            "db_host": self.supabase_db_host,
            "db_port": self.supabase_db_port,
            "db_name": self.supabase_db_name,
            "db_user": self.supabase_db_user,
            "db_password": self.supabase_db_pass,
            "agent_schema": self.supabase_agent_schema,
            "enable_realtime": self.supabase_enable_realtime,
            "enable_rls": self.supabase_enable_rls,
            "connection_timeout": self.supabase_connection_timeout,
            "max_retries": self.supabase_max_retries,
            "retry_delay": self.supabase_retry_delay,
            "enabled": self.supabase_enabled,
        }

    def is_supabase_configured(self) -> bool:
        """True when the REST API can be used: a URL and a key, and not
        ``ENABLE_SUPABASE_INTEGRATION=false``."""
        key = self.supabase_service_role_key or self.supabase_anon_key
        return bool(self.supabase_url and key and self.enable_supabase_integration is not False)

    def get_supabase_database_url(self) -> str:
        """The direct PostgreSQL URL of the Supabase database (contains the password)."""
        user = quote(self.supabase_db_user, safe="")
        password = quote(self.supabase_db_pass.get_secret_value(), safe="")
        return (
            f"postgresql://{user}:{password}@{self.supabase_db_host}:"
            f"{self.supabase_db_port}/{self.supabase_db_name}?sslmode={self.supabase_db_sslmode}"
        )


def load_settings(**overrides: Any) -> Settings:
    """Read and validate the environment; :class:`SettingsError` names a bad variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"])
            msg = err["msg"].removeprefix("Value error, ")
            # A check across variables (no loc) names them in its message.
            problems.append(f"{loc.upper()}: {msg}" if loc else msg)
        raise SettingsError("invalid environment: " + "; ".join(problems)) from None


@functools.lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read on first use (never at import)."""
    return load_settings()


def get_supabase_config() -> dict[str, Any]:
    return get_settings().get_supabase_config()


def is_supabase_configured() -> bool:
    return get_settings().is_supabase_configured()


def get_supabase_database_url() -> str:
    return get_settings().get_supabase_database_url()
