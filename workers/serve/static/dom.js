// Small DOM helpers shared by the page's modules.

export function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined || text === "" ? "–" : String(text);
  if (className) td.className = className;
  return td;
}

export function time(iso, withMs = false) {
  if (!iso) return "–";
  const d = new Date(iso);
  const text = d.toLocaleTimeString([], { hour12: false });
  return withMs ? `${text}.${String(d.getMilliseconds()).padStart(3, "0")}` : text;
}
