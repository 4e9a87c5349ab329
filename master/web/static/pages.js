// The console's pages. Each takes the route ({parts, q}) and the session ({change, startStop, go}) and
// returns {title, node, live(event, data), close()}: the app puts node in <main>, sends it the
// live stream's events and calls close when the page is left.

import {api, qs, sse, APIError, newIdempotencyKey} from "./api.js";
import {html, raw, $, $$, ago, when, localTime, zone, duration, sortHeader, pager, announce, confirmAction, showOnce,
  debounce, outcomeNames, outcomeKeys, runStatusNames} from "./ui.js";

const enc = encodeURIComponent;
const jobHref = (name) => `#/jobs/${enc(name)}`;
const targetHref = (name) => `#/targets/${enc(name)}`;
const runHref = (job, run, server) => `#/jobs/${enc(job)}/runs/${enc(run)}?server=${enc(server)}`;
const canChange = (s) => s.change;
const canStartStop = (s) => s.startStop;

function mount(markup) {
  const el = document.createElement("div");
  el.innerHTML = String(markup);
  return el;
}

// link keeps the route's query with some values changed (for filters, sorting and paging).
function linkWith(route, changes) {
  const q = new URLSearchParams(route.q);
  for (const [k, v] of Object.entries(changes)) {
    if (v === "" || v == null) q.delete(k); else q.set(k, v);
  }
  const s = q.toString();
  return "#/" + route.parts.map(enc).join("/") + (s ? "?" + s : "");
}

// filterForm wires a form whose named fields become the route's query on submit.
function filterForm(el, route, session) {
  const form = $("form.filters", el);
  if (!form) return;
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const changes = {offset: "", soffset: ""};
    for (const f of form.elements) if (f.name) changes[f.name] = f.value.trim();
    session.go(linkWith(route, changes));
  });
}

// sortable wires the sort buttons: a click sorts by that column, a second one reverses it.
function sortable(el, route, session, byDefault) {
  for (const b of $$("button.sort", el)) {
    b.addEventListener("click", () => {
      const key = b.dataset.sort;
      const desc = (route.q.get("sort") || byDefault) === key && route.q.get("desc") !== "true";
      session.go(linkWith(route, {sort: key, desc: desc ? "true" : "", offset: ""}));
    });
  }
}

// act confirms an action, calls the API and reports; after is called on success.
async function act(spec, call, after) {
  const vals = await confirmAction(spec);
  if (!vals) { announce("Cancelled: nothing was changed."); return; }
  try {
    const res = await call(vals);
    announce(spec.done ? spec.done(res, vals) : spec.title + ": done.");
    if (after) after(res);
  } catch (e) {
    announce(spec.title + " failed: " + e.message, true);
  }
}

function postedSummary(posted) {
  if (!Array.isArray(posted) || !posted.length) return "nothing to post";
  const by = {};
  for (const p of posted) (by[p.operation] ||= []).push(p.target_server);
  return Object.entries(by).map(([op, s]) => `${op} posted to ${[...new Set(s)].join(", ")}`).join("; ");
}

function outcomeCell(o, label) {
  return html`<span class="o o${o}">${outcomeNames[o] ?? "unknown"}</span>${label ? html`<span class="sr-only"> ${label}</span>` : ""}`;
}

function countsBar(o) {
  if (!o) return "";
  const parts = outcomeKeys.map((k, i) => [i, o[k] || 0]).filter(([, n]) => n > 0);
  const text = parts.map(([i, n]) => `${n} ${outcomeNames[i]}`).join(", ") || "no targets";
  return html`<div class="bar" role="img" aria-label="${text}" title="${text}">${parts.map(([i, n]) =>
    html`<span class="o${i}" style="flex-grow:${n}">${n}</span>`)}</div>`;
}

// ---- Target actions, shared by the fleet and a target's page ----

function targetActions(session, servers, after) {
  const where = servers.join(", ");
  const list = {servers};
  return {
    setpoll: () => act({title: "Set poll interval", what: "Posts SET POLLING with the new interval to each target; each uses it from its next poll.", where,
      fields: [{name: "seconds", label: "Poll interval (seconds, 10 to 28800)", type: "number", value: 60, min: 10, max: 28800, required: true}], ok: "Set poll interval",
      done: (r) => postedSummary(r)}, (v) => api("/api/v1/targetservers/actions/setpoll", {body: {...list, seconds: Number(v.seconds)}}), after),
    synctime: () => act({title: "Synchronise time", what: "Posts SYNC TIME: each target reports its clock and zone again.", where, ok: "Sync time", done: postedSummary},
      () => api("/api/v1/targetservers/actions/synctime", {body: list}), after),
    resync: () => act({title: "Resync", what: "Posts every job again to each target (DELETE then INSERT of each), as sp_resync_targetserver does.", where, ok: "Resync", done: postedSummary},
      () => api("/api/v1/targetservers/actions/resync", {body: list}), after),
    clear: () => act({title: "Clear download errors", what: "Clears the error of every failed instruction of these targets; status flag 4 (blocked) goes from those left without one.", where, ok: "Clear errors",
      done: (r, v) => `${r.cleared.length} error(s) cleared`},
    async () => { let all = {cleared: []}; for (const s of servers) { const r = await api("/api/v1/downloadlist/clear", {body: {server: s}}); all.cleared.push(...r.cleared); } return all; }, after),
    defect: () => act({title: "Defect", what: "Deletes each target from this master and posts DEFECT to it: the agent removes its multiserver jobs and stops polling.", where, ok: "Defect", danger: true,
      done: () => "defected: " + where}, async () => { for (const s of servers) await api(`/api/v1/targetservers/${enc(s)}`, {method: "DELETE"}); }, after),
    delete: () => act({title: "Delete without defecting", what: "Deletes each target's records from this master only; nothing is posted (for an agent that is gone for good).", where, ok: "Delete", danger: true,
      done: () => "deleted: " + where}, async () => { for (const s of servers) await api(`/api/v1/targetservers/${enc(s)}?no_post_defection=true`, {method: "DELETE"}); }, after),
  };
}

