// A task's timeline: the row's facts and every history event, as GET
// /api/v1/executions/<task_id> returns them.

import { seconds } from "./charts.js";
import { cell, time } from "./dom.js";

const $ = (selector) => document.querySelector(selector);

function errorOf(event) {
  if (event.error) return event.error;
  const detail = event.detail;
  if (!detail || typeof detail !== "object") return detail || "";
  const message = detail.error_message || detail.error || detail.exception;
  if (message) return detail.error_type ? `${detail.error_type}: ${message}` : message;
  return "";
}

function outputSummary(output) {
  if (output === null || output === undefined) return null;
  const text = JSON.stringify(output);
  return text.length > 240 ? `${text.slice(0, 240)}… (${text.length} characters)` : text;
}

export function renderTimeline(record) {
  $("#timeline").hidden = false;
  $("#timeline-task").textContent = record.task_id;
  const error = record.error_message ? `${record.error_type ? record.error_type + ": " : ""}${record.error_message}` : null;
  const facts = [
    ["status", record.status], ["agent type", record.agent_type], ["task type", record.task_type],
    ["retries", record.retry_count], ["worker", record.worker], ["user", record.user_id],
    ["session", record.session_id], ["created", time(record.created_at, true)],
    ["started", time(record.started_at, true)], ["completed", time(record.completed_at, true)],
    ["duration", seconds(record.execution_time_seconds)], ["quality score", record.quality_score],
    ["error", error], ["output", outputSummary(record.output_data)],
    // the OpenTelemetry trace id: paste it into the tracing backend (docs/observability.md)
    ["trace", record.trace_id],
  ];
  $("#timeline-summary").replaceChildren(...facts.flatMap(([name, value]) => {
    const dt = document.createElement("dt");
    dt.textContent = name;
    const dd = document.createElement("dd");
    dd.textContent = value === null || value === undefined || value === "" ? "–" : String(value);
    dd.dataset.field = name;
    return [dt, dd];
  }));
  $("#timeline tbody").replaceChildren(...(record.history || []).map((event) => {
    const tr = document.createElement("tr");
    tr.className = "event";
    tr.dataset.status = event.status;
    tr.append(cell(time(event.occurred_at, true)), cell(event.event || event.status, `status status-${event.status}`),
      cell(event.attempt, "num"), cell(event.worker), cell(errorOf(event) || " ", "error"));
    return tr;
  }));
}
