"""The settings of Pusher and the realtime bridge (``PUSHER_*``, ``AGENTQ_REALTIME_*``).

A base of :class:`workers.settings.Settings` (kept apart so that each module stays one
screenful of a concern); read them through ``get_settings()`` like every other setting.
"""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings


class RealtimeSettings(BaseSettings):
    """Pusher's app and the bridge's channels, batching, breaker and catch-up."""

    # --- Pusher ------------------------------------------------------------------
    pusher_app_id: str | None = Field(None, pattern=r"^\d+$", validation_alias="PUSHER_APP_ID")
    pusher_key: str | None = Field(None, validation_alias="PUSHER_KEY")
    pusher_secret: SecretStr | None = Field(None, validation_alias="PUSHER_SECRET")
    pusher_cluster: str | None = Field(None, validation_alias="PUSHER_CLUSTER")
    pusher_host: str | None = Field(None, validation_alias="PUSHER_HOST")
    pusher_port: int | None = Field(None, ge=1, le=65535, validation_alias="PUSHER_PORT")
    pusher_ssl: bool = Field(True, validation_alias="PUSHER_SSL")

    # --- realtime bridge (workers/realtime; lists are comma-separated) --------------
    # Changes of one row inside the window go out once, as its latest state.
    realtime_batch_window_ms: int = Field(
        50, ge=0, le=10_000, validation_alias="AGENTQ_REALTIME_BATCH_WINDOW_MS"
    )
    realtime_channel_prefix: str = Field(
        "agentq",
        pattern=r"^[A-Za-z0-9_\-=@,.;]{1,64}$",
        validation_alias="AGENTQ_REALTIME_CHANNEL_PREFIX",
    )
    realtime_tables: str = Field(
        "agent_executions,agent_instances,agent_metrics,system_health",
        validation_alias="AGENTQ_REALTIME_TABLES",
    )
    realtime_statuses: str = Field("", validation_alias="AGENTQ_REALTIME_STATUSES")  # "": all
    realtime_execution_fields: str = Field("", validation_alias="AGENTQ_REALTIME_EXECUTION_FIELDS")
    realtime_user_channels: bool = Field(True, validation_alias="AGENTQ_REALTIME_USER_CHANNELS")
    # A user's channel is private-<prefix>-user-<id> (subscribers need a signature from
    # agentq serve's /pusher/auth); false: the public <prefix>-user-<id> of before.
    realtime_private_user_channels: bool = Field(
        True, validation_alias="AGENTQ_REALTIME_PRIVATE_USER_CHANNELS"
    )
    # The fleet channels (<prefix>-executions, -agents, -metrics); false: user channels only.
    realtime_public_channels: bool = Field(True, validation_alias="AGENTQ_REALTIME_PUBLIC_CHANNELS")
    realtime_breaker_failures: int = Field(
        3, ge=1, le=1000, validation_alias="AGENTQ_REALTIME_BREAKER_FAILURES"
    )
    realtime_breaker_reset_seconds: float = Field(
        10, gt=0, le=3600, validation_alias="AGENTQ_REALTIME_BREAKER_RESET_SECONDS"
    )
    realtime_pusher_timeout: float = Field(
        2, gt=0, le=60, validation_alias="AGENTQ_REALTIME_PUSHER_TIMEOUT"
    )
    # Catch-up after a lost LISTEN connection: from the last time seen minus the margin
    # (covers transactions still open then), at most this far back.
    realtime_catchup_margin_seconds: float = Field(
        10, ge=0, le=3600, validation_alias="AGENTQ_REALTIME_CATCHUP_MARGIN_SECONDS"
    )
    realtime_catchup_max_seconds: float = Field(
        3600, gt=0, validation_alias="AGENTQ_REALTIME_CATCHUP_MAX_SECONDS"
    )