function targetButtons(session) {
  if (!canChange(session)) return "";
  return html`<div class="actions" role="group" aria-label="target actions">
    <button type="button" data-act="setpoll">Set poll…</button><button type="button" data-act="synctime">Sync time…</button>
    <button type="button" data-act="resync">Resync…</button><button type="button" data-act="clear">Clear errors…</button>
    <button type="button" data-act="defect" class="danger">Defect…</button><button type="button" data-act="delete" class="danger">Delete…</button></div>`;
}

function createTokenAction(after) {
  return act({title: "Create an enlistment token", what: "Creates a one-time token a new target enlists with (msx target --token). It is shown once.",
    fields: [{name: "server", label: "Only for server (optional)"}, {name: "ttl", label: "Valid for", value: "24h"}], ok: "Create token",
    done: () => "enlistment token created"},
  (v) => api("/api/v1/tokens", {body: {role: "enlist", ttl: v.ttl, server: v.server || undefined, description: "created in the console"}}),
  (r) => {
    showOnce(html`<form method="dialog" class="confirm"><h2 id="confirm-title">Enlistment token ${r.id}</h2>
      <p>Copy it now: it is not shown again. On the new target run <code>msx target --name NAME --token TOKEN${r.nats_url ? " --nats " + r.nats_url : ""}</code>.</p>
      <p><label>Token <input id="enlist-token" readonly value="${r.token}" size="60"></label></p>
      <div class="buttons"><button value="ok" class="primary">Done</button></div></form>`);
    $("#enlist-token").select();
    if (after) after();
  });
}

// ---- Fleet ----

export async function fleet(route, session) {
  const q = route.q;
  const params = {q: q.get("q"), status: q.get("status"), group: q.get("group"), sort: q.get("sort"), desc: q.get("desc"), offset: q.get("offset"), limit: q.get("limit")};
  const el = mount("");
  const selected = new Set();
  let data;
  const draw = () => {
    const d = data, sort = q.get("sort") || "name", desc = q.get("desc") === "true";
    el.innerHTML = String(html`<h1 tabindex="-1">Fleet <small>master ${d.master}</small></h1>
    <section aria-labelledby="overview-h" class="overview"><h2 id="overview-h" class="sr-only">Overview</h2>
      ${countsList(d, route)}
      <canvas id="strip" height="16" width="800" role="img" aria-label="heat strip of ${d.total} targets by server id: ${d.normal} normal, ${d.suspected_offline} suspected offline, ${d.blocked} blocked, ${d.disk_full} disk full"></canvas>
      ${d.groups.length ? html`<table class="compact"><caption>Groups</caption><thead><tr><th scope="col">Group</th><th scope="col">Members</th><th scope="col">Not normal</th></tr></thead>
        <tbody>${d.groups.map((g) => html`<tr><th scope="row"><a href="${linkWith(route, {group: g.name, offset: ""})}">${g.name}</a></th><td>${g.members}</td><td>${g.problems}</td></tr>`)}</tbody></table>` : ""}
    </section>
    <form class="filters" role="search" aria-label="filter targets">
      <label>Search <input name="q" type="search" value="${q.get("q") || ""}" placeholder="name, location, version, group"></label>
      <label>Status <select name="status">${[["", "any"], ["normal", "normal"], ["problem", "not normal"], ["suspected_offline", "suspected offline"], ["blocked", "blocked"], ["disk_full", "disk full"]].map(([v, l]) =>
        html`<option value="${v}"${v === (q.get("status") || "") ? raw(" selected") : ""}>${l}</option>`)}</select></label>
      <label>Group <select name="group"><option value="">any</option>${d.groups.map((g) => html`<option${g.name === q.get("group") ? raw(" selected") : ""}>${g.name}</option>`)}</select></label>
      <button>Filter</button></form>
    ${canChange(session) ? html`<div class="actions" role="group" aria-label="fleet actions"><span id="sel-count">${selected.size} selected</span>
      <button type="button" data-act="setpoll" disabled>Set poll…</button><button type="button" data-act="synctime" disabled>Sync time…</button>
      <button type="button" data-act="resync" disabled>Resync…</button><button type="button" data-act="clear" disabled>Clear errors…</button>
      <button type="button" data-act="defect" class="danger" disabled>Defect…</button><button type="button" data-act="delete" class="danger" disabled>Delete…</button>
      <button type="button" id="new-token">Create enlistment token…</button></div>` : ""}
    <table id="fleet" class="data"><caption>Targets (${d.matched} of ${d.total})</caption><thead><tr>
      ${canChange(session) ? html`<th scope="col"><span class="sr-only">select</span></th>` : ""}
      ${sortHeader("Server", "name", sort, desc)}${sortHeader("Status", "status", sort, desc)}${sortHeader("Local time", "zone", sort, desc)}
      ${sortHeader("Poll", "poll", sort, desc)}${sortHeader("Last heartbeat", "heartbeat", sort, desc)}${sortHeader("Unread", "unread", sort, desc)}
      ${sortHeader("Errors", "errors", sort, desc)}<th scope="col">Disk</th>${sortHeader("Version", "version", sort, desc)}<th scope="col">Groups</th>${sortHeader("Jobs", "jobs", sort, desc)}
    </tr></thead><tbody>${d.rows.map((t) => fleetRow(t, session, selected))}</tbody></table>
    ${pager(d.matched, d.offset, d.limit, (o) => linkWith(route, {offset: o}), "targets")}`);
    drawStrip($("#strip", el), d.strip);
    filterForm(el, route, session);
    sortable(el, route, session, "name");
    wire();
  };
  const count = () => {
    const s = $("#sel-count", el);
    if (s) s.textContent = selected.size + " selected";
    for (const b of $$(".actions [data-act]", el)) b.disabled = selected.size === 0;
  };
  // wire connects what a draw made: the buttons once per draw, each row's checkbox once.
  const wire = () => {
    for (const b of $$(".actions [data-act]", el)) {
      b.addEventListener("click", () => targetActions(session, [...selected], () => { selected.clear(); reload(); })[b.dataset.act]());
    }
    $("#new-token", el)?.addEventListener("click", () => createTokenAction());
    wireRows();
  };
  const wireRows = () => {
    for (const cb of $$("input[data-select]:not([data-wired])", el)) {
      cb.dataset.wired = "1";
      cb.addEventListener("change", () => { if (cb.checked) selected.add(cb.dataset.select); else selected.delete(cb.dataset.select); count(); });
    }
    count();
  };
  const load = async () => { data = await api("/api/v1/console/fleet" + qs(params)); };
  const reload = debounce(async () => { try { await load(); draw(); } catch (e) { announce(e.message, true); } }, 300);
  await load();
  draw();
  const refreshSoon = debounce(async () => {
    try {
      await load();
      const tb = $("#fleet tbody", el);
      const focused = document.activeElement && tb.contains(document.activeElement);
      if (focused) return; // keep the keyboard user's place; the next change redraws
      tb.innerHTML = String(html`${data.rows.map((t) => fleetRow(t, session, selected))}`);
      $("#counts", el).outerHTML = String(countsList(data, route));
      drawStrip($("#strip", el), data.strip);
      wireRows();
    } catch { /* the next change retries */ }
  }, 1500);
  return {title: "Fleet", node: el,
    live(ev, d) {
      if (ev !== "target") return;
      const row = $(`tr[data-server="${CSS.escape(d.server_name)}"]`, el);
      if (row && !d.deleted) row.outerHTML = String(fleetRow(d, session, selected));
      if (row) wireRows();
      refreshSoon();
    }};
}

