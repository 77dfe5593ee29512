// rbee dashboard: reads the queen's aggregate stream (GET /v1/heartbeats/stream) and runs jobs (POST /v1/jobs).
// Plain modern JS, no build step. Every update comes from the stream; the only other reads are the cluster view and
// the model list, once per (re)connection, for what the stream does not repeat (devices, hive URLs, the model ids).
"use strict";

const TOKEN_KEY = "rbee.token";
const HISTORY_MS = 3 * 60 * 1000;      // the charts show the last three minutes
const MAX_REQUESTS = 12;               // the latest requests kept on the page
const BACKOFF_INITIAL_MS = 500;
const BACKOFF_MAX_MS = 10000;
const LOG_LINES = 200;                 // a worker's log opens with its last 200 lines, then follows
const LOG_MAX_CHARS = 400000;          // beyond this the oldest lines of the open log are dropped
const REFRESH_DEBOUNCE_MS = 750;       // re-reads of the cluster view after events, at most this often

const $ = (id) => document.getElementById(id);

// ---------- state ----------
const hives = new Map();     // hive_id -> {id, url, state, reason, devices, workerTypes, node, cpu:[], ram:[], gpu:[]}
const workers = new Map();   // `${hive}/${port}` -> {hive, stats, cpu:[], gone}
const requests = new Map();  // request id -> {id, model, phases: {phase: ms}, status, error, hive, worker, t0}
let token = sessionStorage.getItem(TOKEN_KEY);
let streamAbort = null;
let connected = false;
let logView = null;          // the open worker log: {key, controller, gone}

// ---------- small helpers ----------
function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    // Through the CSSOM: the page's CSP (style-src 'self') refuses style attributes.
    else if (k === "style") Object.assign(e.style, v);
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

function authHeaders(extra = {}) {
  const h = { ...extra };
  if (token) h.Authorization = "Bearer " + token;
  return h;
}

