// The live operations page: agent instances, latest executions, a task's timeline,
// metrics per agent type and the health banner. Every value shown comes from the JSON API
// of `agentq serve` or from a Pusher event; text is set with textContent only.

import { renderAgents as drawAgents } from "./agents.js";
import { AuthError, clearToken, getJSON, getToken, setToken, takeTokenFromFragment } from "./api.js";
import { clock, metricsChart, seconds } from "./charts.js";
import { cell, time } from "./dom.js";
import { connect } from "./live.js";
import { renderTimeline } from "./timeline.js";

const LIMIT = 50;
const HEALTH_MS = 15000;
const AGENTS_MS = 10000; // heartbeats are not pushed: their ages are re-read
const METRICS_MS = 60000;
const METRICS_HOURS = 6;
const PERIODS = 12;
// The schema's enums (persistence/schema.py; tests/unit/test_page_files.py keeps them equal).
const AGENT_TYPES = ["content_generator", "quiz_generator", "terrain_generator", "script_generator",
  "code_reviewer", "roblox_asset", "roblox_testing", "roblox_analytics"];
const STATUSES = ["pending", "queued", "running", "completed", "failed", "cancelled", "retrying"];
// The lifecycle merge's order (attempt, rank): an older state never replaces a newer one.
const RANK = { pending: 0, queued: 1, running: 2, retrying: 3, completed: 4, failed: 4, cancelled: 4 };
// What a row of the table needs; an event without them (trimmed, fields filtered) is re-read.
const ROW_FIELDS = ["task_id", "agent_type", "task_type", "status", "retry_count", "worker",
  "created_at", "execution_time_seconds", "error_message"];

const $ = (selector) => document.querySelector(selector);
const state = { executions: new Map(), agents: new Map(), metrics: new Map(), selected: null, live: null, timers: [] };

// --- small helpers ------------------------------------------------------------------------
function debounce(fn, ms) {
  let timer = null;
  return () => {
    clearTimeout(timer);
    timer = setTimeout(fn, ms);
  };
}

function notice(text) {
  const node = $("#notice");
  node.textContent = text || "";
  node.hidden = !text;
}

// Run an API call: 401 → the login form with the server's message; other errors → notice.
async function guard(work) {
  try {
    const out = await work();
    return out;
  } catch (err) {
    if (err instanceof AuthError) showLogin(err.message);
    else notice(`${new Date().toLocaleTimeString([], { hour12: false })} ${err.message}`);
    return undefined;
  }
}

// --- health -------------------------------------------------------------------------------
function renderHealth(report) {
  const status = report.status || "unknown";
  $("#health").dataset.status = status;
  $("#health-status").textContent = `system ${status}`;
  $("#health-reasons").textContent = (report.reasons || []).join("; ");
  renderReconcile((report.components || {}).reconcile);
}

const RECONCILE_KINDS = ["lost", "unrecorded", "stuck", "expired", "revoked"]; // workers/reconcile/kinds.py

// The last reconcile pass (the health report's "reconcile" component): found per kind,
// what was repaired, how long ago. Hidden until a pass ran.
function renderReconcile(rc) {
  const panel = $("#reconcile");
  if (!rc || !rc.ok) {
    panel.hidden = true;
    return;
  }
  const counts = rc.counts || {};
  const repaired = rc.repaired || {};
  const kinds = RECONCILE_KINDS.filter((kind) => kind in counts);
  const parts = kinds.map((kind) =>
    repaired[kind] ? `${kind} ${counts[kind]} (repaired ${repaired[kind]})` : `${kind} ${counts[kind]}`);
  panel.dataset.lost = String(rc.lost_awaiting_repair || 0);
  $("#reconcile-counts").textContent = `${parts.join(" · ")} · ${Math.round(rc.age_seconds || 0)} s ago`;
  panel.hidden = false;
}

async function loadHealth() {
  try {
    renderHealth(await getJSON("/api/v1/health"));
  } catch (err) {
    renderHealth({ status: "unknown", reasons: [`cannot read the health report: ${err.message}`] });
  }
}

// --- executions ---------------------------------------------------------------------------
function filters() {
  return { agent_type: $("#filter-agent-type").value, status: $("#filter-status").value };
}

function matches(row) {
  const f = filters();
  return (!f.agent_type || row.agent_type === f.agent_type) && (!f.status || row.status === f.status);
}

function precedes(a, b) {
  const ka = [a.retry_count || 0, RANK[a.status] ?? 0];
  const kb = [b.retry_count || 0, RANK[b.status] ?? 0];
  if (ka[0] !== kb[0]) return ka[0] < kb[0];
  if (ka[1] !== kb[1]) return ka[1] < kb[1];
  return Boolean(a.updated_at && b.updated_at && Date.parse(a.updated_at) < Date.parse(b.updated_at));
}

function newestFirst(a, b) {
  const at = Date.parse(a.created_at) || 0;
  const bt = Date.parse(b.created_at) || 0;
  if (at !== bt) return bt - at;
  return a.task_id < b.task_id ? 1 : -1;
}

