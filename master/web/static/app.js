// The msx console: hash routing (every page has a URL a DBA can paste into a ticket), sign-in
// with a token kept in localStorage, the live stream (GET /api/v1/stream read with fetch, so the
// token stays in a header), dark mode. Plain ES modules: no framework, no build step.

import {api, token, setToken, clearToken, sse, APIError} from "./api.js";
import {$, $$, announce} from "./ui.js";
import * as pages from "./pages.js";

const routes = [
  [/^fleet$/, pages.fleet, "fleet"],
  [/^targets\/[^/]+$/, pages.target, "fleet"],
  [/^jobs$/, pages.jobsPage, "jobs"],
  [/^jobs\/[^/]+$/, pages.job, "jobs"],
  [/^jobs\/[^/]+\/runs\/[^/]+$/, pages.run, "jobs"],
  [/^downloadlist$/, pages.downloadlist, "downloadlist"],
  [/^events$/, pages.events, "events"],
  [/^audit$/, pages.audit, "audit"],
];

// change and startStop are what the token may do, as GET /api/v1/whoami says (auth.Allows).
const session = {change: false, startStop: false, go: (href) => { location.hash = href.replace(/^#/, ""); }};
let current = null;
let seq = 0;

function parse() {
  const h = location.hash.replace(/^#\/?/, "");
  const [path, query] = h.split("?", 2);
  const parts = (path || "fleet").split("/").filter(Boolean).map(decodeURIComponent);
  return {parts, path: parts.map(encodeURIComponent).join("/"), q: new URLSearchParams(query || "")};
}

async function show() {
  const my = ++seq;
  const route = parse();
  const match = routes.find(([re]) => re.test(route.parts.map((p) => p.replace(/\//g, "%2F")).join("/")));
  current?.close?.();
  current = null;
  const main = $("#main");
  for (const a of $$("#nav a")) a.removeAttribute("aria-current");
  if (!match) {
    main.innerHTML = `<h1 tabindex="-1">Not found</h1><p>No page here: go to the <a href="#/fleet">fleet</a>.</p>`;
    main.querySelector("h1").focus();
    return;
  }
  $(`#nav a[data-nav="${match[2]}"]`)?.setAttribute("aria-current", "page");
  main.setAttribute("aria-busy", "true");
  try {
    const page = await match[1](route, session);
    if (my !== seq) { page.close?.(); return; } // the user moved on meanwhile
    current = page;
    main.replaceChildren(page.node);
    main.dataset.route = location.hash; // tells tests (and styles) which page is drawn
    document.title = page.title + " — msx";
    main.querySelector("h1")?.focus({preventScroll: true});
    // For measurements (msx's browser benchmark): when the first page was drawn, and how long
    // the last route change took to draw.
    if (!window.__msxFirst) window.__msxFirst = performance.now();
    if (window.__msxNav) { window.__msxRendered = performance.now() - window.__msxNav; window.__msxNav = 0; }
  } catch (e) {
    if (e instanceof APIError && e.status === 401) { signOut(e.message); return; }
    main.innerHTML = "";
    const h = document.createElement("h1");
    h.tabIndex = -1; h.textContent = "Could not load this page";
    const p = document.createElement("p");
    p.className = "error"; p.textContent = e.message;
    main.append(h, p);
    h.focus();
  } finally {
    main.removeAttribute("aria-busy");
  }
}

// ---- Live stream, with polling as the fallback ----

let streamCtl = null, pollTimer = 0;
function startStream() {
  streamCtl?.abort();
  streamCtl = new AbortController();
  const ctl = streamCtl;
  const state = $("#live");
  sse("/api/v1/stream", (ev, data) => {
    if (ev === "hello") { state.textContent = "live"; state.className = "live on"; clearInterval(pollTimer); pollTimer = 0; return; }
    if (ev === "dropped") { state.textContent = "reconnecting"; return; }
    current?.live?.(ev, data);
  }, ctl.signal).then(() => retry(ctl), (e) => {
    if (e.name === "AbortError") return;
    if (e instanceof APIError && e.status === 401) { signOut(e.message); return; }
    retry(ctl);
  });
}
function retry(ctl) {
  if (ctl.signal.aborted) return;
  const state = $("#live");
  state.textContent = "not live: refreshing every 15 s"; state.className = "live off";
  if (!pollTimer) pollTimer = setInterval(show, 15000); // the fallback while the stream is down
  setTimeout(() => { if (!ctl.signal.aborted) startStream(); }, 5000);
}

// ---- Sign-in ----

function signOut(msg) {
  streamCtl?.abort();
  clearToken();
  $("#app").hidden = true;
  $("#login").hidden = false;
  $("#login-error").textContent = msg || "";
  $("#token").focus();
}

async function signIn() {
  if (!token()) { signOut(""); return; }
  try {
    const me = await api("/api/v1/whoami");
    session.change = me.change; session.startStop = me.start_stop;
    document.body.dataset.role = me.role;
    $("#who").textContent = `${me.role} token ${me.id} · master ${me.master}`;
  } catch (e) {
    signOut(e instanceof APIError ? e.message : "master not answering: " + e.message);
    return;
  }
  $("#login").hidden = true;
  $("#app").hidden = false;
  startStream();
  show();
}

$("#login-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const t = $("#token").value.trim();
  if (!t) { $("#login-error").textContent = "enter a token: msx token create --role viewer (or the admin token file in the master's data directory)"; return; }
  setToken(t);
  $("#token").value = "";
  signIn();
});
$("#sign-out").addEventListener("click", () => signOut("signed out"));

// ---- Dark mode: the system's choice unless the toggle overrides it ----

function applyTheme() {
  const t = localStorage.getItem("msx-theme");
  if (t) document.documentElement.dataset.theme = t; else delete document.documentElement.dataset.theme;
  const dark = t ? t === "dark" : matchMedia("(prefers-color-scheme: dark)").matches;
  $("#theme").setAttribute("aria-pressed", String(dark));
}
$("#theme").addEventListener("click", () => {
  const dark = $("#theme").getAttribute("aria-pressed") === "true";
  localStorage.setItem("msx-theme", dark ? "light" : "dark");
  applyTheme();
});
applyTheme();

window.addEventListener("hashchange", () => { window.__msxNav = performance.now(); announce(""); show(); });
if (!location.hash) history.replaceState(null, "", "#/fleet");
window.__msxNav = performance.now();
signIn();
announce("");