function countsList(d, route) {
  const item = (cls, status, n, label) => html`<li class="${cls}"><a href="${linkWith(route, {status, offset: ""})}"><b>${n}</b> ${label}</a></li>`;
  return html`<ul class="counts" id="counts">${item("", "", d.total, "targets")}${item("st-n", "normal", d.normal, "normal")}
    ${item("st-o", "suspected_offline", d.suspected_offline, "suspected offline")}${item("st-b", "blocked", d.blocked, "blocked")}${item("st-d", "disk_full", d.disk_full, "disk full")}</ul>`;
}

function fleetRow(t, session, selected) {
  const disk = t.disk ? t.disk.state + (t.disk.held_reports ? ` (${t.disk.held_reports} held)` : "") : "—";
  return html`<tr data-server="${t.server_name}" class="st${t.status}">
    ${canChange(session) ? html`<td><input type="checkbox" data-select="${t.server_name}" aria-label="select ${t.server_name}"${selected.has(t.server_name) ? raw(" checked") : ""}></td>` : ""}
    <th scope="row"><a href="${targetHref(t.server_name)}">${t.server_name}</a></th>
    <td><span class="status s${t.status}">${t.status_text}</span></td>
    <td>${localTime(t.time_zone_adjustment)} <small>${t.zone}</small></td>
    <td>${t.poll_interval} s</td><td>${t.last_poll_date ? html`<span title="${t.last_poll_date}">${ago(t.last_poll_date)}</span>` : "never"}</td>
    <td>${t.unread_instructions}</td><td>${t.download_errors ? html`<a href="#/downloadlist?server=${enc(t.server_name)}&status=error">${t.download_errors}</a>` : "0"}</td>
    <td>${disk}</td><td>${t.version}</td><td>${(t.groups || []).join(", ")}</td><td>${t.jobs}</td></tr>`;
}

const stripColors = {n: "--ok", o: "--offline", b: "--bad", d: "--warn"};
function drawStrip(canvas, strip) {
  if (!canvas) return;
  const w = canvas.clientWidth || 800;
  canvas.width = w;
  const ctx = canvas.getContext("2d");
  const cs = getComputedStyle(document.documentElement);
  const n = strip.length || 1, cw = w / n;
  for (let i = 0; i < strip.length; i++) {
    ctx.fillStyle = cs.getPropertyValue(stripColors[strip[i]] || "--ok");
    ctx.fillRect(Math.floor(i * cw), 0, Math.max(1, Math.ceil(cw)), 16);
  }
}

// ---- A target ----