const bytes = (n) => {
  if (n === null || n === undefined) return "–";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) { n /= 1000; i++; }
  return (n >= 100 || i === 0 ? n.toFixed(0) : n.toFixed(1)) + " " + units[i];
};
const mb = (n) => (n === null || n === undefined ? "–" : bytes(n * 1024 * 1024));
const pct = (n) => (n === null || n === undefined ? "–" : n.toFixed(0) + " %");
const ms = (n) => (n < 1000 ? Math.round(n) + " ms" : (n / 1000).toFixed(n < 10000 ? 2 : 1) + " s");
// A time left, as a person reads it: "42 s", "4 min 05 s", "2 h 10 min".
const dur = (n) => {
  // Rounded down, as a countdown is: an hour's timeout reads "59 min 59 s", not "1 h 00 min", a moment after it starts.
  const s = Math.max(0, Math.floor(n / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")} min`;
};

function push(series, value, now) {
  if (value === null || value === undefined || Number.isNaN(value)) return;
  series.push([now, value]);
  while (series.length && series[0][0] < now - HISTORY_MS) series.shift();
}

// An inline SVG sparkline of the last HISTORY_MS of a series of [time, value] (value in 0..max).
function sparkline(series, max, label) {
  const svgNs = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(svgNs, "svg");
  svg.setAttribute("viewBox", "0 0 120 28");
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("class", "spark");
  svg.setAttribute("role", "img");
  const last = series.length ? series[series.length - 1][1] : null;
  svg.setAttribute("aria-label", `${label}, last ${HISTORY_MS / 60000} minutes` + (last === null ? "" : `, now ${last.toFixed(0)}`));
  if (series.length > 1) {
    const now = series[series.length - 1][0];
    // Until the page has seen HISTORY_MS of a series, the chart spans what it has (at least 10 s), not a sliver.
    const span = Math.min(HISTORY_MS, Math.max(10000, now - series[0][0]));
    const top = Math.max(max, ...series.map((p) => p[1]));
    const pts = series.map(([t, v]) => {
      const x = 120 - ((now - t) / span) * 120;
      const y = 27 - (v / (top || 1)) * 25;
      return x.toFixed(1) + "," + y.toFixed(1);
    });
    const area = document.createElementNS(svgNs, "polygon");
    area.setAttribute("points", `${pts[0].split(",")[0]},28 ${pts.join(" ")} 120,28`);
    area.setAttribute("class", "area");
    const line = document.createElementNS(svgNs, "polyline");
    line.setAttribute("points", pts.join(" "));
    line.setAttribute("class", "line");
    svg.append(area, line);
  }
  return svg;
}

// ---------- rendering (coalesced to one pass per animation frame) ----------
let dirty = false;
function invalidate() {
  if (dirty) return;
  dirty = true;
  requestAnimationFrame(() => { dirty = false; render(); });
}

function render() {
  renderHives();
  renderWorkers();
  renderRequests();
  renderSelectors();
}

function meter(label, value, max, text) {
  const frac = max ? Math.min(1, Math.max(0, value / max)) : 0;
  const level = frac > 0.9 ? "high" : frac > 0.7 ? "mid" : "low";
  return el("div", { class: "meter" },
    el("span", { class: "m-label", text: label }),
    el("span", { class: "m-text", text }),
    el("span", { class: "m-bar", role: "meter", "aria-label": label, "aria-valuemin": "0", "aria-valuemax": String(max || 0),
      "aria-valuenow": String(value ?? 0), "aria-valuetext": text },
      el("span", { class: "m-fill " + level, style: { width: `${(frac * 100).toFixed(1)}%` } })));
}

function renderHives() {
  const list = $("hives");
  const ids = [...hives.keys()].sort();
  $("hives-empty").hidden = ids.length > 0;
  const cards = [];
  for (const id of ids) {
    const h = hives.get(id);
    const n = h.node;
    const live = h.state === "online" || h.state === "degraded";
    const body = [];
    const heading = el("div", { class: "hive-head" },
      el("h3", { text: id }),
      el("span", { class: "badge state-" + h.state, "data-testid": "hive-state", text: h.state }));
    body.push(heading);
    body.push(el("p", { class: "sub", text: [h.url, h.reason].filter(Boolean).join(" · ") }));
    const devs = (h.devices || []).map((d) => d.kind === "cpu"
      ? `${d.name || "CPU"}${d.cores ? ` (${d.cores} cores)` : ""}`
      : `${d.id} ${d.name || ""}${d.vram_total_bytes ? ` · ${bytes(d.vram_total_bytes)}` : ""}`);
    if (devs.length) body.push(el("p", { class: "devices", text: devs.join(" · ") }));
    if (n && live) {
      body.push(el("div", { class: "metric" }, meter("CPU", n.cpu_pct, 100, pct(n.cpu_pct)), sparkline(h.cpu, 100, `${id} CPU %`)));
      const ramPct = n.ram_total_bytes ? (100 * n.ram_used_bytes) / n.ram_total_bytes : 0;
      body.push(el("div", { class: "metric" }, meter("RAM", ramPct, 100, `${bytes(n.ram_used_bytes)} of ${bytes(n.ram_total_bytes)}`),
        sparkline(h.ram, 100, `${id} RAM %`)));
      (n.gpus || []).forEach((g, i) => {
        body.push(el("div", { class: "metric" }, meter(`${g.id} GPU`, g.util_pct ?? 0, 100, pct(g.util_pct) + (g.temp_c != null ? ` · ${g.temp_c} °C` : "")),
          sparkline(h.gpu[i] || [], 100, `${id} ${g.id} GPU %`)));
        body.push(el("div", { class: "metric" }, meter(`${g.id} VRAM`, g.vram_used_bytes ?? 0, g.vram_total_bytes || 1,
          `${bytes(g.vram_used_bytes)} of ${bytes(g.vram_total_bytes)}`)));
      });
    } else {
      body.push(el("p", { class: "sub", text: h.state === "offline" ? "No frames: the hive is not reachable; its workers are not routed to."
        : h.state === "incompatible" ? "Speaks another protocol version than this queen." : "Waiting for the first frame…" }));
    }
    const count = [...workers.values()].filter((w) => w.hive === id).length;
    body.push(el("p", { class: "sub", text: count === 1 ? "1 worker" : `${count} workers` }));
    cards.push(el("li", { class: "card hive state-" + h.state, "data-hive": id, "aria-label": `hive ${id}, ${h.state}` }, ...body));
  }
  list.replaceChildren(...cards);
}

function inFlightOf(w) {
  let n = 0;
  let tracked = false;
  for (const r of requests.values()) {
    if (r.worker && w.stats.url && r.worker === w.stats.url) {
      tracked = true;
      if (!r.finished && r.phases.placed !== undefined) n++;
    }
  }
  return tracked ? n : (w.stats.in_flight ?? 0);
}

// Keeps every cell that did not change, so a button under the pointer is the same element from mousedown to mouseup
// (a row rebuilt between the two, as telemetry redraws it every second, would swallow the click), and moves rows
// only when their order changed. `rows` carry data-<kind> keys.
function patchRows(body, rows, kind) {
  const old = new Map([...body.children].map((r) => [r.dataset[kind], r]));
  const kept = rows.map((row) => {
    const was = old.get(row.dataset[kind]);
    if (!was || was.children.length !== row.children.length) return row;
    for (const name of row.getAttributeNames()) if (was.getAttribute(name) !== row.getAttribute(name)) was.setAttribute(name, row.getAttribute(name));
    [...row.children].forEach((cell, i) => { if (!was.children[i].isEqualNode(cell)) was.children[i].replaceWith(cell); });
    return was;
  });
  const same = kept.length === body.children.length && kept.every((r, i) => body.children[i] === r);
  if (!same) body.replaceChildren(...kept);
}

function renderWorkers() {
  const body = $("worker-rows");
  const keys = [...workers.keys()].sort();
  $("workers-empty").hidden = keys.length > 0;
  $("workers").hidden = keys.length === 0;
  // Rows are replaced in place by key; a focused button (Logs, Stop) keeps its focus across updates.
  const active = document.activeElement;
  const focused = active?.closest("tr[data-worker]")?.dataset.worker;
  const focusedAction = active?.dataset?.action;
  const now = Date.now();
  const rows = keys.map((key) => {
    const w = workers.get(key);
    const s = w.stats;
    const model = modelOf(s);
    const logOpen = logView?.key === key;
    const logs = el("button", { type: "button", class: "quiet small", "data-action": "logs", "aria-controls": "log-panel",
      "aria-expanded": logOpen ? "true" : "false", "aria-label": `Logs of ${model} on ${w.hive} port ${s.port}`,
      onclick: () => (logOpen ? closeLog() : openLog(key)) }, "Logs");
    const stop = el("button", { type: "button", class: "quiet small", "data-action": "stop", "aria-label": `Stop ${model} on ${w.hive} port ${s.port}`,
      disabled: w.stopping || s.state === "stopping", onclick: () => stopWorker(key) }, w.stopping ? "Stopping…" : "Stop");
    const idle = idleStop(s, now);
    return el("tr", { "data-worker": key, "data-model": model, "data-hive": w.hive },
      el("th", { scope: "row", class: "model", title: s.model || "", text: model }),
      el("td", { "data-label": "Hive", text: w.hive }),
      el("td", { "data-label": "State" }, el("span", { class: "badge wstate-" + s.state, text: s.state }),
        w.ejected ? el("span", { class: "badge wstate-stopping", title: w.ejected, text: "ejected" }) : null),
      el("td", { "data-label": "Device", text: s.device || "cpu" }),
      el("td", { "data-label": "Port", class: "num", text: String(s.port) }),
      el("td", { "data-label": "CPU", class: "num", text: pct(s.cpu_pct) }),
      el("td", { "data-label": "CPU chart", class: "chart" }, sparkline(w.cpu, 100, `${model} CPU %`)),
      el("td", { "data-label": "RSS", class: "num", text: mb(s.rss_mb) }),
      el("td", { "data-label": "VRAM", class: "num", text: s.vram_mb == null ? "–" : mb(s.vram_mb) }),
      el("td", { "data-label": "In flight", class: "num", text: String(inFlightOf(w)) }),
      el("td", { "data-label": "Idle stop", class: "idle", "data-idle-stop": s.idle_stop_at || null, title: idle.title, text: idle.text }),
      el("td", { class: "act" }, logs, stop));
  });
  patchRows(body, rows, "worker");
  if (focused) body.querySelector(`tr[data-worker="${CSS.escape(focused)}"] button${focusedAction ? `[data-action="${focusedAction}"]` : ""}`)?.focus();
  // The worker whose log is open went away: its log stops being followed, the lines read so far stay.
  if (logView && !logView.gone && !workers.has(logView.key)) {
    logView.gone = true;
    logView.controller.abort();
    setLogState("down", "worker gone; log no longer followed");
  }
}

const modelOf = (s) => s.model_id || (s.model || "").split("/").pop();

// The queen stops workers it started itself after Scheduling:IdleTimeout without a request (idle_stop_at); never others.
function idleStop(s, now) {
  if (s.idle_stop_at) {
    const at = Date.parse(s.idle_stop_at);
    return { text: at > now ? `in ${dur(at - now)}` : "due now",
      title: `The queen stops it at ${new Date(at).toLocaleTimeString()} unless a request comes first` };
  }
  // Counted from when it is ready: until then the queen has set no time.
  if (s.started_by === "queen" && s.state !== "ready") return { text: "–", title: "The idle timeout counts once the worker is ready" };
  return { text: "never", title: s.started_by === "queen"
    ? "Started by the queen, which keeps it: no idle timeout (Scheduling:IdleTimeout) is set"
    : "Started by a person: the queen never stops it for being idle" };
}

// Once a second, only the idle countdowns change: written in place, without redrawing the table.
function tickIdle() {
  const now = Date.now();
  for (const td of document.querySelectorAll("#worker-rows td[data-idle-stop]")) {
    const at = Date.parse(td.dataset.idleStop);
    const text = at > now ? `in ${dur(at - now)}` : "due now";
    if (td.textContent !== text) td.textContent = text;
  }
}

// The timeline's segments, from the phases the queen publishes (routing.md "Every request has a timeline").
// A request still running has its open phase drawn up to now, so its bar grows while it waits.
function segments(r, now) {
  const p = r.phases;
  const end = p.done ?? p.failed ?? (r.finished ? undefined : now - r.t0);
  const out = [];
  const add = (cls, label, from, to) => { if (from !== undefined && to !== undefined && to >= from) out.push({ cls, label, from, to }); };
  const leaveQueue = p.spawn_started ?? p.placed ?? p.first_byte ?? end;
  add("ph-queued", "queued", 0, leaveQueue);
  // A cold start: the hive starts the worker's process (spawn_started → worker_spawned), then the worker loads the model
  // (worker_spawned → worker_ready; placing the request on it follows within a millisecond and is drawn with it).
  // Without worker_spawned (a queen before it), the whole start is one bar.
  add("ph-spawn", "starting a worker", p.spawn_started, p.worker_spawned ?? p.worker_ready ?? p.placed ?? end);
  if (p.worker_spawned !== undefined) add("ph-load", "loading the model", p.worker_spawned, p.placed ?? p.worker_ready ?? end);
  else add("ph-load", "placing", p.worker_ready, p.placed);
  add("ph-first", "to first token", p.placed, p.first_byte ?? end);
  add("ph-gen", "generating", p.first_byte, end);
  return out;
}

function renderRequests() {
  const list = $("requests");
  const items = [...requests.values()].sort((a, b) => b.t0 - a.t0).slice(0, MAX_REQUESTS);
  $("requests-empty").hidden = items.length > 0;
  const now = Date.now();
  const totalOf = (r) => (r.phases.done ?? r.phases.failed ?? (now - r.t0));
  const scale = Math.max(100, ...items.map(totalOf));
  list.replaceChildren(...items.map((r) => {
    const total = totalOf(r);
    const segs = segments(r, now);
    const bar = el("div", { class: "tl", role: "img",
      "aria-label": segs.map((s) => `${s.label} ${ms(s.to - s.from)}`).join(", ") || "received" });
    for (const s of segs) {
      bar.append(el("span", { class: "seg " + s.cls, title: `${s.label}: ${ms(s.to - s.from)}`,
        style: { left: `${((100 * s.from) / scale).toFixed(2)}%`, width: `${Math.max(0.4, (100 * (s.to - s.from)) / scale).toFixed(2)}%` } }));
    }
    const status = r.phases.failed !== undefined ? `failed ${r.status ?? ""}` : r.phases.done !== undefined ? String(r.status ?? "done") : "running";
    return el("li", { class: "req" + (r.phases.failed !== undefined ? " failed" : ""), "data-request": r.id },
      el("div", { class: "req-head" },
        el("span", { class: "req-model", text: r.model || "?" }),
        el("span", { class: "sub", text: [r.hive, r.id].filter(Boolean).join(" · ") }),
        el("span", { class: "req-status" + (r.finished ? "" : " running"), text: `${status} · ${ms(total)}` })),
      bar,
      el("p", { class: "sub breakdown", text: segs.filter((s) => s.to - s.from >= 1).map((s) => `${s.label} ${ms(s.to - s.from)}`).join(" · ") }),
      r.error ? el("p", { class: "error", text: r.error }) : null);
  }));
}

let selectorsKey = "";
function renderSelectors() {
  const online = [...hives.values()].filter((h) => h.state === "online").map((h) => h.id).sort();
  const key = JSON.stringify(online.map((id) => [id, (hives.get(id).devices || []).map((d) => d.id), hives.get(id).workerTypes || []]));
  if (key === selectorsKey) return;
  selectorsKey = key;
  const fill = (select, options) => {
    const keep = select.value;
    select.replaceChildren(...options.map(([v, t]) => el("option", { value: v, text: t })));
    if (options.some(([v]) => v === keep)) select.value = keep;
  };
  const hiveOptions = online.map((id) => [id, id]);
  if (!online.length) hiveOptions.push(["", "no hive online"]);
  fill($("spawn-hive"), hiveOptions);
  fill($("pull-hive"), online.length > 1 ? [["*", "every online hive"], ...hiveOptions] : hiveOptions);
  fillTypes();
}

// The chosen hive's worker types (its capabilities, through the cluster view): an unavailable one is listed, disabled,
// with the hive's reason under the form.
function fillTypes() {
  const h = hives.get($("spawn-hive").value);
  const types = h?.workerTypes?.length ? h.workerTypes : [{ name: "llm", available: true }];
  const select = $("spawn-type");
  const keep = select.value;
  select.replaceChildren(...types.map((t) => el("option", { value: t.name, disabled: !t.available,
    text: t.available ? t.name : `${t.name} (unavailable)` })));
  const usable = types.filter((t) => t.available);
  // The choice made stays; else llm (what a model file is served by), else the first type that runs here.
  select.value = usable.some((t) => t.name === keep) ? keep : ((usable.find((t) => t.name === "llm") ?? usable[0])?.name ?? "");
  // The reasons are long (paths, settings to change): one summary line, the reasons folded under it.
  const missing = types.filter((t) => !t.available);
  const note = $("spawn-type-note");
  if (!missing.length || !h) note.replaceChildren();
  else note.replaceChildren(el("details", {},
    el("summary", { text: usable.length ? `Not available on ${h.id}: ${missing.map((t) => t.name).join(", ")}`
      : `No worker type can run on ${h.id}` }),
    el("ul", {}, ...missing.map((t) => el("li", {}, el("strong", { text: t.name }), ` ${t.reason || "unavailable"}`)))));
  fillDevices();
}

// The chosen hive's devices the chosen type runs on (device_kinds; every device when the hive does not say).
function fillDevices() {
  const h = hives.get($("spawn-hive").value);
  const type = (h?.workerTypes || []).find((t) => t.name === $("spawn-type").value);
  const kinds = type?.device_kinds;
  const devs = (h?.devices || []).filter((d) => !kinds || kinds.includes(d.kind))
    .map((d) => [d.kind === "cpu" ? "cpu" : d.id, d.kind === "cpu" ? `cpu${d.cores ? ` (${d.cores} cores)` : ""}`
      : `${d.id} ${d.name || ""}${d.vram_total_bytes ? ` · ${bytes(d.vram_total_bytes)}` : ""}`.trim()]);
  const select = $("spawn-device");
  const keep = select.value;
  select.replaceChildren(...(devs.length ? devs : [["cpu", "cpu"]]).map(([v, t]) => el("option", { value: v, text: t })));
  if ([...select.options].some((o) => o.value === keep)) select.value = keep;
}

function renderSummary(s) {
  if (!s) return;
  const parts = [`${s.hives_online} online`];
  if (s.hives_degraded) parts.push(`${s.hives_degraded} degraded`);
  if (s.hives_offline) parts.push(`${s.hives_offline} offline`);
  const text = `Hives: ${parts.join(", ")} · Workers: ${s.workers_ready} ready of ${s.workers}`;
  // A live region: written only when it changes, so a screen reader hears changes, not every periodic summary.
  if ($("summary").textContent !== text) $("summary").textContent = text;
}

function setConn(state, text) {
  const c = $("conn");
  c.dataset.state = state;
  c.textContent = text;
}

// ---------- applying the stream ----------
function hiveOf(id) {
  let h = hives.get(id);
  if (!h) {
    h = { id, url: null, state: "connecting", reason: null, devices: [], workerTypes: [], node: null, cpu: [], ram: [], gpu: [] };
    hives.set(id, h);
  }
  return h;
}

function applyCluster(view) {
  hives.clear();
  workers.clear();
  const now = Date.now();
  for (const hv of view.hives || []) {
    const h = hiveOf(hv.hive_id);
    Object.assign(h, { url: hv.hive_url, state: hv.state, reason: hv.reason, devices: hv.devices || [], workerTypes: hv.worker_types || [], node: hv.node });
    if (hv.node) sampleHive(h, hv.node, now);
    for (const s of hv.workers || []) {
      const w = upsertWorker(hv.hive_id, s, now);
      if (s.ejected_until && Date.parse(s.ejected_until) > now) w.ejected = `not routed to until ${new Date(s.ejected_until).toLocaleTimeString()}`;
    }
  }
}

function sampleHive(h, n, now) {
  push(h.cpu, n.cpu_pct, now);
  if (n.ram_total_bytes) push(h.ram, (100 * n.ram_used_bytes) / n.ram_total_bytes, now);
  (n.gpus || []).forEach((g, i) => { h.gpu[i] = h.gpu[i] || []; push(h.gpu[i], g.util_pct, now); });
}

function upsertWorker(hiveId, s, now) {
  const key = `${hiveId}/${s.port}`;
  let w = workers.get(key);
  if (!w) { w = { hive: hiveId, stats: s, cpu: [] }; workers.set(key, w); }
  // A hive's own frame has the queen's fields (url, in_flight…) null: keep the ones the queen gave.
  const merged = { ...w.stats };
  for (const [k, v] of Object.entries(s)) if (v !== null || !(k in merged)) merged[k] = v;
  w.stats = merged;
  if (now) push(w.cpu, s.cpu_pct, now);
  return w;
}

function onEvent(type, data) {
  const now = Date.now();
  switch (type) {
    case "summary":
      renderSummary(data);
      return; // the summary line is not part of the coalesced render
    case "telemetry": {
      const h = hiveOf(data.hive_id);
      h.node = data.node;
      sampleHive(h, data.node, now);
      // The frame lists every worker of the hive: the ones it does not list are gone.
      const present = new Set();
      for (const s of data.workers || []) { upsertWorker(data.hive_id, s, now); present.add(`${data.hive_id}/${s.port}`); }
      for (const [key, w] of workers) if (w.hive === data.hive_id && !present.has(key)) workers.delete(key);
      break;
    }
    case "hive_state": {
      const h = hiveOf(data.hive_id);
      h.state = data.new_state;
      h.reason = data.reason;
      if (data.new_state === "offline" || data.new_state === "incompatible") {
        h.node = null;
        for (const [key, w] of workers) if (w.hive === data.hive_id) workers.delete(key);
      }
      if (data.old_state === null || !h.devices.length) refreshCluster();
      break;
    }
    case "worker_added":
    case "worker_state":
      upsertWorker(data.hive_id, data.worker, null);
      // The queen's own fields of a worker (its url, when it would be stopped idle) are in the cluster view only.
      if (data.new_state === "ready") refreshSoon();
      break;
    case "worker_health": {
      // Passive health took the worker out of routing for a while (routing.md), or put it back.
      const w = workers.get(`${data.hive_id}/${data.port}`);
      if (!w) return;
      w.ejected = data.ejected ? `not routed to until ${new Date(data.ejected_until).toLocaleTimeString()}: ${data.reason}` : null;
      break;
    }
    case "worker_removed":
      workers.delete(`${data.hive_id}/${data.worker.port}`);
      break;
    case "request": {
      let r = requests.get(data.request_id);
      if (!r) {
        r = { id: data.request_id, model: data.model, phases: {}, t0: Date.parse(data.timestamp) - (data.elapsed_ms || 0), finished: false };
        requests.set(data.request_id, r);
      }
      if (r.phases[data.phase] === undefined || data.phase === "queued") r.phases[data.phase] = data.elapsed_ms || 0;
      if (data.hive_id) r.hive = data.hive_id;
      if (data.worker_url) r.worker = data.worker_url;
      if (data.status !== undefined && data.status !== null) r.status = data.status;
      if (data.error) r.error = data.error;
      if (data.phase === "done" || data.phase === "failed") {
        r.finished = true;
        // The worker's last use moved its idle stop: read the queen's figure again.
        refreshSoon();
      }
      if (data.model) r.model = data.model;
      // Keep the memory bounded: drop the oldest beyond what the page shows.
      if (requests.size > MAX_REQUESTS * 2) {
        const oldest = [...requests.values()].sort((a, b) => a.t0 - b.t0).slice(0, requests.size - MAX_REQUESTS);
        for (const o of oldest) requests.delete(o.id);
      }
      break;
    }
    default:
      return;
  }
  invalidate();
}

// ---------- SSE over fetch ----------
// Reads an SSE body and calls onMessage(event, data) per message; returns when the body ends.
async function readSse(response, onMessage, signal) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let event = "message";
  let data = [];
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let nl;
      while ((nl = buffer.indexOf("\n")) >= 0) {
        let line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        if (line.endsWith("\r")) line = line.slice(0, -1);
        if (line === "") {
          if (data.length) onMessage(event, data.join("\n"));
          event = "message";
          data = [];
        } else if (line.startsWith(":")) {
          // comment (keep-alive)
        } else {
          const colon = line.indexOf(":");
          const field = colon < 0 ? line : line.slice(0, colon);
          let val = colon < 0 ? "" : line.slice(colon + 1);
          if (val.startsWith(" ")) val = val.slice(1);
          if (field === "event") event = val;
          else if (field === "data") data.push(val);
        }
      }
      if (signal?.aborted) break;
    }
  } finally {
    reader.releaseLock();
  }
}

