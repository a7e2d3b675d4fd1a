-- 0001: the integration design's agent tables and enums, plus the lifecycle history.
-- Generated once from persistence/schema.py, then frozen: later changes are new revisions.

DO $$ BEGIN
    CREATE TYPE agent_type AS ENUM ('content_generator', 'quiz_generator', 'terrain_generator', 'script_generator', 'code_reviewer', 'roblox_asset', 'roblox_testing', 'roblox_analytics');
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;

DO $$ BEGIN
    CREATE TYPE agent_status AS ENUM ('initializing', 'idle', 'busy', 'processing', 'waiting', 'error', 'offline', 'maintenance');
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;

DO $$ BEGIN
    CREATE TYPE task_status AS ENUM ('pending', 'queued', 'running', 'completed', 'failed', 'cancelled', 'retrying');
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;

DO $$ BEGIN
    CREATE TYPE task_priority AS ENUM ('low', 'normal', 'high', 'urgent', 'critical');
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;

CREATE TABLE agent_instances (
	id UUID DEFAULT gen_random_uuid() NOT NULL, 
	agent_id TEXT NOT NULL, 
	agent_type agent_type NOT NULL, 
	status agent_status DEFAULT 'initializing' NOT NULL, 
	configuration JSONB DEFAULT '{}'::jsonb, 
	resource_limits JSONB DEFAULT '{}'::jsonb, 
	performance_thresholds JSONB DEFAULT '{}'::jsonb, 
	current_task_id TEXT, 
	last_activity TIMESTAMP WITH TIME ZONE DEFAULT now(), 
	last_heartbeat TIMESTAMP WITH TIME ZONE DEFAULT now(), 
	total_tasks_completed INTEGER DEFAULT 0, 
	total_tasks_failed INTEGER DEFAULT 0, 
	total_execution_time FLOAT DEFAULT 0.0, 
	average_execution_time FLOAT DEFAULT 0.0, 
	created_at TIMESTAMP WITH TIME ZONE DEFAULT now(), 
	updated_at TIMESTAMP WITH TIME ZONE DEFAULT now(), 
	worker TEXT, 
	PRIMARY KEY (id), 
	UNIQUE (agent_id)
);

CREATE INDEX idx_agent_instances_agent_type_status ON agent_instances (agent_type, status);
CREATE INDEX idx_agent_instances_last_activity ON agent_instances (last_activity);
CREATE INDEX idx_agent_instances_performance ON agent_instances (total_tasks_completed, total_tasks_failed);

CREATE TABLE system_health (
	id UUID DEFAULT gen_random_uuid() NOT NULL, 
	timestamp TIMESTAMP WITH TIME ZONE DEFAULT now(), 
	period_minutes INTEGER DEFAULT 5, 
	total_agents INTEGER DEFAULT 0, 
	active_agents INTEGER DEFAULT 0, 
	idle_agents INTEGER DEFAULT 0, 
	busy_agents INTEGER DEFAULT 0, 
	error_agents INTEGER DEFAULT 0, 
	total_tasks INTEGER DEFAULT 0, 
	completed_tasks INTEGER DEFAULT 0, 
	failed_tasks INTEGER DEFAULT 0, 
	queued_tasks INTEGER DEFAULT 0, 
	running_tasks INTEGER DEFAULT 0, 
	system_success_rate FLOAT DEFAULT 0.0, 
	system_error_rate FLOAT DEFAULT 0.0, 
	average_response_time FLOAT DEFAULT 0.0, 
	p95_response_time FLOAT DEFAULT 0.0, 
	tasks_per_minute FLOAT DEFAULT 0.0, 
	tasks_per_hour FLOAT DEFAULT 0.0, 
	total_memory_usage_mb FLOAT DEFAULT 0.0, 
	total_cpu_usage_percent FLOAT DEFAULT 0.0, 
	disk_usage_percent FLOAT DEFAULT 0.0, 
	network_io_mbps FLOAT DEFAULT 0.0, 
	queue_length INTEGER DEFAULT 0, 
	average_queue_wait_time FLOAT DEFAULT 0.0, 
	queue_processing_rate FLOAT DEFAULT 0.0, 
	overall_health_score FLOAT DEFAULT 100.0, 
	availability_percentage FLOAT DEFAULT 100.0, 
	active_alerts INTEGER DEFAULT 0, 
	critical_issues INTEGER DEFAULT 0, 
	warnings INTEGER DEFAULT 0, 
	custom_metrics JSONB DEFAULT '{}'::jsonb, 
	status TEXT, 
	details JSONB DEFAULT '{}'::jsonb, 
	PRIMARY KEY (id), 
	CONSTRAINT system_health_system_success_rate_check CHECK (system_success_rate >= 0 AND system_success_rate <= 100), 
	CONSTRAINT system_health_system_error_rate_check CHECK (system_error_rate >= 0 AND system_error_rate <= 100), 
	CONSTRAINT system_health_overall_health_score_check CHECK (overall_health_score >= 0 AND overall_health_score <= 100), 
	CONSTRAINT system_health_availability_percentage_check CHECK (availability_percentage >= 0 AND availability_percentage <= 100)
);