export async function target(route, session) {
  const name = route.parts[1];
  const el = mount("");
  const offset = route.q.get("offset") || "";
  const load = () => Promise.all([
    api(`/api/v1/targetservers/${enc(name)}`),
    api(`/api/v1/console/targets/${enc(name)}/jobs` + qs({offset})),
    api("/api/v1/console/downloadlist" + qs({server: name, limit: 20})),
    api("/api/v1/events" + qs({server: name, limit: 20})),
  ]);
  const draw = ([t, jobs, dl, evs]) => {
    el.innerHTML = String(html`<h1 tabindex="-1">Target ${t.server_name}</h1>
    <nav aria-label="breadcrumb" class="crumbs"><a href="#/fleet">Fleet</a> › ${t.server_name}</nav>
    ${targetButtons(session)}
    <dl class="facts">
      <dt>Status</dt><dd><span class="status s${t.status}">${statusWords(t.status)}</span> (flags ${t.status})</dd>
      <dt>Local time</dt><dd>${localTime(t.time_zone_adjustment)} (${zone(t.time_zone_adjustment)})</dd>
      <dt>Poll interval</dt><dd>${t.poll_interval} s</dd><dt>Last heartbeat</dt><dd>${ago(t.last_poll_date)}</dd>
      <dt>Unread instructions</dt><dd>${t.unread_instructions}</dd><dt>Download errors</dt><dd>${t.download_errors}</dd>
      <dt>Disk</dt><dd>${t.disk ? t.disk.state : "not reported"}</dd><dt>Version</dt><dd>${t.version}</dd>
      <dt>Location</dt><dd>${t.location}</dd><dt>Groups</dt><dd>${(t.groups || []).join(", ") || "none"}</dd>
      <dt>Enlisted</dt><dd>${when(t.enlist_date)} by ${t.enlisted_by}</dd><dt>Connected</dt><dd>${t.connected ? "yes" : "no"}</dd>
    </dl>
    <table class="data" id="target-jobs"><caption>Jobs on ${t.server_name} (${jobs.matched})</caption>
      <thead><tr><th scope="col">Job</th><th scope="col">Last outcome</th><th scope="col">Message</th><th scope="col">Last run</th><th scope="col">Runs</th><th scope="col">Failures</th></tr></thead>
      <tbody>${jobs.jobs.map((j) => html`<tr data-job="${j.job_name}"><th scope="row"><a href="${jobHref(j.job_name)}">${j.job_name}</a></th>
        <td>${j.last_run_id ? html`<a href="${runHref(j.job_name, j.last_run_id, t.server_name)}" class="run-link">${outcomeCell(j.last_run_outcome)}<span class="sr-only"> run of ${j.job_name}</span></a>` : outcomeCell(j.last_run_outcome)}</td>
        <td class="msg">${j.last_outcome_message}</td><td>${when(j.started)}</td><td>${j.runs}</td><td>${j.failures}</td></tr>`)}</tbody></table>
    ${pager(jobs.matched, jobs.offset, jobs.limit, (o) => linkWith(route, {offset: o}), "jobs")}
    <h2>Download list <small><a href="#/downloadlist?server=${enc(t.server_name)}">all of it</a></small></h2>
    ${downloadTable(dl.rows, session, reload)}
    <h2>Events</h2>${eventsTable(evs)}`);
    const acts = targetActions(session, [t.server_name], (r) => reload());
    for (const b of $$(".actions [data-act]", el)) b.addEventListener("click", () => acts[b.dataset.act]());
    wireClear(el, reload);
  };
  const reload = debounce(async () => {
    try { draw(await load()); } catch (e) {
      if (e instanceof APIError && e.status === 404) { session.go("#/fleet"); return; } // defected or deleted
      announce(e.message, true);
    }
  }, 300);
  draw(await load());
  return {title: "Target " + name, node: el,
    live(ev, d) {
      if ((ev === "target" && d.server_name === name) || (ev === "run" && d.server === name) || (ev === "event" && d.server === name) || (ev === "downloadlist" && d.server === name)) reload();
    }};
}

function statusWords(s) {
  const w = [];
  if (s & 2) w.push("suspected offline");
  if (s & 4) w.push("blocked");
  if (s & 8) w.push("disk full");
  return w.join(", ") || "normal";
}

function downloadTable(rows, session, after) {
  if (!rows.length) return html`<p>No instructions.</p>`;
  return html`<table class="data downloadlist"><caption class="sr-only">Download list</caption><thead><tr><th scope="col">Instance</th><th scope="col">Server</th><th scope="col">Operation</th><th scope="col">Object</th>
    <th scope="col">Posted</th><th scope="col">Downloaded</th><th scope="col">Error</th>${canChange(session) ? html`<th scope="col"><span class="sr-only">action</span></th>` : ""}</tr></thead>
    <tbody>${rows.map((r) => html`<tr><td>${r.instance_id}</td><td><a href="${targetHref(r.target_server)}">${r.target_server}</a></td><td>${r.operation_name}</td>
      <td>${r.object_type === "JOB" && r.object_name ? html`<a href="${jobHref(r.object_name)}">${r.object_name}</a>` : r.object_name}${r.version ? ` v${r.version}` : ""}</td>
      <td>${when(r.date_posted)}</td><td>${r.status ? when(r.date_downloaded) : "not yet"}</td>
      <td class="${r.error_message && !r.error_cleared ? "error" : ""}">${r.error_message ? `${r.error_message} (${r.error_code})${r.error_cleared ? " — cleared" : ""}` : ""}</td>
      ${canChange(session) ? html`<td>${r.error_message && !r.error_cleared ? html`<button type="button" data-clear="${r.instance_id}" data-server="${r.target_server}">Clear…</button>` : ""}</td>` : ""}</tr>`)}</tbody></table>`;
}

function wireClear(el, after) {
  for (const b of $$("button[data-clear]", el)) {
    b.addEventListener("click", () => act({title: "Clear error", what: `Clears the error of instruction ${b.dataset.clear}; the target is no longer blocked by it.`, where: b.dataset.server, ok: "Clear error"},
      () => api(`/api/v1/downloadlist/${b.dataset.clear}/clear`, {method: "POST"}), after));
  }
}

function eventsTable(evs) {
  if (!evs.length) return html`<p>No events.</p>`;
  return html`<table class="data events"><caption class="sr-only">Events</caption><thead><tr><th scope="col">Time</th><th scope="col">Server</th><th scope="col">Severity</th><th scope="col">Message</th></tr></thead>
    <tbody>${evs.slice().reverse().map(eventRow)}</tbody></table>`;
}
const eventRow = (e) => html`<tr class="sev${e.severity}"><td>${when(e.time)}</td><td><a href="${targetHref(e.server)}">${e.server}</a></td><td>${e.severity}</td><td>${e.message}</td></tr>`;