class AuthError extends Error {}

async function refreshCluster() {
  try {
    const r = await fetch("/v1/cluster", { headers: authHeaders() });
    if (!r.ok) return;
    const view = await r.json();
    for (const hv of view.hives || []) {
      const h = hiveOf(hv.hive_id);
      h.url = hv.hive_url;
      h.devices = hv.devices || [];
      h.workerTypes = hv.worker_types || [];
      if (!h.node && hv.node) h.node = hv.node;
      for (const s of hv.workers || []) {
        const w = workers.get(`${hv.hive_id}/${s.port}`);
        if (!w) continue;
        const stats = { ...w.stats };
        for (const k of ["url", "started_by", "last_used_at", "idle_stop_at"]) stats[k] = s[k] ?? null;
        w.stats = stats;
      }
    }
    invalidate();
  } catch { /* the stream's reconnect covers a queen that went away */ }
}

// Event-driven, never periodic: a burst of events becomes one read.
let refreshTimer = 0;
function refreshSoon() {
  if (refreshTimer) return;
  refreshTimer = setTimeout(() => { refreshTimer = 0; refreshCluster(); }, REFRESH_DEBOUNCE_MS);
}

async function refreshModels() {
  try {
    const r = await fetch("/v1/models", { headers: authHeaders() });
    if (!r.ok) return;
    const body = await r.json();
    $("model-ids").replaceChildren(...(body.data || []).map((m) => el("option", { value: m.id })));
    if (!$("chat-model").value && body.data?.length) $("chat-model").value = body.data[0].id;
  } catch { /* optional: the inputs take any id */ }
}

