// The status page: one server-sent event stream (/api/v1/stream) redraws what changed; writes
// (silence, expire) go through the JSON API. Everything a device sent is shown as text, never
// parsed as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
const TOKEN_KEY = "pxrules-token";
let token = sessionStorage.getItem(TOKEN_KEY) || "";
let stream = null;
let shown = {}; // section → the JSON it was last drawn from
let silencing = null; // {rule, key} the dialog is for

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}

function svg(tag, attrs) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  return node;
}

function ago(iso) {
  if (!iso) return "";
  const seconds = (Date.now() - Date.parse(iso)) / 1000;
  const future = seconds < 0;
  let s = Math.abs(seconds);
  const unit = s < 90 ? [s, "s"] : s < 5400 ? [s / 60, "m"] : s < 129600 ? [s / 3600, "h"] : [s / 86400, "d"];
  const text = `${Math.round(unit[0])}${unit[1]}`;
  return future ? `in ${text}` : `${text} ago`;
}

function time(iso) {
  return iso ? el("time", { datetime: iso, title: iso, text: ago(iso) }) : "";
}

function table(headers, rows, caption) {
  const head = el("tr", {}, ...headers.map((h) => el("th", { scope: "col", class: h.cls, text: h.text })));
  const body = rows.map((cells) => {
    const tr = cells.row;
    cells.cells.forEach((cell, i) => {
      const td = el("td", { "data-label": headers[i].text || null, class: headers[i].cls });
      if (cell instanceof Node) td.append(cell);
      else td.textContent = cell === null || cell === undefined ? "" : String(cell);
      tr.append(td);
    });
    return tr;
  });
  return el("div", { class: "scroll" },
    el("table", {}, el("caption", { class: "visually-hidden", text: caption }),
      el("thead", {}, head), el("tbody", {}, ...body)));
}

function empty(text) {
  return el("p", { class: "empty", text });
}

// Redraw a section only when its data changed, and keep the keyboard focus where it was.
function draw(id, data, build) {
  const json = JSON.stringify(data);
  if (shown[id] === json) return;
  shown[id] = json;
  const focused = document.activeElement && document.activeElement.dataset.focus;
  const container = $(id);
  container.replaceChildren(build(data));
  if (focused) {
    const again = container.querySelector(`[data-focus="${CSS.escape(focused)}"]`);
    if (again) again.focus();
  }
}

// With rows of several projects, a key is shown with its project ("cellar · t").
function keyOf(row, rows) {
  return new Set(rows.map((r) => r.project)).size > 1 ? `${row.project} · ${row.key}` : row.key;
}

function alertsView(alerts) {
  if (!alerts.length) return empty("No alerts firing or pending.");
  const headers = [{ text: "State" }, { text: "Severity" }, { text: "Rule" }, { text: "Key" },
    { text: "Value", cls: "num" }, { text: "Since" }, { text: "" }, { text: "" }];
  return table(headers, alerts.map((a) => {
    const why = a.silenced ? "silenced" : a.inhibited ? `inhibited by ${a.inhibited_by}`
      : a.muted ? `muted (${a.muted_by})` : a.flapping ? "flapping"
      : a.state === "firing" && !a.notified ? "not notified" : "";
    const note = why ? el("span", { class: "tag", text: why }) : "";
    const action = a.silenced ? "" : el("button", {
      type: "button", class: "silence", "data-focus": `silence:${a.project}:${a.rule}:${a.key}`,
      "aria-label": `Silence ${a.rule} on ${a.key}`, text: "Silence…",
      onclick: () => openSilence(a.project, a.rule, a.key),
    });
    return {
      row: el("tr", { "data-project": a.project, "data-rule": a.rule, "data-key": a.key,
        "data-state": a.state, "data-silenced": a.silenced ? "true" : "false" }),
      cells: [el("span", { class: "state", text: a.state }), a.severity, a.rule,
        keyOf(a, alerts), a.value, time(a.since), note, action],
    };
  }), "Alerts");
}

function deliveriesView(rows) {
  if (!rows.length) return empty("Every notification was delivered.");
  const headers = [{ text: "Notifier" }, { text: "Rule" }, { text: "Key" }, { text: "State" },
    { text: "Status" }, { text: "Attempts", cls: "num" }, { text: "Last error" }];
  return table(headers, rows.map((d) => ({
    row: el("tr", { "data-id": d.id, "data-target": d.target }),
    cells: [d.target, d.rule, keyOf(d, rows), d.state, d.status === "pending" ? "retrying" : d.status,
      d.attempts, d.last_error],
  })), "Failing deliveries");
}

function silencesView(silences) {
  if (!silences.length) return empty("No silences.");
  const headers = [{ text: "State" }, { text: "Matchers" }, { text: "Ends" }, { text: "By" },
    { text: "Comment" }, { text: "" }];
  return table(headers, silences.map((s) => ({
    row: el("tr", { "data-id": s.id, "data-state": s.state }),
    cells: [s.state, Object.entries(s.matchers).map(([k, v]) => `${k}=${v}`).join(" "),
      time(s.ends_at), s.created_by, s.comment,
      s.state === "expired" ? "" : el("button", {
        type: "button", "data-focus": `expire:${s.id}`, text: "Expire",
        "aria-label": `Expire the silence ${s.id}`, onclick: () => expire(s.id),
      })],
  })), "Silences");
}

