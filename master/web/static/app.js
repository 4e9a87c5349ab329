// The msx dashboard: polls GET /api/v1/dashboard and draws it. No framework, no build step.
"use strict";
const $ = (id) => document.getElementById(id);
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;","'":"&#39;"}[c]));
const outcomeNames = {0:"failed",1:"succeeded",2:"retry",3:"canceled",4:"in progress",5:"not run yet"};

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
    res = await fetch("/api/v1/dashboard", {headers: {Authorization: "Bearer " + t}});
  } catch (e) { $("updated").textContent = "master not answering: " + e; return; }
  if (res.status === 401 || res.status === 403) {
    const body = await res.json().catch(() => ({}));
    localStorage.removeItem("msx-token");
    showLogin(body.error ? body.error.message : "token refused");
    return;
  }
  const d = await res.json();
  $("login").hidden = true; $("app").hidden = false;
  draw(d);
}

function draw(d) {
  $("master").textContent = d.master;
  const ts = d.targets || [];
  const online = ts.filter((t) => (t.status & 2) === 0).length;
  const blocked = ts.filter((t) => (t.status & 4) !== 0).length;
  const diskFull = ts.filter((t) => (t.status & 8) !== 0).length;
  const failed = (d.jobs || []).reduce((n, j) => n + j.servers.filter((s) => s.last_run_outcome === 0).length, 0);
  $("summary").innerHTML =
    `<span><b>${ts.length}</b>targets</span><span><b>${online}</b>online</span>` +
    `<span><b>${ts.length - online}</b>suspected offline</span><span><b>${blocked}</b>blocked</span>` +
    `<span><b>${diskFull}</b>disk full</span>` +
    `<span><b>${(d.jobs || []).length}</b>jobs</span><span><b>${failed}</b>failed last runs</span>`;
  $("updated").textContent = "updated " + new Date().toLocaleTimeString();
  $("targets").innerHTML = ts.map((t) =>
    `<div class="tile st${t.status & 7}${t.status & 8 ? " diskfull" : ""}" data-server="${esc(t.server_name)}" title="${esc(t.location)} — status ${t.status}">` +
    `<b>${esc(t.server_name)}</b><small>${t.jobs} jobs · polled ${ago(t.last_poll_date)}</small>` +
    `<small>${t.unread_instructions} unread · ${t.download_errors} errors</small>` +
    (t.disk && t.disk.state !== "ok" ? `<small class="disk">disk ${esc(t.disk.state)} · ${t.disk.held_reports || 0} reports held</small>` : "") +
    `</div>`).join("");
  $("jobs").tBodies[0].innerHTML = (d.jobs || []).map((j) =>
    `<tr data-job="${esc(j.name)}"><td>${esc(j.name)}</td><td>${j.version_number}</td><td>${j.servers.length}</td><td>${j.pending}</td>` +
    `<td class="dots">${j.servers.map((s) => `<span class="o${s.last_run_outcome}" title="${esc(s.server_name)}: ${outcomeNames[s.last_run_outcome]} — ${esc(s.last_outcome_message)}"></span>`).join("")}</td></tr>`).join("");
  $("errors").tBodies[0].innerHTML = (d.errors || []).map((r) =>
    `<tr><td>${r.instance_id}</td><td>${esc(r.target_server)}</td><td>${esc(r.operation_name)} ${esc(r.object_name)}</td><td class="error">${esc(r.error_message)} (${r.error_code})</td></tr>`).join("") ||
    `<tr><td colspan="4" class="muted">none</td></tr>`;
  $("events").innerHTML = (d.events || []).slice().reverse().map((e) =>
    `<li class="sev${e.severity}"><span class="muted">${new Date(e.time).toLocaleTimeString()} ${esc(e.server)} sev ${e.severity}</span><br>${esc(e.message)}</li>`).join("") ||
    `<li class="muted">none</li>`;
}

$("login-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  localStorage.setItem("msx-token", $("token").value.trim());
  refresh();
});
refresh();
setInterval(refresh, 3000);