async function streamLoop() {
  let backoff = BACKOFF_INITIAL_MS;
  for (;;) {
    const controller = new AbortController();
    streamAbort = controller;
    try {
      setConn("connecting", connected ? "reconnecting…" : "connecting…");
      const response = await fetch("/v1/heartbeats/stream", {
        headers: authHeaders({ Accept: "text/event-stream" }), signal: controller.signal, cache: "no-store" });
      if (response.status === 401 || response.status === 403) throw new AuthError(response.status === 401
        ? "The queen refused this token." : "The queen accepts no token from this address; it needs its cluster token.");
      if (!response.ok) throw new Error(`stream answered ${response.status}`);
      // The cluster view holds what frames do not repeat; the stream's events after its summary keep it current.
      const cluster = await fetch("/v1/cluster", { headers: authHeaders(), signal: controller.signal });
      if (cluster.ok) applyCluster(await cluster.json());
      refreshModels();
      connected = true;
      showMain();
      setConn("live", "live");
      backoff = BACKOFF_INITIAL_MS;
      invalidate();
      await readSse(response, (event, data) => {
        try { onEvent(event, JSON.parse(data)); } catch (e) { console.warn("bad event", event, e); }
      }, controller.signal);
      if (controller.signal.aborted) return;
      setConn("down", "stream ended; reconnecting…");
    } catch (e) {
      if (controller.signal.aborted) return;
      if (e instanceof AuthError) { showLogin(e.message); return; }
      setConn("down", `queen unreachable; retrying in ${Math.round(backoff / 1000) || 1} s`);
    }
    await new Promise((res) => setTimeout(res, backoff + Math.random() * backoff * 0.2));
    backoff = Math.min(BACKOFF_MAX_MS, backoff * 2);
  }
}

