/**
 * The dashboard: one page, served at `/` by the admin listener, with
 * nothing to fetch but the admin API (no build step, no CDN: it works
 * offline from the binary). It reads `/api/events` (the state each second)
 * with `fetch`, so it can send the bearer token, which it asks for when the
 * admin has one and keeps in sessionStorage; it shows the routes with their
 * origin, every service's replicas with their state and last error, and
 * each service's request rate, error rate and latency percentiles.
 *
 * @module
 */

const STYLE = `
:root { --ok: #1a7f37; --bad: #cf222e; --warn: #bc4c00; --drain: #6639ba; --ramp: #0969da;
  --muted: #59636e; --line: #d1d9e0; --bg: #f6f8fa; font: 14px/1.4 system-ui, sans-serif; }
body { margin: 0; color: #1f2328; background: #fff; }
header { display: flex; gap: 1em; align-items: baseline; padding: .8em 1.2em; background: var(--bg);
  border-bottom: 1px solid var(--line); }
header h1 { font-size: 1.2em; margin: 0; }
#status { color: var(--muted); }
#status.live::before { content: "\\25CF "; color: var(--ok); }
#status.down::before { content: "\\25CF "; color: var(--bad); }
main { padding: 0 1.2em 2em; }
h2 { font-size: 1.05em; margin: 1.4em 0 .5em; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .3em .6em; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-weight: 600; color: var(--muted); font-size: .9em; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.service { border: 1px solid var(--line); border-radius: 6px; margin: .8em 0; }
.service > .top { display: flex; flex-wrap: wrap; gap: 1.5em; align-items: center; padding: .5em .8em;
  background: var(--bg); border-bottom: 1px solid var(--line); }
.service .name { font-weight: 600; font-size: 1.05em; }
.service table { table-layout: fixed; }
.service th:nth-child(1) { width: 13em; } .service th:nth-child(2) { width: 8em; }
.service th:nth-child(3), .service th:nth-child(4), .service th:nth-child(5) { width: 5.5em; }
.service th:nth-child(6) { width: 22%; } .service th:nth-child(8) { width: 6em; }
.service td { overflow-wrap: anywhere; }
.figure b { font-variant-numeric: tabular-nums; }
.figure.bad b { color: var(--bad); }
.pill { display: inline-block; padding: 0 .6em; border-radius: 1em; color: #fff; font-size: .85em; }
.state-healthy { background: var(--ok); } .state-ejected { background: var(--bad); }
.state-unhealthy { background: var(--warn); } .state-draining { background: var(--drain); }
.state-slow-starting { background: var(--ramp); } .state-new { background: var(--muted); }
.error { color: var(--bad); } .muted { color: var(--muted); }
code { font: 12px ui-monospace, monospace; background: var(--bg); padding: 0 .3em; border-radius: 3px; }
button { font: inherit; font-size: .85em; cursor: pointer; }
#login { max-width: 26em; margin: 3em auto; padding: 1.2em; border: 1px solid var(--line); border-radius: 6px; }
#login input { width: 100%; box-sizing: border-box; margin: .5em 0; padding: .4em; font: inherit; }
svg.spark { vertical-align: middle; }
`;

