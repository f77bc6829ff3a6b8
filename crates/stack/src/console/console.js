// The airlock console: the stack's topology, its requests as they complete, and each request's
// hops. Plain JavaScript, no library; every text from the stack goes in through textContent.
"use strict";

const params = new URLSearchParams(location.search);
const state = { requests: [], selected: null, lastSeq: -1, filters: { status: "", route: "", task: "" } };

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "onclick") node.addEventListener("click", v);
    // Through the CSSOM: the page's content security policy refuses inline style attributes.
    else if (k === "style") Object.assign(node.style, v);
    else node.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

async function getJSON(path) {
  const resp = await fetch(path, { headers: { accept: "application/json" } });
  if (!resp.ok) throw new Error(path + ": " + resp.status);
  return resp.json();
}

// ---- topology ----

function lane(kind, title, nodes) {
  return el("div", { class: "lane " + kind, "data-lane": kind },
    el("div", { class: "lane-title" }, title), nodes.length ? nodes : el("div", { class: "muted" }, "none"));
}

function arrow() { return el("div", { class: "arrow" }, "→"); }

function healthBadge(s) { return el("span", { class: "health " + s }, s); }

function renderTopology(t) {
  const gateway = [];
  for (const d of t.custom_domains || []) {
    gateway.push(el("div", { class: "node", "data-topology": "custom-domain" },
      el("div", { class: "name" }, d.domain_name),
      el("div", { class: "meta" }, "custom domain"),
      el("ul", {}, (d.mappings || []).map(m => el("li", {}, `/${m.key} → ${m.api} (${m.stage})`)))));
  }
  for (const api of t.apis || []) {
    const host = (t.endpoints && t.endpoints.api_endpoints || {})[api.name];
    gateway.push(el("div", { class: "node", "data-topology": "api" },
      el("div", { class: "name" }, api.name),
      el("div", { class: "meta" }, host || "HTTP API"),
      el("ul", {}, api.routes.map(r => el("li", { "data-topology": "route" },
        `${r.route_key}` + (r.authorization !== "None" ? ` [${r.authorization}${r.scopes.length ? " " + r.scopes.join(" ") : ""}]` : ""))))));
  }
  const links = (t.vpc_links || []).map(l => el("div", { class: "node", "data-topology": "vpc-link" },
    el("div", { class: "name" }, l.name), healthBadge(l.state || "?"),
    el("div", { class: "meta" }, "subnets " + l.subnets.join(", ")),
    el("div", { class: "meta" }, "groups " + l.security_groups.join(", "))));
  const albs = (t.load_balancers || []).map(lb => el("div", { class: "node", "data-topology": "load-balancer" },
    el("div", { class: "name" }, lb.name),
    el("div", { class: "meta" }, lb.scheme.toLowerCase() + " · groups " + lb.security_groups.join(", ")),
    lb.listeners.map(l => el("div", { "data-topology": "listener" },
      el("div", {}, `${l.protocol} :${l.port}`),
      el("ul", {},
        l.rules.map(r => el("li", { "data-topology": "rule" }, `#${r.priority} ${r.conditions.join(" and ")} → ${r.actions.join(", ")}`)),
        el("li", { "data-topology": "rule" }, "default → " + l.default_actions.join(", ")))))));
  const groups = (t.target_groups || []).map(g => el("div", { class: "node", "data-topology": "target-group", "data-name": g.name },
    el("div", { class: "name" }, g.name),
    el("ul", {}, g.targets.map(x => el("li", { "data-topology": "target" }, x.target + " ", healthBadge(x.state))))));
  const tasks = [];
  for (const svc of t.tasks || []) {
    tasks.push(el("div", { class: "node", "data-topology": "service" },
      el("div", { class: "name" }, svc.service_name),
      el("div", { class: "meta" }, `desired ${svc.desired_count}`),
      el("ul", {}, svc.tasks.map(k => el("li", { "data-topology": "task" },
        `${k.private_ip || "-"} `, healthBadge(k.last_status), " ", k.task_id.slice(0, 8))))));
  }
  document.getElementById("topology").replaceChildren(
    lane("gateway", "API Gateway", gateway), arrow(),
    lane("vpc-link", "VPC link", links), arrow(),
    lane("alb", "Load balancer", albs), arrow(),
    lane("task", "Target groups", groups), arrow(),
    lane("task", "ECS tasks", tasks));

  document.getElementById("security-groups").replaceChildren(el("h3", {}, "Security groups"),
    ...(t.security_groups || []).map(g => el("div", { "data-topology": "security-group" },
      el("b", {}, g.name), " ", el("span", { class: "muted" }, g.description || ""),
      el("pre", {}, "in:  " + (g.ingress.join(", ") || "nothing") + (g.egress ? "\nout: " + (g.egress.join(", ") || "nothing") : "")))));
  const zones = (list) => (list || []).map(z => el("div", {},
    el("b", {}, z.zone), el("pre", {}, z.records.map(r => `${r.name} ${r.type} ${r.values.join(" ")}`).join("\n"))));
  document.getElementById("dns").replaceChildren(el("h3", {}, "DNS views"),
    el("div", { "data-topology": "dns-public" }, el("i", {}, "public view"), zones(t.dns && t.dns.public_view)),
    el("div", { "data-topology": "dns-vpc" }, el("i", {}, "VPC view (private zones)"), zones(t.dns && t.dns.vpc_view_private_zones)));
}

