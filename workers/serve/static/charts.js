// Small inline SVG charts of agent_metrics periods: stacked bars of completed / failed
// tasks and a line of the p95 execution time, each on its own scale (both maxima shown).

const SVG = "http://www.w3.org/2000/svg";
const W = 280;
const H = 84;
const TOP = 14; // room for the scale labels
const GAP = 2;

function el(name, attrs, text) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

export function clock(iso) {
  return iso ? new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hour12: false }) : "–";
}

export function seconds(value) {
  if (value === null || value === undefined) return "–";
  const v = Number(value);
  if (v < 0.01) return `${(v * 1000).toFixed(1)} ms`;
  if (v < 1) return `${(v * 1000).toFixed(0)} ms`;
  return v < 10 ? `${v.toFixed(2)} s` : `${v.toFixed(1)} s`;
}

// rows: one agent type's periods, oldest first; drawn in `slots` slots, the last at the right.
export function metricsChart(rows, slots) {
  const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, class: "chart", role: "img" });
  const counts = rows.map((r) => (r.tasks_completed || 0) + (r.tasks_failed || 0));
  const maxCount = Math.max(1, ...counts);
  const p95s = rows.map((r) => r.p95_execution_time).filter((v) => v !== null && v !== undefined);
  const maxP95 = p95s.length ? Math.max(...p95s) : 0;
  const slot = W / Math.max(slots, rows.length, 1);
  const first = Math.max(slots - rows.length, 0); // too few periods yet: they stand at the right
  const plot = H - TOP;
  const y = (n) => H - (n / maxCount) * plot;

  svg.append(el("text", { x: 0, y: 10, class: "scale" }, `${maxCount} task${maxCount === 1 ? "" : "s"}`));
  if (maxP95 > 0) {
    svg.append(el("text", { x: W, y: 10, class: "scale p95", "text-anchor": "end" }, `p95 ≤ ${seconds(maxP95)}`));
  }
  const points = [];
  rows.forEach((row, i) => {
    const x = (first + i) * slot + GAP / 2;
    const done = row.tasks_completed || 0;
    const failed = row.tasks_failed || 0;
    const group = el("g", {});
    group.append(
      el("title", {}, `${clock(row.period_start)}–${clock(row.period_end)}: ` +
        `${done} completed, ${failed} failed, p95 ${seconds(row.p95_execution_time)}`),
    );
    group.append(el("rect", { x, y: y(done), width: slot - GAP, height: H - y(done), class: "completed" }));
    group.append(el("rect", { x, y: y(done + failed), width: slot - GAP, height: y(done) - y(done + failed), class: "failed" }));
    svg.append(group);
    if (maxP95 > 0 && row.p95_execution_time !== null && row.p95_execution_time !== undefined) {
      points.push([x + (slot - GAP) / 2, H - (row.p95_execution_time / maxP95) * plot]);
    }
  });
  if (points.length) {
    svg.append(el("polyline", { points: points.map((p) => p.join(",")).join(" "), class: "p95" }));
    for (const [cx, cy] of points) svg.append(el("circle", { cx, cy, r: 2, class: "p95" }));
  }
  return svg;
}