// ---- Jobs: the job × target grid ----

export async function jobsPage(route, session) {
  const q = route.q;
  const params = {job: q.get("job"), category: q.get("category"), outcome: q.get("outcome"), group: q.get("group"), server: q.get("server"),
    offset: q.get("offset"), soffset: q.get("soffset")};
  const el = mount("");
  const load = () => api("/api/v1/console/grid" + qs(params));
  const [groups, first] = await Promise.all([api("/api/v1/groups"), load()]);
  const draw = (g) => {
    el.innerHTML = String(html`<h1 tabindex="-1">Jobs</h1>
    <form class="filters" role="search" aria-label="filter jobs">
      <label>Job <input name="job" type="search" value="${q.get("job") || ""}"></label>
      <label>Outcome <select name="outcome"><option value="">any</option>${outcomeKeys.map((k, i) => html`<option value="${k}"${k === q.get("outcome") ? raw(" selected") : ""}>${outcomeNames[i]}</option>`)}</select></label>
      <label>Category <select name="category"><option value="">any</option>${g.categories.map((c) => html`<option${c === q.get("category") ? raw(" selected") : ""}>${c}</option>`)}</select></label>
      <label>Group <select name="group"><option value="">any</option>${groups.map((x) => html`<option${x.name === q.get("group") ? raw(" selected") : ""}>${x.name}</option>`)}</select></label>
      <label>Server <input name="server" type="search" value="${q.get("server") || ""}"></label>
      <button>Filter</button></form>
    <div class="scroll"><table id="grid" class="data grid"><caption>Last outcome of each job on each target (${g.matched_jobs} jobs × ${g.matched_servers} servers)</caption>
      <thead><tr><th scope="col">Job</th><th scope="col">Targets by last outcome</th>${g.servers.map((s) => html`<th scope="col" class="server"><a href="${targetHref(s)}">${s}</a></th>`)}</tr></thead>
      <tbody>${g.jobs.map((j) => html`<tr data-job="${j.name}"><th scope="row"><a href="${jobHref(j.name)}">${j.name}</a>${j.enabled ? "" : html` <small>(disabled)</small>`}</th>
        <td>${countsBar(j.outcomes)}</td>
        ${[...j.cells].map((c, i) => c === "-" ? html`<td class="none"><span class="sr-only">not targeted</span></td>`
          : html`<td><a class="cell o${c}" data-server="${g.servers[i]}" href="${runHref(j.name, "last", g.servers[i])}" title="${g.servers[i]}: ${outcomeNames[c]}"><span class="sr-only">${g.servers[i]}: ${outcomeNames[c]}</span></a></td>`)}</tr>`)}</tbody></table></div>
    ${pager(g.matched_jobs, g.offset, g.limit, (o) => linkWith(route, {offset: o}), "jobs")}
    ${pager(g.matched_servers, g.server_offset, g.server_limit, (o) => linkWith(route, {soffset: o}), "servers")}`);
    filterForm(el, route, session);
  };
  draw(first);
  const reload = debounce(async () => { if (el.contains(document.activeElement) && document.activeElement.tagName !== "A") return; try { draw(await load()); } catch { /* retried on the next change */ } }, 1000);
  return {title: "Jobs", node: el, live(ev) { if (ev === "job" || ev === "run") reload(); }};
}

// ---- A job ----