const SCRIPT = `
"use strict";
const TOKEN_KEY = "gatehouse-admin-token";
const $ = (id) => document.getElementById(id);
/** An element with attributes and children (text is never read as HTML). */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v); else el.setAttribute(k, v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) el.append(c);
  return el;
}
function headers() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  return token ? { Authorization: "Bearer " + token } : {};
}
function ago(iso) {
  if (!iso) return "";
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  return s < 60 ? s + " s ago" : s < 3600 ? Math.round(s / 60) + " min ago" : Math.round(s / 3600) + " h ago";
}
function until(iso) {
  const s = Math.max(0, Math.round((Date.parse(iso) - Date.now()) / 1000));
  return "in " + s + " s";
}
function ms(v) { return v === null || v === undefined ? "–" : v < 10 ? v.toFixed(2) + " ms" : Math.round(v) + " ms"; }
function spark(series) {
  const max = Math.max(1, ...series), w = 120, hgt = 22;
  const pts = series.map((v, i) => (i * w / (series.length - 1)).toFixed(1) + "," + (hgt - v / max * hgt).toFixed(1));
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("class", "spark"); svg.setAttribute("width", w); svg.setAttribute("height", hgt);
  const line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
  line.setAttribute("points", pts.join(" ")); line.setAttribute("fill", "none");
  line.setAttribute("stroke", "#0969da"); line.setAttribute("stroke-width", "1.5");
  svg.append(line);
  return svg;
}

let routes = [];
function showRoutes(list) {
  routes = list;
  $("routes").replaceChildren(...list.map((r) => h("tr", {},
    h("td", {}, h("code", {}, r.route)),
    h("td", {}, r.service || h("span", { class: "muted" }, "(answered by the ingress)")),
    h("td", {}, r.origin),
    h("td", {}, Object.keys(r.rules).length ? h("code", {}, JSON.stringify(r.rules)) : ""))));
  $("route-count").textContent = list.length;
}

async function setDrain(service, address, on) {
  const res = await fetch("/api/replicas/" + (on ? "drain" : "undrain"), {
    method: "POST", headers: { ...headers(), "Content-Type": "application/json" },
    body: JSON.stringify({ service, address }),
  });
  if (!res.ok) alert((await res.json().catch(() => ({}))).error || res.statusText);
}

function replicaRow(service, r) {
  return h("tr", { "data-address": r.address, "data-state": r.state },
    h("td", {}, h("code", {}, r.address)),
    h("td", {}, h("span", { class: "pill state-" + r.state }, r.state)),
    h("td", { class: "num" }, String(r.active)),
    h("td", { class: "num" }, String(r.weight === r.effectiveWeight ? r.weight : r.effectiveWeight + " / " + r.weight)),
    h("td", { class: "num" }, String(r.ejections)),
    h("td", {}, r.state === "ejected" ? r.reason + " (back " + until(r.ejectedUntil) + ")" : ""),
    h("td", {}, r.lastError ? [h("span", { class: "error" }, r.lastError), " ", h("span", { class: "muted" }, ago(r.lastErrorAt))] : ""),
    h("td", {}, h("button", { onclick: () => setDrain(service, r.address, !r.drained) }, r.drained ? "undrain" : "drain")));
}

function showServices(services, rates, procs, window) {
  const cards = services.map((s) => {
    const rate = rates[s.name];
    const bad = rate && rate.errorRate > 0;
    const figures = rate ? [
      h("span", { class: "figure" }, "requests ", h("b", {}, rate.rate.toFixed(1) + "/s")),
      h("span", { class: "figure" + (bad ? " bad" : "") }, "errors ", h("b", {}, (rate.errorRate * 100).toFixed(1) + "%")),
      h("span", { class: "figure" }, "p50 ", h("b", {}, ms(rate.p50))),
      h("span", { class: "figure" }, "p99 ", h("b", {}, ms(rate.p99))),
      spark(rate.series),
    ] : [h("span", { class: "muted" }, "no requests in the last minute")];
    const top = h("div", { class: "top" }, h("span", { class: "name" }, s.name),
      h("span", { class: "muted" }, s.replicas.length + " replica" + (s.replicas.length === 1 ? "" : "s")),
      s.panicking ? h("span", { class: "pill state-ejected" }, "panic: routing to all") : null, ...figures);
    const body = s.replicas.length === 0
      ? h("p", { class: "muted", style: "padding: 0 .8em" }, "no replica registered")
      : h("table", {}, h("thead", {}, h("tr", {}, ...["replica", "state", "active", "weight", "ejections", "ejected because", "last error", ""]
        .map((t, i) => h("th", { class: i >= 2 && i <= 4 ? "num" : "" }, t)))),
        h("tbody", {}, ...s.replicas.map((r) => replicaRow(s.name, r))));
    return h("section", { class: "service", "data-service": s.name }, top, body);
  });
  $("services").replaceChildren(...cards);
  const other = rates[""];
  $("unrouted").textContent = other && other.rate > 0 ? "Requests without a route: " + other.rate.toFixed(1) + "/s" : "";
  $("scope").textContent = "rates over the last " + window + " s" +
    (procs > 1 ? ", of the primary process only (1 of " + procs + ")" : "");
}

function apply(state) {
  if (state.routes) showRoutes(state.routes);
  $("generation").textContent = "config generation " + state.generation + " · " + state.registry;
  showServices(state.services, state.rates, state.procs, state.rateSeconds);
}

function login(message) {
  $("app").hidden = true;
  $("login").hidden = false;
  $("login-message").textContent = message;
  $("token").focus();
}

/** Read the event stream; on its end or a failure, try again shortly. */
async function follow() {
  const status = $("status");
  try {
    const res = await fetch("/api/events", { headers: headers(), cache: "no-store" });
    if (res.status === 401) return login(sessionStorage.getItem(TOKEN_KEY) ? "That token was refused." : "This admin listener needs its token.");
    if (!res.ok || !res.body) throw new Error("HTTP " + res.status);
    $("app").hidden = false; $("login").hidden = true;
    status.className = "live"; status.textContent = "live";
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let end;
      while ((end = buffer.indexOf("\\n\\n")) >= 0) {
        const event = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = event.split("\\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\\n");
        if (data) apply(JSON.parse(data));
      }
    }
    throw new Error("the stream ended");
  } catch (e) {
    status.className = "down"; status.textContent = "disconnected (" + e.message + "); retrying";
    setTimeout(follow, 2000);
  }
}

$("login").addEventListener("submit", (e) => {
  e.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, $("token").value.trim());
  $("token").value = "";
  follow();
});
follow();
`;

/**
 * The dashboard page, whole.
 *
 * @example
 * ```ts
 * import { DASHBOARD_HTML } from "./dashboard.ts";
 * DASHBOARD_HTML.startsWith("<!doctype html>"); // true
 * ```
 */
export const DASHBOARD_HTML: string = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Gatehouse</title>
<style>${STYLE}</style>
</head>
<body>
<header><h1>Gatehouse</h1><span id="status">connecting</span><span id="generation" class="muted"></span></header>
<form id="login" hidden>
  <h2>Admin token</h2>
  <p id="login-message"></p>
  <input id="token" type="password" autocomplete="off" placeholder="bearer token" aria-label="admin token">
  <button type="submit">Open the dashboard</button>
  <p class="muted">Kept in this tab only (sessionStorage).</p>
</form>
<main id="app">
  <h2>Services <span id="scope" class="muted"></span></h2>
  <div id="services"></div>
  <p id="unrouted" class="muted"></p>
  <h2>Routes (<span id="route-count">0</span>)</h2>
  <table><thead><tr><th>route</th><th>service</th><th>origin</th><th>rules</th></tr></thead>
  <tbody id="routes"></tbody></table>
</main>
<script>${SCRIPT}</script>
</body>
</html>
`;