function fillExecutionRow(tr, row) {
  const changed = tr.dataset.status !== undefined && tr.dataset.status !== row.status;
  tr.dataset.status = row.status;
  tr.dataset.source = row.source;
  const status = cell(row.status, `status status-${row.status}`);
  if (row.error_message) {
    const error = document.createElement("div");
    error.className = "error";
    error.textContent = row.error_message;
    status.append(error);
  }
  tr.replaceChildren(
    cell(time(row.created_at)),
    cell(row.agent_type),
    cell(row.task_type),
    status,
    cell(row.retry_count, "num"),
    cell(row.worker, "worker"),
    cell(seconds(row.execution_time_seconds), "num"),
  );
  if (changed) {
    tr.classList.remove("changed");
    void tr.offsetWidth; // restart the highlight
    tr.classList.add("changed");
  }
}

const rendered = new WeakMap(); // <tr> → the row object it shows

function renderExecutions() {
  const tbody = $("#executions tbody");
  const rows = [...state.executions.values()].sort(newestFirst).slice(0, LIMIT);
  const keep = new Set(rows.map((r) => r.task_id));
  for (const id of [...state.executions.keys()]) if (!keep.has(id)) state.executions.delete(id);
  const existing = new Map([...tbody.children].map((tr) => [tr.dataset.taskId, tr]));
  rows.forEach((row, i) => {
    let tr = existing.get(row.task_id);
    if (!tr) {
      tr = document.createElement("tr");
      tr.dataset.taskId = row.task_id;
      tr.tabIndex = 0;
    }
    existing.delete(row.task_id);
    if (rendered.get(tr) !== row) fillExecutionRow(tr, row); // a changed row is a new object
    rendered.set(tr, row);
    tr.classList.toggle("selected", row.task_id === state.selected);
    if (tbody.children[i] !== tr) tbody.insertBefore(tr, tbody.children[i] || null);
  });
  for (const tr of existing.values()) tr.remove();
  $("#executions .empty").hidden = rows.length > 0;
}

// source: "pusher" (an event's payload) or "api" (read from the API), shown as data-source.
function applyExecution(row, source) {
  const old = state.executions.get(row.task_id);
  if (old && precedes(row, old)) return;
  if (!matches(row)) {
    if (old) state.executions.delete(row.task_id);
  } else {
    state.executions.set(row.task_id, { ...old, ...row, source });
  }
  renderExecutions();
}

let listRequests = 0;

async function loadExecutions() {
  const query = new URLSearchParams({ limit: String(LIMIT) });
  for (const [key, value] of Object.entries(filters())) if (value) query.set(key, value);
  const request = ++listRequests;
  const body = await getJSON(`/api/v1/executions?${query}`);
  if (request !== listRequests) return; // a later request (other filters) answers instead
  state.executions = new Map(body.executions.map((row) => [row.task_id, { ...row, source: "api" }]));
  renderExecutions();
}

async function fetchExecution(taskId) {
  const record = await getJSON(`/api/v1/executions/${encodeURIComponent(taskId)}`);
  delete record.history;
  applyExecution(record, "api");
}

function onExecution(payload) {
  if (!payload || !payload.task_id) return;
  if (!payload.trimmed && ROW_FIELDS.every((f) => f in payload)) applyExecution(payload, "pusher");
  else guard(() => fetchExecution(payload.task_id));
  if (payload.task_id === state.selected) refreshTimeline();
}

// --- a task's timeline (timeline.js draws it) ---------------------------------------
async function openTimeline(taskId) {
  state.selected = taskId;
  renderExecutions();
  await guard(async () => {
    const record = await getJSON(`/api/v1/executions/${encodeURIComponent(taskId)}`);
    if (state.selected === taskId) {
      renderTimeline(record);
      // A side panel, in view wherever the list was scrolled to (small screens: below).
      $("#timeline").scrollIntoView({ block: "nearest" });
    }
  });
}

const refreshTimeline = debounce(() => state.selected && openTimeline(state.selected), 150);

function closeTimeline() {
  state.selected = null;
  $("#timeline").hidden = true;
  renderExecutions();
}

// --- agent instances ----------------------------------------------------------------------
function renderAgents() {
  drawAgents(state.agents, openTimeline);
}

async function loadAgents() {
  const body = await getJSON("/api/v1/agents");
  state.agents = new Map(body.agents.map((agent) => [agent.id, agent]));
  renderAgents();
}

const reloadAgents = debounce(() => guard(loadAgents), 300);

function onAgent(payload) {
  if (payload && payload.id && !payload.trimmed && state.agents.has(payload.id)) {
    // Status, task and totals now; the heartbeat age comes with the re-read.
    state.agents.set(payload.id, { ...state.agents.get(payload.id), ...payload });
    renderAgents();
  }
  reloadAgents();
}