// ---------- jobs ----------
// Posts a job and reads its stream: onData(json) per structured event, onLine(text) per narration line.
// Resolves with the terminal line ("[DONE]", "[ERROR] …", "[CANCELLED]").
async function runJob(body, { onData, onLine, onStart } = {}) {
  const post = await fetch("/v1/jobs", { method: "POST", headers: authHeaders({ "Content-Type": "application/json" }), body: JSON.stringify(body) });
  if (!post.ok) {
    let message = `${post.status}`;
    try { const err = await post.json(); message = err.error?.message || message; } catch { /* not JSON */ }
    return "[ERROR] " + message;
  }
  const { job_id, sse_url } = await post.json();
  onStart?.(job_id);
  const stream = await fetch(sse_url, { headers: authHeaders({ Accept: "text/event-stream" }) });
  if (!stream.ok) return `[ERROR] job stream answered ${stream.status}`;
  let terminal = "[ERROR] the job stream ended without a result";
  await readSse(stream, (event, data) => {
    if (event === "data") { try { onData?.(JSON.parse(data)); } catch { /* ignore */ } return; }
    if (data === "[DONE]" || data === "[CANCELLED]" || data.startsWith("[ERROR]")) terminal = data;
    else onLine?.(data);
  });
  return terminal;
}