// ---- requests ----

function statusClass(s) { return s ? "s" + String(s)[0] : ""; }

function passes(r) {
  const f = state.filters;
  if (f.status) {
    const s = String(r.status || "");
    if (f.status.endsWith("xx") ? !s.startsWith(f.status[0]) : s !== f.status) return false;
  }
  if (f.route && !(r.route || "").includes(f.route)) return false;
  if (f.task && !(r.task || "").includes(f.task)) return false;
  return true;
}

function addRequests(list, fresh) {
  for (const r of list) {
    // A request seen again (by a poll after the stream, say) keeps its row, with the newer
    // summary.
    const seen = state.requests.findIndex(x => x.seq === r.seq);
    r.fresh = fresh;
    r.arrived = seen >= 0 ? state.requests[seen].arrived : fresh ? "live" : "loaded";
    if (seen >= 0) { state.requests[seen] = r; continue; }
    state.requests.unshift(r);
    state.lastSeq = Math.max(state.lastSeq, r.seq);
  }
  state.requests.sort((a, b) => b.seq - a.seq);
  state.requests.length = Math.min(state.requests.length, 500);
  renderRequests();
  if (fresh && list.length && (!state.selected || params.has("follow"))) select(state.requests[0].id);
}

function renderRequests() {
  const rows = state.requests.filter(passes).map(r => {
    const tr = el("tr", { "data-request": r.id, "data-arrived": r.arrived, class: (r.id === state.selected ? "selected " : "") + (r.fresh ? "fresh" : ""), onclick: () => select(r.id) },
      el("td", {}, new Date(r.started_ms).toLocaleTimeString()),
      el("td", {}, r.method || ""),
      el("td", { title: r.path }, r.path || ""),
      el("td", { class: statusClass(r.status) }, r.status ?? ""),
      el("td", {}, r.route || ""),
      el("td", {}, r.task || ""),
      el("td", {}, r.produced_by),
      el("td", {}, r.duration_ms.toFixed(1)));
    r.fresh = false;
    return tr;
  });
  document.querySelector("#requests tbody").replaceChildren(...rows);
}

async function select(id) {
  state.selected = id;
  renderRequests();
  try { renderTrace(await getJSON("/requests/" + encodeURIComponent(id))); }
  catch (e) { document.getElementById("waterfall").replaceChildren(el("p", { class: "muted" }, String(e))); }
}

const BAD = /refused|denied|dropped|failed|timed out|none|no match|cut short|error page/;

function fieldText(v) { return typeof v === "string" ? v : JSON.stringify(v); }