// --- metrics ------------------------------------------------------------------------------
const perType = (row) => !row.agent_instance_id && !row.agent_id;

function renderMetrics() {
  const byType = new Map();
  for (const row of state.metrics.values()) {
    if (!byType.has(row.agent_type)) byType.set(row.agent_type, []);
    byType.get(row.agent_type).push(row);
  }
  const figures = [...byType.keys()].sort().map((type) => {
    const rows = byType.get(type).sort((a, b) => (a.period_start < b.period_start ? -1 : 1)).slice(-PERIODS);
    const last = rows[rows.length - 1];
    const figure = document.createElement("figure");
    figure.dataset.agentType = type;
    const title = document.createElement("h3");
    title.textContent = type;
    const caption = document.createElement("figcaption");
    caption.textContent = `${clock(last.period_start)}–${clock(last.period_end)}: ${last.tasks_completed} completed,` +
      ` ${last.tasks_failed} failed, p95 ${seconds(last.p95_execution_time)}`;
    figure.append(title, metricsChart(rows, PERIODS), caption);
    return figure;
  });
  $("#charts").replaceChildren(...figures);
  $("#metrics .empty").hidden = figures.length > 0;
}

async function loadMetrics() {
  const body = await getJSON(`/api/v1/metrics?hours=${METRICS_HOURS}`);
  state.metrics = new Map(body.metrics.filter(perType).map((row) => [row.id, row]));
  renderMetrics();
}

const reloadMetrics = debounce(() => guard(loadMetrics), 300);

function onMetrics(payload) {
  if (payload && payload.id && !payload.trimmed && "tasks_completed" in payload) {
    if (perType(payload)) {
      state.metrics.set(payload.id, payload);
      renderMetrics();
    }
  } else {
    reloadMetrics();
  }
}

// --- live updates -------------------------------------------------------------------------
let resyncs = 0;
const resync = () => guard(async () => {
  await Promise.all([loadExecutions(), loadAgents(), loadMetrics()]);
  $("#live").dataset.synced = String(++resyncs); // reloads after (re)connecting, for tests
  notice("");
});

const handlers = {
  execution: onExecution,
  agent: onAgent,
  metrics: onMetrics,
  health: (payload) => (payload && payload.status && payload.reasons ? renderHealth(payload) : loadHealth()),
  resync,
  poll: () => guard(async () => {
    await Promise.all([loadExecutions(), loadAgents()]);
    if (state.selected) refreshTimeline();
    notice("");
  }),
  subscribed: (names) => {
    $("#live").dataset.channels = names.join(" ");
  },
  mode: (mode, text) => {
    $("#live").dataset.mode = mode;
    $("#live").textContent = text;
  },
  notice,
};

// --- access -------------------------------------------------------------------------------
function stopAll() {
  if (state.live) state.live.stop();
  state.live = null;
  state.timers.forEach(clearInterval);
  state.timers = [];
}

function showLogin(message) {
  stopAll();
  clearToken();
  $("#app").hidden = true;
  $("#logout").hidden = true;
  $("#login").hidden = false;
  $("#login-message").textContent = message || "";
  handlers.mode("signed-out", "signed out");
}

async function openApp() {
  $("#login").hidden = true;
  $("#app").hidden = false;
  $("#logout").hidden = false;
  const loaded = await guard(async () => {
    await Promise.all([loadExecutions(), loadAgents(), loadMetrics()]);
    return true;
  });
  if (!loaded || !getToken()) return;
  const rt = await guard(() => getJSON("/api/v1/realtime"));
  state.live = await connect(rt, handlers);
  state.timers.push(setInterval(() => guard(loadAgents), AGENTS_MS));
  state.timers.push(setInterval(() => guard(loadMetrics), METRICS_MS));
}

function bind() {
  for (const [select, values] of [["#filter-agent-type", AGENT_TYPES], ["#filter-status", STATUSES]]) {
    $(select).append(...values.map((value) => new Option(value, value)));
    $(select).addEventListener("change", () => guard(loadExecutions));
  }
  const rows = $("#executions tbody");
  rows.addEventListener("click", (e) => {
    const tr = e.target.closest("tr[data-task-id]");
    if (tr) openTimeline(tr.dataset.taskId);
  });
  rows.addEventListener("keydown", (e) => {
    const tr = e.target.closest("tr[data-task-id]");
    if (tr && e.key === "Enter") openTimeline(tr.dataset.taskId);
  });
  $("#timeline-close").addEventListener("click", closeTimeline);
  $("#login-form").addEventListener("submit", (e) => {
    e.preventDefault();
    setToken($("#login-token").value);
    $("#login-token").value = "";
    openApp();
  });
  $("#logout").addEventListener("click", () => showLogin(""));
}

function start() {
  takeTokenFromFragment();
  bind();
  loadHealth();
  setInterval(loadHealth, HEALTH_MS); // open endpoint: shown signed in or not
  if (getToken()) openApp();
  else showLogin("");
}

start();
