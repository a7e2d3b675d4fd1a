"""What the bridge needs from the settings, checked once, with errors naming the variable."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import SecretStr

from workers.settings import Settings, SettingsError, redact_url

TABLES = ("agent_executions", "agent_instances", "agent_metrics", "system_health")
TASK_STATUSES = ("pending", "queued", "running", "completed", "failed", "cancelled", "retrying")

# What an execution event carries by default; id, task_id, status and updated_at always.
DEFAULT_EXECUTION_FIELDS = (
    "agent_type",
    "task_type",
    "priority",
    "user_id",
    "session_id",
    "retry_count",
    "attempts",
    "worker",
    "error_type",
    "error_message",
    "execution_time_seconds",
    "quality_score",
    "created_at",
    "started_at",
    "completed_at",
)
ALWAYS_EXECUTION_FIELDS = ("id", "task_id", "status", "updated_at")
# Columns the fetch query reads (persistence/sql/realtime.sql, fetch_agent_executions).
EXECUTION_FIELDS = (
    *ALWAYS_EXECUTION_FIELDS,
    *DEFAULT_EXECUTION_FIELDS,
    "max_retries",
    "agent_instance_id",
    "parent_task_id",
    "enqueued_at",
    "status_at",
    "output_data",
)


def _csv(value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip())


def _known(variable: str, values: tuple[str, ...], known: tuple[str, ...]) -> tuple[str, ...]:
    unknown = [v for v in values if v not in known]
    if unknown:
        raise SettingsError(f"{variable}: unknown {', '.join(unknown)} (known: {', '.join(known)})")
    return values


@dataclass(frozen=True)
class PusherConfig:
    app_id: str
    key: str
    secret: SecretStr
    cluster: str | None
    host: str | None
    port: int | None
    ssl: bool
    timeout: float

    def describe(self) -> str:
        """Where events go, for log lines (never the secret)."""
        if self.host:
            scheme = "https" if self.ssl else "http"
            where = f"{scheme}://{self.host}" + (f":{self.port}" if self.port else "")
        else:
            where = f"Pusher cluster {self.cluster}"
        return f"{where} app {self.app_id} key {self.key} (secret ***)"


def listen_url(s: Settings) -> str:
    """The primary database (``workers/stores.py``, ``plan()``): the changes are committed
    and NOTIFYed there. Raises :class:`SettingsError` when realtime is switched off or the
    primary is Supabase's REST API (a SQL connection is needed to LISTEN)."""
    from workers.stores import REST, plan

    if not s.supabase_enable_realtime:
        raise SettingsError(
            "realtime is disabled (SUPABASE_ENABLE_REALTIME=false): set it to true to run "
            "the bridge (the database sends no change notifications meanwhile)"
        )
    if plan(s).primary == REST:
        raise SettingsError(
            "realtime needs a SQL connection to the primary database to LISTEN on, and "
            "SUPABASE_URL (REST) is not one: set DATABASE_URL, or SUPABASE_DB_HOST with "
            "SUPABASE_DB_PORT, SUPABASE_DB_NAME, SUPABASE_DB_USER and SUPABASE_DB_PASS"
        )
    return s.primary_database_url


@dataclass(frozen=True)
class RealtimeConfig:
    database_url: str
    pusher: PusherConfig
    tables: tuple[str, ...]
    statuses: frozenset[str] | None  # None: every status
    execution_fields: tuple[str, ...]
    channel_prefix: str
    user_channels: bool
    batch_window_s: float
    breaker_failures: int
    breaker_reset_s: float
    catchup_margin_s: float
    catchup_max_s: float
    # User channels are private-<prefix>-user-<id>; the fleet channels can be turned off.
    private_user_channels: bool = True
    public_channels: bool = True
    # Where the bridge reports its lag and breaker for /metrics (status_report.py); None: not.
    status_redis_url: str | None = None

    @property
    def database_display(self) -> str:
        return redact_url(self.database_url)

    @classmethod
    def from_settings(cls, s: Settings) -> RealtimeConfig:
        """Raises :class:`SettingsError` naming the missing or bad variables."""
        database_url = listen_url(s)
        missing = [
            name
            for name, value in (
                ("PUSHER_APP_ID", s.pusher_app_id),
                ("PUSHER_KEY", s.pusher_key),
                ("PUSHER_SECRET", s.pusher_secret),
            )
            if not value
        ]
        if not (s.pusher_cluster or s.pusher_host):
            missing.append("PUSHER_CLUSTER (or PUSHER_HOST)")
        if missing:
            raise SettingsError("realtime needs Pusher settings: missing " + ", ".join(missing))
        assert s.pusher_app_id and s.pusher_key and s.pusher_secret
        statuses = _known("AGENTQ_REALTIME_STATUSES", _csv(s.realtime_statuses), TASK_STATUSES)
        fields = _known(
            "AGENTQ_REALTIME_EXECUTION_FIELDS",
            _csv(s.realtime_execution_fields) or DEFAULT_EXECUTION_FIELDS,
            EXECUTION_FIELDS,
        )
        return cls(
            database_url=database_url,
            pusher=PusherConfig(
                app_id=s.pusher_app_id,
                key=s.pusher_key,
                secret=s.pusher_secret,
                cluster=s.pusher_cluster,
                host=s.pusher_host,
                port=s.pusher_port,
                ssl=s.pusher_ssl,
                timeout=s.realtime_pusher_timeout,
            ),
            tables=_known("AGENTQ_REALTIME_TABLES", _csv(s.realtime_tables), TABLES),
            statuses=frozenset(statuses) if statuses else None,
            execution_fields=tuple(dict.fromkeys((*ALWAYS_EXECUTION_FIELDS, *fields))),
            channel_prefix=s.realtime_channel_prefix,
            user_channels=s.realtime_user_channels,
            batch_window_s=s.realtime_batch_window_ms / 1000,
            breaker_failures=s.realtime_breaker_failures,
            breaker_reset_s=s.realtime_breaker_reset_seconds,
            catchup_margin_s=s.realtime_catchup_margin_seconds,
            catchup_max_s=s.realtime_catchup_max_seconds,
            private_user_channels=s.realtime_private_user_channels,
            public_channels=s.realtime_public_channels,
            status_redis_url=s.recorder_redis_url,
        )