CREATE INDEX idx_system_health_score ON system_health (overall_health_score, availability_percentage);
CREATE INDEX idx_system_health_timestamp ON system_health (timestamp);

CREATE TABLE agent_executions (
	id UUID DEFAULT gen_random_uuid() NOT NULL, 
	task_id TEXT NOT NULL, 
	agent_instance_id UUID, 
	agent_type agent_type NOT NULL, 
	task_type TEXT NOT NULL, 
	priority task_priority DEFAULT 'normal', 
	input_data JSONB DEFAULT '{}'::jsonb NOT NULL, 
	output_data JSONB, 
	context_data JSONB DEFAULT '{}'::jsonb, 
	status task_status DEFAULT 'pending' NOT NULL, 
	error_message TEXT, 
	error_details JSONB, 
	execution_time_seconds FLOAT, 
	memory_usage_mb FLOAT, 
	cpu_usage_percent FLOAT, 
	quality_score FLOAT, 
	confidence_score FLOAT, 
	user_rating INTEGER, 
	created_at TIMESTAMP WITH TIME ZONE DEFAULT now(), 
	started_at TIMESTAMP WITH TIME ZONE, 
	completed_at TIMESTAMP WITH TIME ZONE, 
	user_id UUID, 
	session_id TEXT, 
	retry_count INTEGER DEFAULT 0, 
	max_retries INTEGER DEFAULT 3, 
	parent_task_id TEXT, 
	attempts INTEGER DEFAULT 0 NOT NULL, 
	error_type TEXT, 
	worker TEXT, 
	enqueued_at TIMESTAMP WITH TIME ZONE, 
	status_at TIMESTAMP WITH TIME ZONE, 
	updated_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL, 
	PRIMARY KEY (id), 
	CONSTRAINT agent_executions_quality_score_check CHECK (quality_score >= 0 AND quality_score <= 1), 
	CONSTRAINT agent_executions_confidence_score_check CHECK (confidence_score >= 0 AND confidence_score <= 1), 
	CONSTRAINT agent_executions_user_rating_check CHECK (user_rating >= 1 AND user_rating <= 5), 
	CONSTRAINT agent_executions_retry_count_check CHECK (retry_count >= 0), 
	UNIQUE (task_id), 
	FOREIGN KEY(agent_instance_id) REFERENCES agent_instances (id) ON DELETE CASCADE
);

CREATE INDEX idx_agent_executions_agent_task_type ON agent_executions (agent_type, task_type);
CREATE INDEX idx_agent_executions_performance ON agent_executions (execution_time_seconds, quality_score);
CREATE INDEX idx_agent_executions_running_worker ON agent_executions (worker, agent_type) WHERE status = 'running';
CREATE INDEX idx_agent_executions_status_created ON agent_executions (status, created_at);
CREATE INDEX idx_agent_executions_user_session ON agent_executions (user_id, session_id);