const cancelJob = (id) => fetch(`/v1/jobs/${encodeURIComponent(id)}`, { method: "DELETE", headers: authHeaders() });

function say(output, text, kind = "") {
  output.textContent = text;
  output.dataset.kind = kind;
}

async function spawnWorker(ev) {
  ev.preventDefault();
  const form = ev.currentTarget;
  const button = form.querySelector("button[type=submit]");
  const out = $("spawn-status");
  const body = { operation: "worker_spawn", hive_id: $("spawn-hive").value, model: $("spawn-model").value.trim(),
    worker_type: $("spawn-type").value, device: $("spawn-device").value || "cpu" };
  if (!body.worker_type) { say(out, "No worker type can run on this hive.", "error"); return; }
  if (!body.hive_id) { say(out, "No hive is online.", "error"); return; }
  button.disabled = true;
  say(out, `Starting ${body.model} on ${body.hive_id}…`);
  try {
    const end = await runJob(body, { onLine: (l) => say(out, l) });
    if (end === "[DONE]") say(out, `${body.model} is ready on ${body.hive_id}.`, "ok");
    else say(out, end.replace(/^\[ERROR\] /, "Failed: "), "error");
  } catch (e) { say(out, "Failed: " + e.message, "error"); }
  finally { button.disabled = false; }
}

