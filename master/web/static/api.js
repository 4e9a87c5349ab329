// The console's access to the master's API. The token is entered once in the sign-in form and
// kept in localStorage; it goes in the Authorization header of every request, never in a URL
// (not even for the live streams: EventSource cannot set headers, so they are read with
// fetch() and parsed here).

const KEY = "msx-token";
export const token = () => localStorage.getItem(KEY) || "";
export const setToken = (t) => localStorage.setItem(KEY, t);
export const clearToken = () => localStorage.removeItem(KEY);

export class APIError extends Error {
  constructor(status, body) {
    super(body?.error?.message || `HTTP ${status}`);
    this.status = status;
    this.code = body?.error?.code;
  }
}

// api calls the master: GET when body is undefined. It returns the decoded answer (null for
// 204) and throws APIError with the master's message otherwise. idempotencyKey, when given, is
// sent as the Idempotency-Key header (start and stop: a request sent again with the same key is
// not repeated).
export async function api(path, {method, body, signal, idempotencyKey} = {}) {
  const opts = {method: method || (body === undefined ? "GET" : "POST"), headers: {Authorization: "Bearer " + token()}, signal};
  if (idempotencyKey) opts.headers["Idempotency-Key"] = idempotencyKey;
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const res = await fetch(path, opts);
  if (res.status === 204) return null;
  const data = await res.json().catch(() => null);
  if (!res.ok) throw new APIError(res.status, data);
  return data;
}

// newIdempotencyKey returns a random key for one action: crypto.getRandomValues works on plain
// http too, where crypto.randomUUID does not.
export function newIdempotencyKey() {
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
}

// qs builds a query string from an object, leaving out empty values.
export function qs(o) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(o)) {
    if (Array.isArray(v)) v.forEach((x) => p.append(k, x));
    else if (v !== "" && v != null && v !== false) p.set(k, v);
  }
  const s = p.toString();
  return s ? "?" + s : "";
}

// sse reads a server-sent-events answer of path with fetch, calling onEvent(name, data) per
// event (data JSON-decoded). It resolves when the stream ends and rejects with APIError when
// the master refuses it. signal aborts it.
export async function sse(path, onEvent, signal) {
  const res = await fetch(path, {headers: {Authorization: "Bearer " + token(), Accept: "text/event-stream"}, signal});
  if (!res.ok) throw new APIError(res.status, await res.json().catch(() => null));
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  for (;;) {
    const {value, done} = await reader.read();
    if (done) return;
    buf += value;
    let i;
    while ((i = buf.indexOf("\n\n")) >= 0) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      let name = "message", data = "";
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) name = line.slice(6).trim();
        else if (line.startsWith("data:")) data += line.slice(5).trimStart();
      }
      if (!data) continue;
      let v = data;
      try { v = JSON.parse(data); } catch { /* plain text */ }
      onEvent(name, v);
    }
  }
}
