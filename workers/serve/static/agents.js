// The agent instances panel. Offline instances (workers of earlier runs, stopped) fold
// into one row, "N offline instances", that opens them: after a few runs they outnumber
// the live ones.

import { cell } from "./dom.js";

let showOffline = false;

function agentRow(agent, onTask) {
  const tr = document.createElement("tr");
  tr.dataset.agentId = agent.agent_id || `${agent.agent_type}@${agent.worker}`;
  tr.dataset.status = agent.status;
  const age = agent.heartbeat_age_seconds;
  const task = cell(agent.current_task_id ? agent.current_task_id.slice(0, 8) : null);
  if (agent.current_task_id) {
    task.className = "task";
    task.title = agent.current_task_id;
    task.addEventListener("click", () => onTask(agent.current_task_id));
  }
  const name = cell(agent.agent_type);
  const worker = document.createElement("div");
  worker.className = "sub worker";
  worker.textContent = agent.worker || "";
  name.append(worker);
  name.title = tr.dataset.agentId;
  tr.append(name, cell(agent.status, `status agent-${agent.status}`),
    cell(age === null || age === undefined ? null : `${Math.round(age)} s ago`, "num"), task,
    cell(agent.total_tasks_completed, "num"), cell(agent.total_tasks_failed, "num"));
  return tr;
}

export function renderAgents(agentsById, onTask) {
  const agents = [...agentsById.values()].sort((a, b) =>
    `${a.agent_type}@${a.worker}`.localeCompare(`${b.agent_type}@${b.worker}`));
  const live = agents.filter((a) => a.status !== "offline");
  const offline = agents.filter((a) => a.status === "offline");
  const rows = live.map((a) => agentRow(a, onTask));
  if (offline.length) {
    const toggle = document.createElement("tr");
    toggle.className = "offline-toggle";
    const td = document.createElement("td");
    td.colSpan = 6;
    const button = document.createElement("button");
    button.type = "button";
    button.setAttribute("aria-expanded", String(showOffline));
    button.textContent = `${showOffline ? "▾" : "▸"} ${offline.length} offline instance${offline.length === 1 ? "" : "s"}`;
    button.addEventListener("click", () => {
      showOffline = !showOffline;
      renderAgents(agentsById, onTask);
    });
    td.append(button);
    toggle.append(td);
    rows.push(toggle);
    for (const agent of offline) {
      const tr = agentRow(agent, onTask);
      tr.classList.add("offline");
      tr.hidden = !showOffline;
      rows.push(tr);
    }
  }
  document.querySelector("#agents tbody").replaceChildren(...rows);
  document.querySelector("#agents .empty").hidden = agents.length > 0;
}