async function stopWorker(key) {
  const w = workers.get(key);
  if (!w) return;
  w.stopping = true;
  invalidate();
  const out = $("spawn-status");
  const end = await runJob({ operation: "worker_stop", hive_id: w.hive, port: w.stats.port }).catch((e) => "[ERROR] " + e.message);
  if (end !== "[DONE]") {
    const still = workers.get(key);
    if (still) { still.stopping = false; invalidate(); }
    say(out, `Stopping port ${w.stats.port} on ${w.hive}: ${end.replace(/^\[ERROR\] /, "")}`, "error");
  } else say(out, `Stopped port ${w.stats.port} on ${w.hive}.`, "ok");
}

async function pullModel(ev) {
  ev.preventDefault();
  const button = ev.currentTarget.querySelector("button[type=submit]");
  const out = $("pull-status");
  const list = $("pull-progress");
  const source = $("pull-source").value.trim();
  const hive = $("pull-hive").value;
  if (!hive) { say(out, "No hive is online.", "error"); return; }
  button.disabled = true;
  list.replaceChildren();
  const bars = new Map();
  const barFor = (hiveId) => {
    let b = bars.get(hiveId);
    if (!b) {
      const id = "pull-" + bars.size;
      const progress = el("progress", { id, max: "1" });
      const label = el("label", { for: id, text: hiveId });
      const text = el("span", { class: "sub", text: "starting…" });
      list.append(el("div", { class: "pull-row" }, label, progress, text));
      b = { progress, text };
      bars.set(hiveId, b);
    }
    return b;
  };
  say(out, `Pulling ${source}…`);
  try {
    const end = await runJob({ operation: "model_download", source, hive_id: hive }, {
      onLine: (l) => say(out, l),
      onData: (d) => {
        if (d.event === "progress") {
          const b = barFor(d.hive_id);
          if (d.total) { b.progress.max = d.total; b.progress.value = d.bytes; } else b.progress.removeAttribute("value");
          const rate = d.bytes_per_s ? ` · ${bytes(d.bytes_per_s)}/s` : "";
          const eta = d.eta_s != null ? ` · ${Math.ceil(d.eta_s)} s left` : "";
          b.text.textContent = `${bytes(d.bytes)}${d.total ? " of " + bytes(d.total) : ""}${rate}${eta}`;
        } else if (d.event === "downloaded") {
          const b = barFor(d.hive_id);
          b.progress.max = 1; b.progress.value = 1;
          b.text.textContent = `${d.model}: ${bytes(d.size)}, done`;
        }
      },
    });
    if (end === "[DONE]") { say(out, `Pulled ${source}.`, "ok"); refreshModels(); }
    else say(out, end.replace(/^\[ERROR\] /, "Failed: "), "error");
  } catch (e) { say(out, "Failed: " + e.message, "error"); }
  finally { button.disabled = false; }
}

// ---------- a worker's log ----------
// GET /v1/hives/{hive}/workers/{port}/logs?lines=N&follow=true (the queen relays the hive's file as the worker writes
// it): read with fetch and a stream reader, since it needs the Authorization header, and aborted when the panel closes
// or the worker goes away.
function setLogState(state, text) {
  const p = $("log-state");
  p.dataset.state = state;
  p.textContent = text;
}

// The log file is the port's: earlier workers on the same port are in it too, after the hive's line
// "--- rbee-hive starts <type> worker on port … ---". Those lines are set apart so each worker's lines read as its own.
const LOG_START = "--- rbee-hive starts ";
let logPartial = "";
let logChars = 0;

function appendLog(chunk) {
  const pre = $("log-text");
  // Followed at the bottom unless the reader scrolled up to read.
  const atBottom = pre.scrollHeight - pre.scrollTop - pre.clientHeight < 24;
  const lines = (logPartial + chunk).split("\n");
  logPartial = lines.pop();
  const nodes = lines.map((line) => line.startsWith(LOG_START)
    ? el("span", { class: "log-start", text: line + "\n" })
    : document.createTextNode(line + "\n"));
  pre.append(...nodes);
  logChars += lines.reduce((n, l) => n + l.length + 1, 0);
  // Oldest lines first out, a node (a line) at a time.
  while (logChars > LOG_MAX_CHARS && pre.firstChild) {
    logChars -= pre.firstChild.textContent.length;
    pre.firstChild.remove();
  }
  if (atBottom) pre.scrollTop = pre.scrollHeight;
}

async function openLog(key) {
  closeLog(false);
  const w = workers.get(key);
  if (!w) return;
  const controller = new AbortController();
  const view = { key, controller, gone: false };
  logView = view;
  const model = modelOf(w.stats);
  $("log-title").textContent = `Log of ${model} on ${w.hive}, port ${w.stats.port}`;
  $("log-path").textContent = "";
  $("log-text").textContent = "";
  logPartial = "";
  logChars = 0;
  setLogState("connecting", "opening…");
  $("log-panel").hidden = false;
  $("log-text").focus();
  invalidate();
  try {
    const response = await fetch(`/v1/hives/${encodeURIComponent(w.hive)}/workers/${w.stats.port}/logs?lines=${LOG_LINES}&follow=true`,
      { headers: authHeaders({ Accept: "text/plain" }), signal: controller.signal, cache: "no-store" });
    if (!response.ok) {
      let message = `the queen answered ${response.status}`;
      try { message = (await response.json()).error?.message || message; } catch { /* not JSON */ }
      setLogState("down", "unavailable");
      $("log-path").textContent = message;
      return;
    }
    $("log-path").textContent = response.headers.get("X-Rbee-Log-Path") || "";
    setLogState("live", `following, last ${LOG_LINES} lines first`);
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      appendLog(decoder.decode(value, { stream: true }));
    }
    if (logView === view) {
      if (logPartial) appendLog("\n");
      setLogState("down", "log ended");
    }
  } catch (e) {
    if (controller.signal.aborted) return;
    if (logView === view) setLogState("down", "log unreachable: " + e.message);
  }
}