export async function job(route, session) {
  const name = route.parts[1];
  const el = mount("");
  const params = {outcome: route.q.get("outcome"), offset: route.q.get("offset")};
  const load = () => Promise.all([api(`/api/v1/console/jobs/${enc(name)}` + qs(params)), api(`/api/v1/console/jobs/${enc(name)}/runs?limit=20`),
    api(`/api/v1/console/jobs/${enc(name)}/versions`)]);
  const draw = ([v, runs, versions]) => {
    const j = v.job;
    el.innerHTML = String(html`<h1 tabindex="-1">Job ${j.name}</h1>
    <nav aria-label="breadcrumb" class="crumbs"><a href="#/jobs">Jobs</a> › ${j.name}</nav>
    <div class="actions" role="group" aria-label="job actions">
      ${canStartStop(session) ? html`<button type="button" data-act="start" class="primary">Start…</button><button type="button" data-act="stop">Stop…</button>` : ""}
      ${canChange(session) ? html`<button type="button" data-act="${j.enabled === false ? "enable" : "disable"}">${j.enabled === false ? "Enable…" : "Disable…"}</button>
        <button type="button" data-act="clear">Clear its errors…</button>` : ""}</div>
    <dl class="facts"><dt>Version</dt><dd>${j.version_number}</dd><dt>Enabled</dt><dd>${j.enabled === false ? "no" : "yes"}</dd>
      <dt>Category</dt><dd>${j.category || "—"}</dd><dt>Description</dt><dd>${j.description || "—"}</dd>
      <dt>Targets</dt><dd>${v.targets} (${(j.targets?.servers || []).join(", ")}${j.targets?.groups?.length ? " groups " + j.targets.groups.join(", ") : ""})</dd>
      <dt>Pending instructions</dt><dd>${v.pending}</dd><dt>Download errors</dt><dd>${v.errors}</dd></dl>
    <h2>Last outcome per target</h2>${countsBar(v.outcomes)}
    <table class="data" id="job-servers"><caption>Targets${params.outcome ? " whose last outcome is " + outcomeNames[params.outcome] : ""} (${v.matched})</caption>
      <thead><tr><th scope="col">Server</th><th scope="col">Last outcome</th><th scope="col">Message</th><th scope="col">Started</th><th scope="col">Duration</th><th scope="col">Runs</th><th scope="col">Failures</th></tr></thead>
      <tbody>${v.servers.map((s) => html`<tr data-server="${s.server_name}"><th scope="row"><a href="${targetHref(s.server_name)}">${s.server_name}</a></th>
        <td>${s.last_run_id ? html`<a href="${runHref(j.name, s.last_run_id, s.server_name)}">${outcomeCell(s.last_run_outcome)}</a>` : outcomeCell(s.last_run_outcome)}</td>
        <td class="msg">${s.last_outcome_message}</td><td>${when(s.started)}</td><td>${s.last_run_duration}</td><td>${s.runs}</td><td>${s.failures}</td></tr>`)}</tbody></table>
    <p class="filters-inline">Show: <a href="${linkWith(route, {outcome: "", offset: ""})}">all</a> ${outcomeNames.map((n, i) => html`· <a href="${linkWith(route, {outcome: i, offset: ""})}">${n}</a> `)}</p>
    ${pager(v.matched, v.offset, v.limit, (o) => linkWith(route, {offset: o}), "targets")}
    <h2>Steps</h2><table class="data"><caption class="sr-only">Steps</caption><thead><tr><th scope="col">#</th><th scope="col">Name</th><th scope="col">Subsystem</th><th scope="col">On success</th><th scope="col">On failure</th><th scope="col">Retries</th></tr></thead>
      <tbody>${(j.steps || []).map((s, i) => html`<tr><td>${s.step_id || i + 1}</td><th scope="row">${s.step_name}</th><td>${s.subsystem || "TSQL"}</td><td>${s.on_success_action || 1}</td><td>${s.on_fail_action || 2}</td><td>${s.retry_attempts || 0}</td></tr>`)}</tbody></table>
    <h2>Schedules</h2>${v.schedules.length ? v.schedules.map((s) => html`<section class="schedule"><h3>${s.name} ${s.enabled ? "" : "(disabled)"}</h3><p>${s.description}</p>
      <table class="data"><caption class="sr-only">Next runs of ${s.name} by zone</caption><thead><tr><th scope="col">Zone</th><th scope="col">Targets</th><th scope="col">Next runs (target local time)</th></tr></thead>
      <tbody>${s.by_zone.map((z) => html`<tr><th scope="row">${z.zone}</th><td>${z.servers.join(", ")}${z.count > z.servers.length ? ` and ${z.count - z.servers.length} more` : ""}</td>
        <td>${(z.next_runs || []).map((t) => t.slice(0, 16).replace("T", " ")).join(" · ")}</td></tr>`)}</tbody></table></section>`) : html`<p>No schedules: the job runs when started.</p>`}
    <h2>Runs</h2>${runs.length ? html`<table class="data" id="runs"><caption class="sr-only">Newest runs</caption><thead><tr><th scope="col">Started</th><th scope="col">Server</th><th scope="col">Outcome</th><th scope="col">Duration</th><th scope="col">Steps</th><th scope="col">Message</th></tr></thead>
      <tbody>${runs.map((r) => html`<tr><td><a href="${runHref(j.name, r.run_id, r.server)}">${when(r.run_started)}</a></td><td>${r.server}</td><td>${outcomeCell(r.run_status)}</td><td>${duration(r.duration_ms)}</td><td>${r.steps}</td><td class="msg">${r.message}</td></tr>`)}</tbody></table>` : html`<p>No runs yet.</p>`}
    <h2>Version history</h2>${versions.versions.length ? html`<ol class="versions" reversed>${versions.versions.map((x) => html`<li><p>${when(x.time)} — ${x.who} <code>${x.action}</code></p><ul class="diff">${x.changes.map((c) => html`<li>${c}</li>`)}</ul></li>`)}</ol>`
      : html`<p>No change of this job in the newest audit records.</p>`}
    <details><summary>Definition (JSON)</summary><pre>${JSON.stringify(j, null, 2)}</pre></details>`);
    wireJob(j, v);
  };
  const wireJob = (j) => {
    const all = "every target of the job";
    const serversField = {name: "servers", label: "Only these servers (comma-separated; empty: all targets)"};
    const list = (s) => s.split(",").map((x) => x.trim()).filter(Boolean);
    const acts = {
      // One key per dialog: submitting again after an error or a timeout cannot start twice.
      start: (key = newIdempotencyKey()) => act({title: "Start " + j.name, what: "Posts START: each target runs the job now, from its first step.", where: all, fields: [serversField], ok: "Start job",
        done: (r) => postedSummary(r)}, (v) => api(`/api/v1/jobs/${enc(j.name)}/start` + qs({server: list(v.servers)}), {method: "POST", idempotencyKey: key}), reload),
      stop: (key = newIdempotencyKey()) => act({title: "Stop " + j.name, what: "Posts STOP: each target cancels the running job.", where: all, fields: [serversField], ok: "Stop job", danger: true,
        done: (r) => postedSummary(r)}, (v) => api(`/api/v1/jobs/${enc(j.name)}/stop` + qs({server: list(v.servers)}), {method: "POST", idempotencyKey: key}), reload),
      enable: () => act({title: "Enable " + j.name, what: "Enables the job: its schedules run again; a new version goes to every target.", where: all, ok: "Enable"},
        () => api(`/api/v1/jobs/${enc(j.name)}/enable`, {method: "POST"}), reload),
      disable: () => act({title: "Disable " + j.name, what: "Disables the job: no schedule starts it; a new version goes to every target.", where: all, ok: "Disable", danger: true},
        () => api(`/api/v1/jobs/${enc(j.name)}/disable`, {method: "POST"}), reload),
      clear: () => act({title: "Clear errors of " + j.name, what: "Clears the error of every failed instruction of this job.", where: all, ok: "Clear errors", done: (r) => `${r.cleared.length} error(s) cleared`},
        () => api("/api/v1/downloadlist/clear", {body: {job: j.name}}), reload),
    };
    for (const b of $$(".actions [data-act]", el)) b.addEventListener("click", () => acts[b.dataset.act]());
  };
  const reload = debounce(async () => { if ($("dialog[open]")) return; try { draw(await load()); } catch (e) { announce(e.message, true); } }, 800);
  draw(await load());
  return {title: "Job " + name, node: el, live(ev, d) { if ((ev === "run" && d.job === name) || (ev === "job" && d.name === name)) reload(); }};
}