function renderTrace(t) {
  document.getElementById("trace-title").textContent = `${t.method} ${t.path} → ${t.status} (${t.produced_by})`;
  const total = Math.max(t.duration_ms, ...t.hops.map(h => h.at_ms + (h.took_ms || 0)), 0.001);
  const hops = t.hops.map(h => el("div", { class: "hop " + h.component, "data-hop": h.component + ":" + h.step },
    el("div", { class: "comp" }, h.component),
    el("div", {}, el("div", { class: "step" }, h.step),
      el("div", { class: "outcome" + (BAD.test(h.outcome) ? " bad" : "") }, h.outcome)),
    el("div", { class: "fields" }, Object.entries(h.fields).map(([k, v]) => el("div", {}, el("b", {}, k + ": "), fieldText(v)))),
    el("div", { title: `+${h.at_ms.toFixed(2)} ms` + (h.took_ms != null ? `, took ${h.took_ms.toFixed(2)} ms` : "") },
      el("div", { class: "bar" }, el("span", { style: { left: `${(100 * h.at_ms / total).toFixed(2)}%`, width: `${(100 * (h.took_ms || 0) / total).toFixed(2)}%` } })),
      el("div", { class: "muted" }, `+${h.at_ms.toFixed(2)} ms` + (h.took_ms != null ? ` · ${h.took_ms.toFixed(2)} ms` : "")))));
  document.getElementById("waterfall").replaceChildren(
    el("div", { class: "summary" },
      el("div", {}, el("b", {}, "request id "), t.request_id || "— (entered at the ALB)"),
      el("div", {}, el("b", {}, "trace id "), t.alb_trace_id || t.trace_id || "—"),
      el("div", {}, el("b", {}, "status "), el("span", { class: statusClass(t.status) }, t.status), ` from the ${t.produced_by} · ${t.duration_ms.toFixed(2)} ms`)),
    ...hops);
}

// ---- live ----

function logEvent(text) {
  const list = document.getElementById("events");
  list.prepend(el("li", {}, el("time", {}, new Date().toLocaleTimeString()), text));
  while (list.children.length > 100) list.lastChild.remove();
}

function setLive(on, text) {
  const live = document.getElementById("live");
  live.className = "live " + (on ? "on" : "off");
  live.textContent = text;
}

let topologyTimer = null;
function refreshTopologySoon() {
  clearTimeout(topologyTimer);
  topologyTimer = setTimeout(() => getJSON("/topology").then(renderTopology).catch(() => {}), 300);
}

function subscribe() {
  const source = new EventSource("/events");
  source.addEventListener("open", () => setLive(true, "live"));
  source.addEventListener("error", () => setLive(false, "reconnecting…"));
  source.addEventListener("request", e => addRequests([JSON.parse(e.data)], true));
  source.addEventListener("health", e => {
    const g = JSON.parse(e.data);
    logEvent(`target group ${g.group}: ` + g.targets.map(t => `${t.target} ${t.state}${t.reason ? " (" + t.reason + ")" : ""}`).join(", "));
    refreshTopologySoon();
  });
  source.addEventListener("tasks", e => {
    const s = JSON.parse(e.data);
    logEvent("tasks: " + s.services.map(v => `${v.service_name} ` + v.tasks.map(t => t.last_status).join("/")).join("; "));
    refreshTopologySoon();
  });
}

// A long poll instead of the event stream (`?transport=poll`): for clients that cannot keep a
// stream open, such as a headless browser that waits for the page to go quiet.
async function poll() {
  const wait = params.get("wait") || "10";
  setLive(true, "polling");
  for (;;) {
    try {
      const got = await getJSON(`/requests?after=${state.lastSeq}&wait=${wait}`);
      addRequests(got.requests.slice().reverse(), true);
    } catch (e) {
      setLive(false, "retrying…");
      await new Promise(r => setTimeout(r, 1000));
    }
    // A pause between polls: a headless browser's virtual clock advances only then.
    await new Promise(r => setTimeout(r, 1000));
  }
}

for (const k of ["status", "route", "task"]) {
  document.getElementById("f-" + k).addEventListener("input", e => { state.filters[k] = e.target.value.trim(); renderRequests(); });
}

async function start() {
  try { renderTopology(await getJSON("/topology")); }
  catch (e) { document.getElementById("topology").replaceChildren(el("p", { class: "muted" }, String(e))); }
  try {
    const got = await getJSON("/requests?limit=200");
    document.getElementById("kept").textContent = `(the newest ${got.capacity} are kept)`;
    addRequests(got.requests.slice().reverse(), false);
    if (state.requests.length) select(state.requests[0].id);
  } catch (e) { logEvent(String(e)); }
  const transport = params.get("transport");
  if (transport === "poll") poll();
  else if (transport !== "none") subscribe();
}

start();