function closeLog(restoreFocus = true) {
  if (!logView) return;
  const { key, controller } = logView;
  logView = null;
  controller.abort();
  $("log-panel").hidden = true;
  renderWorkers();
  if (restoreFocus) document.querySelector(`#worker-rows tr[data-worker="${CSS.escape(key)}"] button[data-action="logs"]`)?.focus();
}

// ---------- chat ----------
const history = [];
let chatJob = null;

// The conversation scrolls inside its own box: scrollIntoView would move the whole page to the chat while an answer
// streams, away from whatever the person was looking at.
function scrollChat() {
  const log = $("chat-log");
  log.scrollTop = log.scrollHeight;
}

function chatBubble(role, text) {
  const b = el("div", { class: "msg " + role }, el("span", { class: "who", text: role === "user" ? "You" : "Model" }), el("p", { text }));
  $("chat-log").append(b);
  scrollChat();
  return b.querySelector("p");
}

async function sendChat(ev) {
  ev?.preventDefault();
  if (chatJob) return;
  const input = $("chat-input");
  const text = input.value.trim();
  const model = $("chat-model").value.trim();
  if (!text || !model) return;
  const out = $("chat-status");
  history.push({ role: "user", content: text });
  chatBubble("user", text);
  input.value = "";
  const answer = chatBubble("assistant", "");
  answer.parentElement.classList.add("streaming");
  // A screen reader reads the answer once it is whole, not token by token.
  $("chat-log").setAttribute("aria-busy", "true");
  $("chat-send").disabled = true;
  $("chat-stop").hidden = false;
  say(out, "Waiting for the queen…");
  let reply = "";
  chatJob = "pending";
  try {
    const end = await runJob({ operation: "infer", model, messages: history, max_tokens: 256 }, {
      onStart: (id) => { chatJob = id; },
      onLine: (l) => say(out, l),
      onData: (d) => {
        if (d.event === "token") { reply += d.text; answer.textContent = reply.trimStart(); scrollChat(); say(out, "Answering…"); }
        else if (d.event === "done") say(out, `Answered by ${d.hive_id}${d.finish_reason ? " (" + d.finish_reason + ")" : ""}` +
          (d.usage ? `, ${d.usage.completion_tokens} tokens` : "") + ".", "ok");
      },
    });
    if (end === "[DONE]") history.push({ role: "assistant", content: reply });
    else {
      history.pop();
      const why = end === "[CANCELLED]" ? "Stopped." : end.replace(/^\[ERROR\] /, "Failed: ");
      say(out, why, end === "[CANCELLED]" ? "" : "error");
      // A partial answer stays, marked as cut off, so it is not read as the whole answer.
      if (!reply) answer.parentElement.remove();
      else answer.parentElement.append(el("span", { class: "cut-note", text: end === "[CANCELLED]" ? "stopped here" : "cut off here (the reason is below)" }));
    }
  } catch (e) { say(out, "Failed: " + e.message, "error"); }
  finally {
    answer.parentElement.classList.remove("streaming");
    $("chat-log").setAttribute("aria-busy", "false");
    chatJob = null;
    $("chat-send").disabled = false;
    $("chat-stop").hidden = true;
    input.focus();
  }
}

// ---------- login ----------
function showLogin(message = "") {
  connected = false;
  streamAbort?.abort();
  closeLog(false);
  $("main").hidden = true;
  $("signout").hidden = true;
  $("login").hidden = false;
  $("summary").textContent = "";
  setConn("idle", "not connected");
  $("login-error").textContent = message;
  $("token").value = token || "";
  $("token").focus();
}

function showMain() {
  $("login").hidden = true;
  $("main").hidden = false;
  $("signout").hidden = false;
}

function connect(newToken) {
  token = newToken;
  sessionStorage.setItem(TOKEN_KEY, token);
  streamAbort?.abort();
  streamLoop();
}

document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", (e) => { e.preventDefault(); $("login-error").textContent = ""; connect($("token").value.trim()); });
  $("signout").addEventListener("click", () => { sessionStorage.removeItem(TOKEN_KEY); token = null; showLogin(); });
  $("spawn-form").addEventListener("submit", spawnWorker);
  $("spawn-hive").addEventListener("change", fillTypes);
  $("spawn-type").addEventListener("change", fillDevices);
  $("log-close").addEventListener("click", () => closeLog());
  $("log-panel").addEventListener("keydown", (e) => { if (e.key === "Escape") { e.preventDefault(); closeLog(); } });
  $("pull-form").addEventListener("submit", pullModel);
  $("chat-form").addEventListener("submit", sendChat);
  $("chat-input").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); $("chat-form").requestSubmit(); }
  });
  $("chat-stop").addEventListener("click", () => { if (chatJob && chatJob !== "pending") cancelJob(chatJob); });
  $("chat-clear").addEventListener("click", () => { history.length = 0; $("chat-log").replaceChildren(); say($("chat-status"), ""); });
  // Running requests' bars grow while nothing else changes.
  setInterval(() => { if ([...requests.values()].some((r) => !r.finished)) invalidate(); }, 500);
  setInterval(tickIdle, 1000);
  if (token === null) showLogin();
  else connect(token);
});
