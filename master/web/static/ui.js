// Small DOM helpers: an escaping template tag, formatting, tables, a pager and the confirmation
// dialog. No framework: every page builds its HTML with html`` (values are escaped unless
// wrapped in raw()) and wires its handlers after.

const ESC = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"};
export const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ESC[c]);

class Raw { constructor(s) { this.s = s; } toString() { return this.s; } }
export const raw = (s) => new Raw(String(s));

// html`<b>${name}</b>` escapes name; arrays are joined; raw() and nested html`` pass through.
export function html(strings, ...vals) {
  let out = strings[0];
  vals.forEach((v, i) => { out += render(v) + strings[i + 1]; });
  return raw(out);
}
function render(v) {
  if (v instanceof Raw) return v.s;
  if (Array.isArray(v)) return v.map(render).join("");
  if (v === false || v === null || v === undefined) return "";
  return esc(v);
}

export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];

export const outcomeNames = ["failed", "succeeded", "retry", "canceled", "in progress", "not run yet"];
export const outcomeKeys = ["failed", "succeeded", "retry", "canceled", "in_progress", "not_run"];
export const runStatusNames = ["failed", "succeeded", "retry", "canceled", "in progress"];

export function ago(iso) {
  if (!iso) return "never";
  const s = Math.round((Date.now() - new Date(iso).getTime()) / 1000);
  if (s < 0) return "just now";
  if (s < 60) return s + " s ago";
  if (s < 3600) return Math.round(s / 60) + " min ago";
  if (s < 86400) return Math.round(s / 3600) + " h ago";
  return Math.round(s / 86400) + " d ago";
}

// when shows a time in the browser's zone with its date, and the exact UTC time as a title.
export function when(iso) {
  if (!iso || iso.startsWith("0001")) return html`<span>—</span>`;
  const d = new Date(iso);
  return html`<time datetime="${d.toISOString()}" title="${d.toISOString()}">${d.toLocaleString()}</time>`;
}

// localTime shows the wall-clock time of a target in its zone (UTC offset in minutes).
export function localTime(offsetMin) {
  const d = new Date(Date.now() + (offsetMin || 0) * 60000);
  return d.toISOString().slice(11, 16);
}

// zone names a UTC offset in minutes as "UTC+02:00".
export function zone(min) {
  const m = Math.abs(min || 0);
  return `UTC${(min || 0) < 0 ? "-" : "+"}${String(Math.floor(m / 60)).padStart(2, "0")}:${String(m % 60).padStart(2, "0")}`;
}

export function duration(ms) {
  if (ms == null) return "—";
  if (ms < 1000) return ms + " ms";
  const s = Math.round(ms / 1000);
  if (s < 60) return s + " s";
  return Math.floor(s / 60) + " min " + (s % 60) + " s";
}

// sortHeader is a column header that sorts: a button inside the th, with aria-sort.
export function sortHeader(label, key, sort, desc) {
  const active = sort === key;
  const dir = active ? (desc ? "descending" : "ascending") : "none";
  return html`<th scope="col" aria-sort="${dir}"><button type="button" class="sort" data-sort="${key}">${label}${active ? (desc ? " ▼" : " ▲") : ""}</button></th>`;
}

// pager shows "rows a–b of n" with previous and next links (hrefs keep the page's query).
export function pager(matched, offset, limit, hrefFor, label = "rows") {
  if (!matched) return html`<p class="pager">No ${label}.</p>`;
  const a = offset + 1, b = Math.min(offset + limit, matched);
  return html`<nav class="pager" aria-label="pages of ${label}"><span>${label} ${a}–${b} of ${matched}</span>
    ${offset > 0 ? html`<a href="${hrefFor(Math.max(0, offset - limit))}">previous</a>` : ""}
    ${b < matched ? html`<a href="${hrefFor(offset + limit)}">next</a>` : ""}</nav>`;
}

// announce tells screen readers (and everyone) what just happened.
export function announce(msg, error = false) {
  const el = $("#status");
  el.textContent = msg;
  el.className = error ? "error" : "";
}

// confirmAction opens the confirmation dialog: what will happen and where, and optional
// fields (each {name, label, type, value, min, max, options}). It resolves to the fields' values,
// or null when cancelled.
export function confirmAction({title, what, where, fields = [], ok = "Confirm", danger = false}) {
  const dlg = $("#confirm");
  dlg.innerHTML = html`<form method="dialog" class="confirm">
    <h2 id="confirm-title">${title}</h2>
    <p id="confirm-what">${what}</p>
    ${where ? html`<p><strong>Where:</strong> <span id="confirm-where">${where}</span></p>` : ""}
    ${fields.map((f) => f.type === "select"
      ? html`<p><label>${f.label} <select name="${f.name}">${f.options.map((o) => html`<option value="${o[0]}"${o[0] === f.value ? raw(" selected") : ""}>${o[1]}</option>`)}</select></label></p>`
      : html`<p><label>${f.label} <input name="${f.name}" type="${f.type || "text"}" value="${f.value ?? ""}"${f.min != null ? raw(` min="${f.min}"`) : ""}${f.max != null ? raw(` max="${f.max}"`) : ""}${f.required ? raw(" required") : ""}></label></p>`)}
    <div class="buttons"><button value="cancel" formnovalidate>Cancel</button>
    <button value="ok" id="confirm-ok" class="${danger ? "danger" : "primary"}">${ok}</button></div></form>`;
  dlg.setAttribute("aria-labelledby", "confirm-title");
  // Settled on the form's submit and the dialog's cancel (Esc), which fire at once, not on
  // "close", which is queued and could reach the next dialog opened meanwhile.
  return new Promise((resolve) => {
    const form = dlg.querySelector("form");
    let done = false;
    const finish = (vals) => {
      if (done) return;
      done = true;
      dlg.removeEventListener("cancel", onCancel);
      if (dlg.open) dlg.close();
      dlg.innerHTML = "";
      resolve(vals);
    };
    const onCancel = (ev) => { ev.preventDefault(); finish(null); };
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      if (ev.submitter?.value !== "ok") { finish(null); return; }
      const vals = {};
      for (const f of fields) vals[f.name] = form.elements[f.name].value;
      finish(vals);
    });
    dlg.addEventListener("cancel", onCancel);
    dlg.showModal();
    (dlg.querySelector("input,select") || dlg.querySelector("#confirm-ok")).focus();
  });
}

// debounce runs fn at most once per ms, after the last call.
export function debounce(fn, ms) {
  let t = 0;
  return (...a) => { clearTimeout(t); t = setTimeout(() => fn(...a), ms); };
}

// showOnce shows markup (a form with method="dialog") in the dialog; its content is removed
// when the form is submitted or the dialog cancelled, so a secret shown once does not linger.
export function showOnce(markup) {
  const dlg = $("#confirm");
  dlg.innerHTML = String(markup);
  const finish = (ev) => { ev.preventDefault(); dlg.close(); dlg.innerHTML = ""; };
  dlg.querySelector("form").addEventListener("submit", finish);
  dlg.addEventListener("cancel", finish, {once: true});
  dlg.showModal();
}