CREATE TABLE agent_metrics (
	id UUID DEFAULT gen_random_uuid() NOT NULL, 
	agent_instance_id UUID, 
	agent_type agent_type NOT NULL, 
	period_start TIMESTAMP WITH TIME ZONE NOT NULL, 
	period_end TIMESTAMP WITH TIME ZONE NOT NULL, 
	period_duration_minutes INTEGER NOT NULL, 
	tasks_completed INTEGER DEFAULT 0, 
	tasks_failed INTEGER DEFAULT 0, 
	tasks_cancelled INTEGER DEFAULT 0, 
	total_tasks INTEGER DEFAULT 0, 
	success_rate FLOAT DEFAULT 0.0, 
	error_rate FLOAT DEFAULT 0.0, 
	average_execution_time FLOAT DEFAULT 0.0, 
	median_execution_time FLOAT DEFAULT 0.0, 
	p95_execution_time FLOAT DEFAULT 0.0, 
	tasks_per_minute FLOAT DEFAULT 0.0, 
	tasks_per_hour FLOAT DEFAULT 0.0, 
	average_quality_score FLOAT DEFAULT 0.0, 
	average_confidence_score FLOAT DEFAULT 0.0, 
	average_user_rating FLOAT DEFAULT 0.0, 
	average_memory_usage_mb FLOAT DEFAULT 0.0, 
	peak_memory_usage_mb FLOAT DEFAULT 0.0, 
	average_cpu_usage_percent FLOAT DEFAULT 0.0, 
	peak_cpu_usage_percent FLOAT DEFAULT 0.0, 
	uptime_percentage FLOAT DEFAULT 100.0, 
	availability_percentage FLOAT DEFAULT 100.0, 
	custom_metrics JSONB DEFAULT '{}'::jsonb, 
	created_at TIMESTAMP WITH TIME ZONE DEFAULT now(), 
	PRIMARY KEY (id), 
	CONSTRAINT agent_metrics_success_rate_check CHECK (success_rate >= 0 AND success_rate <= 100), 
	CONSTRAINT agent_metrics_error_rate_check CHECK (error_rate >= 0 AND error_rate <= 100), 
	CONSTRAINT agent_metrics_uptime_percentage_check CHECK (uptime_percentage >= 0 AND uptime_percentage <= 100), 
	CONSTRAINT agent_metrics_availability_percentage_check CHECK (availability_percentage >= 0 AND availability_percentage <= 100), 
	CONSTRAINT valid_period CHECK (period_end > period_start), 
	CONSTRAINT unique_agent_period UNIQUE (agent_instance_id, period_start), 
	FOREIGN KEY(agent_instance_id) REFERENCES agent_instances (id) ON DELETE CASCADE
);

CREATE INDEX idx_agent_metrics_performance ON agent_metrics (success_rate, average_execution_time);
CREATE INDEX idx_agent_metrics_period ON agent_metrics (period_start, period_end);

CREATE TABLE agent_execution_events (
	id UUID NOT NULL, 
	task_id TEXT NOT NULL, 
	status task_status NOT NULL, 
	attempt INTEGER NOT NULL, 
	occurred_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	worker TEXT, 
	detail JSONB, 
	recorded_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL, 
	PRIMARY KEY (id), 
	CONSTRAINT agent_execution_events_task_id_fkey FOREIGN KEY(task_id) REFERENCES agent_executions (task_id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED
);

CREATE INDEX idx_agent_execution_events_task_id ON agent_execution_events (task_id, occurred_at);

-- The lifecycle precedence (persistence/lifecycle.py RANK): rank // 10 is the coarse rank of docs/architecture.md
-- rank; the last digit orders terminal statuses of one attempt.
CREATE OR REPLACE FUNCTION agentq_status_rank(s task_status) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE s
        WHEN 'pending' THEN 0 WHEN 'queued' THEN 10 WHEN 'running' THEN 20
        WHEN 'retrying' THEN 30 WHEN 'cancelled' THEN 40 WHEN 'failed' THEN 41
        WHEN 'completed' THEN 42 END
$$;

-- The integration design's updated_at trigger on agent_instances.
CREATE OR REPLACE FUNCTION update_updated_at_column() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at = now();
    RETURN NEW;
END;
$$;

CREATE TRIGGER update_agent_instances_updated_at BEFORE UPDATE ON agent_instances
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