function chart(key, points, thresholds) {
  const W = 120, H = 30, PAD = 3;
  const numbers = points.map((p) => p.number).filter((n) => n !== null);
  const box = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img",
    "aria-label": `${key}: the last ${points.length} readings` +
      (thresholds.length ? `, thresholds ${thresholds.join(", ")}` : "") });
  if (!numbers.length) return box;
  const all = numbers.concat(thresholds);
  let lo = Math.min(...all), hi = Math.max(...all);
  if (lo === hi) { lo -= 1; hi += 1; }
  const x = (i) => PAD + (points.length === 1 ? (W - 2 * PAD) / 2 : (i * (W - 2 * PAD)) / (points.length - 1));
  const y = (n) => H - PAD - ((n - lo) * (H - 2 * PAD)) / (hi - lo);
  for (const t of thresholds) {
    box.append(svg("line", { class: "threshold", x1: 0, x2: W, y1: y(t), y2: y(t), "data-threshold": t }));
  }
  const line = [];
  points.forEach((p, i) => {
    if (p.number === null) return;
    line.push(`${x(i).toFixed(1)},${y(p.number).toFixed(1)}`);
    box.append(svg("circle", { cx: x(i).toFixed(1), cy: y(p.number).toFixed(1), r: 1.6,
      "data-number": p.number, "data-at": p.at }));
  });
  box.prepend(svg("polyline", { points: line.join(" ") }));
  return box;
}

function keysView(data) {
  if (!data.keys.length) return empty(data.total ? "No key matches the filter." : "No keys yet.");
  const headers = [{ text: "Key" }, { text: "Value", cls: "num" }, { text: "Updated" },
    { text: "Rules" }, { text: "Recent" }];
  const view = table(headers, data.keys.map((k) => ({
    row: el("tr", { "data-project": k.project, "data-key": k.key }),
    cells: [keyOf(k, data.keys), k.removed ? "(removed)" : k.value, time(k.updated), k.rules.join(", "),
      chart(k.key, k.points, k.thresholds)],
  })), "Keys");
  if (data.total > data.keys.length) {
    view.append(empty(`${data.keys.length} of ${data.total} keys shown: filter to see others.`));
  }
  return view;
}

function render(state) {
  $("project").textContent = state.project ? `· ${state.project}` : "";
  document.title = state.alerts.some((a) => a.state === "firing")
    ? `(${state.alerts.filter((a) => a.state === "firing").length}) pxrules` : "pxrules";
  draw("alerts", state.alerts, alertsView);
  draw("deliveries", state.deliveries, deliveriesView);
  draw("silences", state.silences, silencesView);
  draw("keys", { keys: state.keys, total: state.total_keys }, keysView);
}

function connect() {
  if (stream) stream.close();
  const match = $("match").value.trim();
  stream = new EventSource("/api/v1/stream" + (match ? `?match=${encodeURIComponent(match)}` : ""));
  stream.addEventListener("update", (event) => {
    $("conn").dataset.state = "live";
    $("conn").textContent = "live";
    render(JSON.parse(event.data));
  });
  stream.onerror = () => {
    $("conn").dataset.state = "lost";
    $("conn").textContent = "reconnecting…";
  };
}

async function write(method, path, body) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token) headers.Authorization = `Bearer ${token}`;
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  let answer = {};
  try { answer = await response.json(); } catch (e) { answer = { error: response.statusText }; }
  return { status: response.status, answer };
}

function openSilence(project, rule, key) {
  silencing = { project, rule, key };  // the project too: another project's alert stays loud
  $("silence-what").textContent = `project = ${project}, rule = ${rule}, key = ${key}`;
  $("silence-error").textContent = "";
  $("token-row").hidden = !!token || $("token-row").hidden;
  $("silence-dialog").showModal();
  $("silence-duration").focus();
}

async function submitSilence(event) {
  event.preventDefault();
  if ($("silence-token").value) {
    token = $("silence-token").value;
    sessionStorage.setItem(TOKEN_KEY, token);
  }
  const { status, answer } = await write("POST", "/api/v1/silences", {
    matchers: { project: silencing.project, rule: silencing.rule, key: silencing.key },
    duration: $("silence-duration").value,
    comment: $("silence-comment").value,
    created_by: "status page",
  });
  if (status === 401) {
    $("token-row").hidden = false;
    $("silence-error").textContent = "This daemon needs its API token (--http-token).";
    $("silence-token").focus();
    return;
  }
  if (status !== 200) {
    $("silence-error").textContent = answer.error || `failed (${status})`;
    return;
  }
  $("silence-comment").value = "";
  $("silence-dialog").close();
}

async function expire(id) {
  let { status, answer } = await write("DELETE", `/api/v1/silences/${encodeURIComponent(id)}`);
  if (status === 401) {
    const given = window.prompt("This daemon needs its API token (--http-token):");
    if (!given) return;
    token = given;
    sessionStorage.setItem(TOKEN_KEY, token);
    ({ status, answer } = await write("DELETE", `/api/v1/silences/${encodeURIComponent(id)}`));
  }
  if (status !== 200) window.alert(answer.error || `failed (${status})`);
}

document.addEventListener("DOMContentLoaded", () => {
  $("silence-form").addEventListener("submit", submitSilence);
  $("silence-cancel").addEventListener("click", () => $("silence-dialog").close());
  let typing = null;
  $("match").addEventListener("input", () => {
    clearTimeout(typing);
    typing = setTimeout(connect, 300);
  });
  connect();
  setInterval(() => { // keep "3m ago" true between updates
    for (const t of document.querySelectorAll("time[datetime]")) t.textContent = ago(t.getAttribute("datetime"));
  }, 15000);
});