// ---- A run ----

export async function run(route, session) {
  const [, name, , runID] = route.parts;
  const server = route.q.get("server") || "";
  const el = mount("");
  let ctl = null, live = {}, liveState = "", shown = {};
  const load = () => api(`/api/v1/console/jobs/${enc(name)}/runs/${enc(runID)}` + qs({server}));
  const draw = (r) => {
    shown = r;
    const outcome = r.rows.find((x) => x.step_id === 0);
    const steps = r.rows.filter((x) => x.step_id !== 0);
    el.innerHTML = String(html`<h1 tabindex="-1">Run of ${r.job} on ${r.server}</h1>
    <nav aria-label="breadcrumb" class="crumbs"><a href="#/jobs">Jobs</a> › <a href="${jobHref(r.job)}">${r.job}</a> › <a href="${targetHref(r.server)}">${r.server}</a> › run ${r.run_id}</nav>
    <p id="run-status" class="run-status">${r.running ? html`<span class="o o4">in progress</span>` : outcome ? html`${outcomeCell(outcome.run_status)} — ${outcome.message}` : "no outcome yet"}
      ${outcome ? html` · started ${when(outcome.run_started)} · ${duration(outcome.duration_ms)}` : ""}</p>
    <table class="data" id="steps"><caption>Steps</caption><thead><tr><th scope="col">#</th><th scope="col">Step</th><th scope="col">Status</th><th scope="col">Started</th><th scope="col">Duration</th><th scope="col">Retries</th><th scope="col">Message</th></tr></thead>
      <tbody>${steps.map((s) => html`<tr data-step="${s.step_id}"><td>${s.step_id}</td><th scope="row"><button type="button" class="linklike" data-goto="step-${s.step_id}-${s.instance_id}" aria-label="output of step ${s.step_id}, ${s.step_name}">${s.step_name}</button></th><td>${outcomeCell(s.run_status)}</td><td>${when(s.run_started)}</td>
        <td>${duration(s.duration_ms)}</td><td>${s.retries_attempted}</td><td class="msg">${s.message}${s.sql_message_id ? ` (error ${s.sql_message_id}, severity ${s.sql_severity})` : ""}</td></tr>`)}
        ${r.running && !steps.length ? r.steps.map((s) => html`<tr><td>${s.step_id}</td><th scope="row">${s.step_name}</th><td>waiting for its report</td><td></td><td></td><td></td><td></td></tr>`) : ""}</tbody></table>
    <h2>Output</h2>${steps.map((s) => html`<section class="output"><h3 id="step-${s.step_id}-${s.instance_id}">Step ${s.step_id}: ${s.step_name}${s.retries_attempted ? ` (attempt ${s.retries_attempted + 1})` : ""}</h3>
      <pre tabindex="0" class="step-output" data-step="${s.step_id}">${s.output || "(no output)"}</pre></section>`)}
    ${r.running ? html`<section class="output live" aria-live="polite"><h3>Live output</h3><p id="live-state">${liveState || "connecting…"}</p><div id="live-output"></div></section>` : ""}`);
    for (const b of $$("button[data-goto]", el)) {
      b.addEventListener("click", () => { const h = document.getElementById(b.dataset.goto); h.scrollIntoView(); h.nextElementSibling.focus(); });
    }
    if (r.running) { drawLive(); if (!ctl) follow(); }
  };
  const drawLive = () => {
    const box = $("#live-output", el);
    if (!box) return;
    box.innerHTML = String(html`${Object.entries(live).map(([id, s]) => html`<h4>Step ${id}: ${s.name}</h4><pre tabindex="0" class="live-output" data-step="${id}">${s.text}</pre>`)}`);
    const st = $("#live-state", el);
    if (st) st.textContent = liveState;
  };
  const follow = () => {
    ctl = new AbortController();
    liveState = "following the running step's output…";
    // Events of GET /api/v1/jobs/{name}/output (OutputEvent in the OpenAPI document): "output"
    // chunks numbered by seq in their run, "end" of scope "step" (an attempt) or "run". The
    // stream stays open across runs: only this run's events count (runID "last" is the run the
    // page loaded, shown.run_id).
    let lastSeq = 0;
    sse(`/api/v1/jobs/${enc(name)}/output` + qs({server}), (ev, d) => {
      if (!d || typeof d !== "object" || (shown.run_id && d.run_id && d.run_id !== shown.run_id)) return;
      // run_status, step_id and retry are left out when 0 (failed; the run end; the first attempt).
      const key = (d.step_id ?? 0) + (d.retry ? ` (attempt ${d.retry + 1})` : "");
      if (ev === "output") {
        const s = (live[key] ||= {name: d.step_name || "", text: ""});
        if (lastSeq && d.seq > lastSeq + 1) s.text += `\n[${d.seq - lastSeq - 1} message(s) lost on the bus]\n`;
        if (d.dropped) s.text += `\n[${d.dropped} bytes of output dropped by the target's limits]\n`;
        if (d.missed) s.text += `\n[${d.missed} message(s) this master could not relay]\n`;
        s.text += d.text || "";
        drawLive();
      } else if (ev === "end" && d.scope === "step") {
        live[key] ||= {name: d.step_name || "", text: ""};
        liveState = `step ${key} ended: ${runStatusNames[d.run_status ?? 0] ?? "status " + d.run_status}`;
        drawLive();
        reload();
      } else if (ev === "end") {
        liveState = `the run ended: ${runStatusNames[d.run_status ?? 0] ?? "status " + d.run_status}`;
        drawLive();
        ctl.abort();
        reload();
      }
      if (d.seq) lastSeq = d.seq;
    }, ctl.signal).catch((e) => {
      if (e.name === "AbortError") return;
      liveState = "live output stopped: " + e.message;
      drawLive();
    });
  };
  const reload = debounce(async () => { try { draw(await load()); } catch (e) { announce(e.message, true); } }, 500);
  draw(await load());
  return {title: `Run of ${name} on ${server}`, node: el,
    live(ev, d) { if (ev === "run" && d.job === name && d.server.toUpperCase() === server.toUpperCase()) reload(); },
    close() { ctl?.abort(); }};
}

