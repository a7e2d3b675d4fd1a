"""The schema, as SQLAlchemy Core metadata: the single source of truth.

Tables, enums, columns, defaults and CHECKs of ``agent_instances``,
``agent_executions``, ``agent_metrics`` and ``system_health`` are the integration design's
(database/supabase/migrations/001_create_agent_system_tables.sql); what the
lifecycle needs is added and marked "added" below. Alembic renders the
migrations from this module's twin in ``persistence/migrations``; the
``sync_schemas`` check (and its test) proves the two agree.

One deliberate difference: ``gen_random_uuid()`` (built in since PostgreSQL 13)
instead of ``uuid_generate_v4()``, which needs the uuid-ossp extension that the
embedded PostgreSQL wheel does not ship. Both produce version-4 UUIDs.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Identity,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ENUM, JSONB, UUID

metadata = MetaData()

AGENT_TYPE_VALUES = (
    "content_generator",
    "quiz_generator",
    "terrain_generator",
    "script_generator",
    "code_reviewer",
    "roblox_asset",
    "roblox_testing",
    "roblox_analytics",
)
AGENT_STATUS_VALUES = (
    "initializing",
    "idle",
    "busy",
    "processing",
    "waiting",
    "error",
    "offline",
    "maintenance",
)
TASK_STATUS_VALUES = (
    "pending",
    "queued",
    "running",
    "completed",
    "failed",
    "cancelled",
    "retrying",
)
TASK_PRIORITY_VALUES = ("low", "normal", "high", "urgent", "critical")

agent_type = ENUM(*AGENT_TYPE_VALUES, name="agent_type", create_type=False)
agent_status = ENUM(*AGENT_STATUS_VALUES, name="agent_status", create_type=False)
task_status = ENUM(*TASK_STATUS_VALUES, name="task_status", create_type=False)
task_priority = ENUM(*TASK_PRIORITY_VALUES, name="task_priority", create_type=False)

NOW = text("now()")
UUID_DEFAULT = text("gen_random_uuid()")
EMPTY_JSON = text("'{}'::jsonb")


def _pk() -> Column[object]:
    return Column("id", UUID(as_uuid=True), primary_key=True, server_default=UUID_DEFAULT)


agent_instances = Table(
    "agent_instances",
    metadata,
    _pk(),
    Column("agent_id", Text, nullable=False, unique=True),
    Column("agent_type", agent_type, nullable=False),
    Column("status", agent_status, nullable=False, server_default=text("'initializing'")),
    Column("configuration", JSONB, server_default=EMPTY_JSON),
    Column("resource_limits", JSONB, server_default=EMPTY_JSON),
    Column("performance_thresholds", JSONB, server_default=EMPTY_JSON),
    Column("current_task_id", Text),
    Column("last_activity", DateTime(timezone=True), server_default=NOW),
    Column("last_heartbeat", DateTime(timezone=True), server_default=NOW),
    Column("total_tasks_completed", Integer, server_default=text("0")),
    Column("total_tasks_failed", Integer, server_default=text("0")),
    Column("total_execution_time", Float, server_default=text("0.0")),
    Column("average_execution_time", Float, server_default=text("0.0")),
    Column("created_at", DateTime(timezone=True), server_default=NOW),
    Column("updated_at", DateTime(timezone=True), server_default=NOW),
    # added: the worker host serving this instance (agent_id = <agent_type>@<worker>)
    Column("worker", Text),
    Index("idx_agent_instances_agent_type_status", "agent_type", "status"),
    Index("idx_agent_instances_last_activity", "last_activity"),
    Index("idx_agent_instances_performance", "total_tasks_completed", "total_tasks_failed"),
)

agent_executions = Table(
    "agent_executions",
    metadata,
    _pk(),
    Column("task_id", Text, nullable=False, unique=True),
    Column(
        "agent_instance_id",
        UUID(as_uuid=True),
        ForeignKey("agent_instances.id", ondelete="CASCADE"),
    ),
    Column("agent_type", agent_type, nullable=False),
    Column("task_type", Text, nullable=False),
    Column("priority", task_priority, server_default=text("'normal'")),
    Column("input_data", JSONB, nullable=False, server_default=EMPTY_JSON),
    Column("output_data", JSONB),
    Column("context_data", JSONB, server_default=EMPTY_JSON),
    Column("status", task_status, nullable=False, server_default=text("'pending'")),
    Column("error_message", Text),
    Column("error_details", JSONB),
    Column("execution_time_seconds", Float),
    Column("memory_usage_mb", Float),
    Column("cpu_usage_percent", Float),
    Column("quality_score", Float),
    Column("confidence_score", Float),
    Column("user_rating", Integer),
    Column("created_at", DateTime(timezone=True), server_default=NOW),
    Column("started_at", DateTime(timezone=True)),
    Column("completed_at", DateTime(timezone=True)),
    Column("user_id", UUID(as_uuid=True)),
    Column("session_id", Text),
    Column("retry_count", Integer, server_default=text("0")),
    Column("max_retries", Integer, server_default=text("3")),
    Column("parent_task_id", Text),
    # added for the lifecycle
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("error_type", Text),
    Column("worker", Text),
    Column("enqueued_at", DateTime(timezone=True)),
    Column("status_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    # added for tracing (revision 0011): the W3C trace id of the task's enqueue
    Column("trace_id", Text),
    CheckConstraint("trace_id ~ '^[0-9a-f]{32}$'", name="agent_executions_trace_id_check"),
    CheckConstraint(
        "quality_score >= 0 AND quality_score <= 1", name="agent_executions_quality_score_check"
    ),
    CheckConstraint(
        "confidence_score >= 0 AND confidence_score <= 1",
        name="agent_executions_confidence_score_check",
    ),
    CheckConstraint(
        "user_rating >= 1 AND user_rating <= 5", name="agent_executions_user_rating_check"
    ),
    CheckConstraint("retry_count >= 0", name="agent_executions_retry_count_check"),
    Index("idx_agent_executions_status_created", "status", "created_at"),
    Index("idx_agent_executions_agent_task_type", "agent_type", "task_type"),
    Index("idx_agent_executions_user_session", "user_id", "session_id"),
    Index("idx_agent_executions_performance", "execution_time_seconds", "quality_score"),
    # added: what the recorder and the reaper look up
    Index(
        "idx_agent_executions_running_worker",
        "worker",
        "agent_type",
        postgresql_where=text("status = 'running'"),
    ),
    # added (0002): the executions that finished in a period, for the metrics aggregation
    Index(
        "idx_agent_executions_completed_at",
        "completed_at",
        postgresql_where=text("completed_at IS NOT NULL"),
    ),
    # added (0003): the realtime bridge catches up on rows changed since a time
    Index("idx_agent_executions_updated_at", "updated_at"),
    # added (0008): the instance cascade and an instance's history filter on it
    Index("idx_agent_executions_agent_instance_id", "agent_instance_id"),
    # added (0013): the page's newest-first keysets (persistence/sql/browse.sql) and the
    # health report's recent status changes (persistence/sql/health.sql)
    Index("idx_agent_executions_created_task", "created_at", "task_id"),
    Index("idx_agent_executions_user_created_task", "user_id", "created_at", "task_id"),
    Index("idx_agent_executions_status_at", "status_at"),
)

# added: the append-only history of every transition (one row per distinct event)
agent_execution_events = Table(
    "agent_execution_events",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("task_id", Text, nullable=False),
    Column("status", task_status, nullable=False),
    Column("attempt", Integer, nullable=False),
    # In the primary key since 0012: the partition key (docs/schema.md#partitions).
    Column("occurred_at", DateTime(timezone=True), primary_key=True),
    Column("worker", Text),
    Column("detail", JSONB),
    Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    # Deferred: the event and its execution row are written in one transaction.
    ForeignKeyConstraint(
        ["task_id"],
        ["agent_executions.task_id"],
        name="agent_execution_events_task_id_fkey",
        ondelete="CASCADE",
        deferrable=True,
        initially="DEFERRED",
    ),
    Index("idx_agent_execution_events_task_id", "task_id", "occurred_at"),
)

agent_metrics = Table(
    "agent_metrics",
    metadata,
    _pk(),
    Column(
        "agent_instance_id",
        UUID(as_uuid=True),
        ForeignKey("agent_instances.id", ondelete="CASCADE"),
    ),
    Column("agent_type", agent_type, nullable=False),
    Column("period_start", DateTime(timezone=True), primary_key=True),  # 0012: partition key
    Column("period_end", DateTime(timezone=True), nullable=False),
    Column("period_duration_minutes", Integer, nullable=False),
    Column("tasks_completed", Integer, server_default=text("0")),
    Column("tasks_failed", Integer, server_default=text("0")),
    Column("tasks_cancelled", Integer, server_default=text("0")),
    Column("total_tasks", Integer, server_default=text("0")),
    Column("success_rate", Float, server_default=text("0.0")),
    Column("error_rate", Float, server_default=text("0.0")),
    Column("average_execution_time", Float, server_default=text("0.0")),
    Column("median_execution_time", Float, server_default=text("0.0")),
    Column("p95_execution_time", Float, server_default=text("0.0")),
    Column("tasks_per_minute", Float, server_default=text("0.0")),
    Column("tasks_per_hour", Float, server_default=text("0.0")),
    Column("average_quality_score", Float, server_default=text("0.0")),
    Column("average_confidence_score", Float, server_default=text("0.0")),
    Column("average_user_rating", Float, server_default=text("0.0")),
    Column("average_memory_usage_mb", Float, server_default=text("0.0")),
    Column("peak_memory_usage_mb", Float, server_default=text("0.0")),
    Column("average_cpu_usage_percent", Float, server_default=text("0.0")),
    Column("peak_cpu_usage_percent", Float, server_default=text("0.0")),
    Column("uptime_percentage", Float, server_default=text("100.0")),
    Column("availability_percentage", Float, server_default=text("100.0")),
    Column("custom_metrics", JSONB, server_default=EMPTY_JSON),
    Column("created_at", DateTime(timezone=True), server_default=NOW),
    CheckConstraint(
        "success_rate >= 0 AND success_rate <= 100", name="agent_metrics_success_rate_check"
    ),
    CheckConstraint("error_rate >= 0 AND error_rate <= 100", name="agent_metrics_error_rate_check"),
    CheckConstraint(
        "uptime_percentage >= 0 AND uptime_percentage <= 100",
        name="agent_metrics_uptime_percentage_check",
    ),
    CheckConstraint(
        "availability_percentage >= 0 AND availability_percentage <= 100",
        name="agent_metrics_availability_percentage_check",
    ),
    CheckConstraint("period_end > period_start", name="valid_period"),
    UniqueConstraint("agent_instance_id", "period_start", name="unique_agent_period"),
    Index("idx_agent_metrics_period", "period_start", "period_end"),
    Index("idx_agent_metrics_performance", "success_rate", "average_execution_time"),
    # added (0013): metrics of the last hours, chosen by period_end (persistence/sql/metrics.sql)
    Index("idx_agent_metrics_period_end", "period_end"),
    # added (0002): upsert key of per-type rows (agent_instance_id NULL never collides above)
    Index(
        "uq_agent_metrics_type_period",
        "agent_type",
        "period_start",
        "period_duration_minutes",
        unique=True,
        postgresql_where=text("agent_instance_id IS NULL"),
    ),
)

system_health = Table(
    "system_health",
    metadata,
    _pk(),
    Column("timestamp", DateTime(timezone=True), primary_key=True, server_default=NOW),  # 0012
    Column("period_minutes", Integer, server_default=text("5")),
    Column("total_agents", Integer, server_default=text("0")),
    Column("active_agents", Integer, server_default=text("0")),
    Column("idle_agents", Integer, server_default=text("0")),
    Column("busy_agents", Integer, server_default=text("0")),
    Column("error_agents", Integer, server_default=text("0")),
    Column("total_tasks", Integer, server_default=text("0")),
    Column("completed_tasks", Integer, server_default=text("0")),
    Column("failed_tasks", Integer, server_default=text("0")),
    Column("queued_tasks", Integer, server_default=text("0")),
    Column("running_tasks", Integer, server_default=text("0")),
    Column("system_success_rate", Float, server_default=text("0.0")),
    Column("system_error_rate", Float, server_default=text("0.0")),
    Column("average_response_time", Float, server_default=text("0.0")),
    Column("p95_response_time", Float, server_default=text("0.0")),
    Column("tasks_per_minute", Float, server_default=text("0.0")),
    Column("tasks_per_hour", Float, server_default=text("0.0")),
    Column("total_memory_usage_mb", Float, server_default=text("0.0")),
    Column("total_cpu_usage_percent", Float, server_default=text("0.0")),
    Column("disk_usage_percent", Float, server_default=text("0.0")),
    Column("network_io_mbps", Float, server_default=text("0.0")),
    Column("queue_length", Integer, server_default=text("0")),
    Column("average_queue_wait_time", Float, server_default=text("0.0")),
    Column("queue_processing_rate", Float, server_default=text("0.0")),
    Column("overall_health_score", Float, server_default=text("100.0")),
    Column("availability_percentage", Float, server_default=text("100.0")),
    Column("active_alerts", Integer, server_default=text("0")),
    Column("critical_issues", Integer, server_default=text("0")),
    Column("warnings", Integer, server_default=text("0")),
    Column("custom_metrics", JSONB, server_default=EMPTY_JSON),
    # added: the overall verdict and its reasons (beat's health check writes them)
    Column("status", Text),
    Column("details", JSONB, server_default=EMPTY_JSON),
    CheckConstraint(
        "system_success_rate >= 0 AND system_success_rate <= 100",
        name="system_health_system_success_rate_check",
    ),
    CheckConstraint(
        "system_error_rate >= 0 AND system_error_rate <= 100",
        name="system_health_system_error_rate_check",
    ),
    CheckConstraint(
        "overall_health_score >= 0 AND overall_health_score <= 100",
        name="system_health_overall_health_score_check",
    ),
    CheckConstraint(
        "availability_percentage >= 0 AND availability_percentage <= 100",
        name="system_health_availability_percentage_check",
    ),
    Index("idx_system_health_timestamp", "timestamp"),
    Index("idx_system_health_score", "overall_health_score", "availability_percentage"),
)

# added (0005): writes the Supabase mirror missed, replayed in id order (persistence/outbox.py)
mirror_outbox = Table(
    "mirror_outbox",
    metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("op", Text, nullable=False),
    Column("payload", JSONB, nullable=False),
    Column("items", Integer, nullable=False, server_default=text("1")),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("last_error", Text),
    Column("dead_at", DateTime(timezone=True)),
    Index("idx_mirror_outbox_pending", "id", postgresql_where=text("dead_at IS NULL")),
)

# added (0010): the fleet's task counters and histograms, counted by the recorder's
# transaction (persistence/sql/0010_task_counts.sql), read by /metrics (persistence/task_counts.py)
agentq_task_counts = Table(
    "agentq_task_counts",
    metadata,
    Column("shard", SmallInteger, primary_key=True),
    Column("agent_type", agent_type, primary_key=True),
    Column("metric", Text, primary_key=True),
    Column("label", Text, primary_key=True),
    Column("n", BigInteger, nullable=False, server_default=text("0")),
    Column("total", Float, nullable=False, server_default=text("0")),
)

ENUMS = (agent_type, agent_status, task_status, task_priority)
