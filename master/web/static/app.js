// The msx dashboard: polls GET /api/v1/dashboard and draws it. No framework, no build step.
// The answer counts each job's targets by last outcome (a bar per job); the per-target grid of
// one job comes with ?job=NAME once a job row is clicked.
"use strict";
const $ = (id) => document.getElementById(id);
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;","'":"&#39;"}[c]));
const outcomeNames = {0:"failed",1:"succeeded",2:"retry",3:"canceled",4:"in progress",5:"not run yet"};
const outcomeKeys = [[0,"failed"],[1,"succeeded"],[2,"retry"],[3,"canceled"],[4,"in_progress"],[5,"not_run"]];
let selectedJob = "";

function token() {
  const m = location.hash.match(/token=([^&]+)/);
  if (m) { localStorage.setItem("msx-token", decodeURIComponent(m[1])); history.replaceState(null, "", location.pathname); }
  return localStorage.getItem("msx-token") || "";
}

function ago(iso) {
  if (!iso) return "never";
  const s = Math.max(0, Math.round((Date.now() - new Date(iso).getTime()) / 1000));
  if (s < 60) return s + "s ago";
  if (s < 3600) return Math.round(s / 60) + "m ago";
  return Math.round(s / 3600) + "h ago";
}

function showLogin(msg) {
  $("app").hidden = true; $("login").hidden = false; $("login-error").textContent = msg || "";
}

async function refresh() {
  const t = token();
  if (!t) { showLogin(); return; }
  let res;
  try {
    const q = selectedJob ? "?job=" + encodeURIComponent(selectedJob) : "";
    res = await fetch("/api/v1/dashboard" + q, {headers: {Authorization: "Bearer " + t}});
  } catch (e) { $("updated").textContent = "master not answering: " + e; return; }
  if (res.status === 401 || res.status === 403) {
    const body = await res.json().catch(() => ({}));
    localStorage.removeItem("msx-token");
    showLogin(body.error ? body.error.message : "token refused");
    return;
  }
  if (res.status === 404 && selectedJob) { selectedJob = ""; refresh(); return; } // the job was deleted
  const d = await res.json();
  $("login").hidden = true; $("app").hidden = false;
  draw(d);
}

function bar(j) {
  const o = j.outcomes || {};
  return outcomeKeys.filter(([, k]) => o[k] > 0).map(([c, k]) =>
    `<span class="o${c}" style="flex-grow:${o[k]}" title="${o[k]} ${outcomeNames[c]}">${o[k]}</span>`).join("");
}

function draw(d) {
  $("master").textContent = d.master;
  const ts = d.targets || {};
  const listed = ts.listed || [];
  const jobs = d.jobs || [];
  const failed = jobs.reduce((n, j) => n + ((j.outcomes || {}).failed || 0), 0);
  $("summary").innerHTML =
    `<span><b>${ts.total || 0}</b>targets</span><span><b>${ts.online || 0}</b>online</span>` +
    `<span><b>${ts.suspected_offline || 0}</b>suspected offline</span><span><b>${ts.blocked || 0}</b>blocked</span>` +
    `<span><b>${ts.disk_full || 0}</b>disk full</span>` +
    `<span><b>${jobs.length}</b>jobs</span><span><b>${failed}</b>failed last runs</span>`;
  $("updated").textContent = "updated " + new Date().toLocaleTimeString();
  $("targets").innerHTML = listed.map((t) =>
    `<div class="tile st${t.status & 7}${t.status & 8 ? " diskfull" : ""}" data-server="${esc(t.server_name)}" title="${esc(t.location)} — status ${t.status}">` +
    `<b>${esc(t.server_name)}</b><small>${t.jobs} jobs · polled ${ago(t.last_poll_date)}</small>` +
    `<small>${t.unread_instructions} unread · ${t.download_errors} errors</small>` +
    (t.disk && t.disk.state !== "ok" ? `<small class="disk">disk ${esc(t.disk.state)} · ${t.disk.held_reports || 0} reports held</small>` : "") +
    `</div>`).join("");
  $("unlisted").textContent = ts.unlisted ? `and ${ts.unlisted} more normal targets (msx targetserver list shows them all)` : "";
  $("jobs").tBodies[0].innerHTML = jobs.map((j) =>
    `<tr data-job="${esc(j.name)}"${j.name === selectedJob ? ' class="selected"' : ""}><td>${esc(j.name)}</td><td>${j.version_number}</td><td>${j.targets}</td><td>${j.pending}</td>` +
    `<td><div class="bar">${bar(j)}</div></td></tr>`).join("");
  const g = d.grid;
  $("grid-section").hidden = !g;
  if (g) {
    $("grid-job").textContent = g.job;
    $("grid").dataset.job = g.job;
    $("grid").innerHTML = g.servers.map((s) =>
      `<span class="o${s.last_run_outcome}" data-server="${esc(s.server_name)}" title="${esc(s.server_name)}: ${outcomeNames[s.last_run_outcome]} — ${esc(s.last_outcome_message)}"></span>`).join("") ||
      `<span class="muted">no targets</span>`;
  }
  $("errors").tBodies[0].innerHTML = (d.errors || []).map((r) =>
    `<tr><td>${r.instance_id}</td><td>${esc(r.target_server)}</td><td>${esc(r.operation_name)} ${esc(r.object_name)}</td><td class="error">${esc(r.error_message)} (${r.error_code})</td></tr>`).join("") ||
    `<tr><td colspan="4" class="muted">none</td></tr>`;
  $("events").innerHTML = (d.events || []).slice().reverse().map((e) =>
    `<li class="sev${e.severity}"><span class="muted">${new Date(e.time).toLocaleTimeString()} ${esc(e.server)} sev ${e.severity}</span><br>${esc(e.message)}</li>`).join("") ||
    `<li class="muted">none</li>`;
}

$("jobs").addEventListener("click", (ev) => {
  const tr = ev.target.closest("tr[data-job]");
  if (!tr) return;
  selectedJob = tr.dataset.job === selectedJob ? "" : tr.dataset.job;
  refresh();
});

$("login-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  localStorage.setItem("msx-token", $("token").value.trim());
  refresh();
});
refresh();
setInterval(refresh, 3000);