// ---- Download list ----

export async function downloadlist(route, session) {
  const q = route.q;
  const f = ["server", "job", "operation", "status", "since", "until"];
  const params = Object.fromEntries([...f, "offset"].map((k) => [k, q.get(k)]));
  const el = mount("");
  const load = () => api("/api/v1/console/downloadlist" + qs(params));
  const draw = (d) => {
    el.innerHTML = String(html`<h1 tabindex="-1">Download list</h1>
    <form class="filters" role="search" aria-label="filter the download list">
      <label>Server <input name="server" value="${q.get("server") || ""}"></label>
      <label>Job <input name="job" value="${q.get("job") || ""}"></label>
      <label>Operation <select name="operation"><option value="">any</option>${["INSERT", "UPDATE", "DELETE", "START", "STOP", "SET POLL", "SYNC TIME", "DEFECT", "RE-ENLIST"].map((o) =>
        html`<option${o === q.get("operation") ? raw(" selected") : ""}>${o}</option>`)}</select></label>
      <label>Status <select name="status">${[["", "any"], ["pending", "not downloaded"], ["downloaded", "downloaded"], ["error", "with an error"]].map(([v, l]) =>
        html`<option value="${v}"${v === (q.get("status") || "") ? raw(" selected") : ""}>${l}</option>`)}</select></label>
      <label>Posted since <input name="since" type="date" value="${q.get("since") || ""}"></label>
      <label>until <input name="until" type="date" value="${q.get("until") || ""}"></label>
      <button>Filter</button></form>
    ${downloadTable(d.rows, session, reload)}
    ${pager(d.matched, d.offset, d.limit, (o) => linkWith(route, {offset: o}), "instructions")}`);
    filterForm(el, route, session);
    wireClear(el, reload);
  };
  const reload = debounce(async () => { if (el.contains(document.activeElement) || $("dialog[open]")) return; try { draw(await load()); } catch (e) { announce(e.message, true); } }, 1000);
  draw(await load());
  return {title: "Download list", node: el, live(ev) { if (ev === "downloadlist") reload(); }};
}

// ---- Events ----

export async function events(route, session) {
  const server = route.q.get("server") || "";
  const minSev = Number(route.q.get("min_severity") || 0);
  const el = mount("");
  const evs = await api("/api/v1/events" + qs({server, min_severity: minSev || "", limit: 200}));
  el.innerHTML = String(html`<h1 tabindex="-1">Events${server ? " of " + server : ""}</h1>
    <form class="filters" role="search" aria-label="filter events">
      <label>Server <input name="server" value="${server}"></label>
      <label>Severity at least <select name="min_severity">${[[0, "any"], [10, "10 (information)"], [16, "16 (failures)"], [17, "17"], [20, "20 (fatal)"]].map(([v, l]) =>
        html`<option value="${v || ""}"${v === minSev ? raw(" selected") : ""}>${l}</option>`)}</select></label>
      <button>Filter</button></form>
    <p>Newest first; new events appear as they arrive.</p>
    <table class="data events" id="events"><caption class="sr-only">Events</caption><thead><tr><th scope="col">Time</th><th scope="col">Server</th><th scope="col">Severity</th><th scope="col">Message</th></tr></thead>
    <tbody aria-live="polite">${evs.slice().reverse().map(eventRow)}</tbody></table>`);
  filterForm(el, route, session);
  return {title: "Events", node: el,
    live(ev, d) {
      if (ev !== "event" || (server && d.server.toUpperCase() !== server.toUpperCase()) || d.severity < minSev) return;
      const tb = $("#events tbody", el);
      tb.insertAdjacentHTML("afterbegin", String(eventRow(d)));
      while (tb.rows.length > 500) tb.deleteRow(-1);
    }};
}

// ---- Audit ----

export async function audit() {
  const recs = await api("/api/v1/audit?limit=200");
  const el = mount(html`<h1 tabindex="-1">Audit</h1><p>Every change made through the API, newest first: who, from where, what and what changed.</p>
    <table class="data" id="audit"><caption class="sr-only">Audit records</caption><thead><tr><th scope="col">Time</th><th scope="col">Who</th><th scope="col">From</th><th scope="col">Action</th><th scope="col">Object</th><th scope="col">Status</th><th scope="col">Changes</th></tr></thead>
    <tbody>${recs.slice().reverse().map((a) => html`<tr><td>${when(a.time)}</td><td>${a.who}</td><td>${a.from}</td><td><code>${a.action}</code></td><td>${a.object}</td>
      <td>${a.status}${a.count > 1 ? ` ×${a.count}` : ""}</td><td>${(a.changes || []).join("; ")}${a.detail ? " " + a.detail : ""}</td></tr>`)}</tbody></table>`);
  return {title: "Audit", node: el};
}
