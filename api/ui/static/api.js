// Talking to pushgate's HTTP API: the API key, requests, and long-poll watchers of jobs.
// The key lives in sessionStorage only and travels only in the Authorization header.

const KEY_NAME = "pushgate.apiKey";
const API = new URL("../v1/", document.baseURI);
export const WAIT_SECONDS = 20; // long-poll window (the API allows up to 30)
const MAX_WATCHERS = 3; // a browser keeps ~6 connections per host; leave room for the rest
const MIN_GAP_MS = 250; // between two polls of one job
const QUIET_GAP_MS = 1000; // when an answer came back at once without a change

export const FINISHED = new Set(["succeeded", "failed", "cancelled"]);

export function apiKey() {
  return sessionStorage.getItem(KEY_NAME);
}

export function rememberKey(key) {
  sessionStorage.setItem(KEY_NAME, key);
}

export function forgetKey() {
  sessionStorage.removeItem(KEY_NAME);
}

export class ApiError extends Error {
  constructor(status, problem) {
    super(describeProblem(status, problem));
    this.status = status;
    this.problem = problem;
  }
}

function describeProblem(status, problem) {
  if (status === 401) {
    return "This API key was not accepted (401 Unauthorized). Check that you pasted the whole key.";
  }
  if (status === 0) {
    return "pushgate could not be reached. Check your connection; the page retries on its own.";
  }
  const detail = problem && (problem.detail || problem.title);
  // A refusal names the rule that refused and the file that holds it (keys or apps file).
  const where = problem && problem.file ? ` in ${problem.file}` : "";
  const rule = problem && problem.rule ? ` [rule ${problem.rule}${where}]` : "";
  return detail ? `${detail}${rule} (HTTP ${status})` : `The API answered HTTP ${status}.`;
}

let onUnauthorized = () => {};
export function setUnauthorizedHandler(handler) {
  onUnauthorized = handler;
}

// One API call; resolves to {status, body, etag}; throws ApiError for 4xx/5xx (304 is fine).
export async function call(path, { method = "GET", headers = {}, signal, key, json } = {}) {
  const presented = key ?? apiKey();
  const sent = json === undefined ? {} : { "Content-Type": "application/json" };
  let response;
  try {
    response = await fetch(new URL(path, API), {
      method,
      signal,
      body: json === undefined ? undefined : JSON.stringify(json),
      cache: "no-store",
      credentials: "omit",
      referrerPolicy: "no-referrer",
      headers: {
        Accept: "application/json",
        Authorization: `Bearer ${presented}`,
        ...sent,
        ...headers,
      },
    });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, null);
  }
  let body = null;
  const type = response.headers.get("Content-Type") || "";
  if (response.status !== 304 && type.includes("json")) {
    body = await response.json().catch(() => null);
  }
  if (response.status >= 400) {
    if (response.status === 401 && key === undefined) onUnauthorized();
    throw new ApiError(response.status, body);
  }
  return { status: response.status, body, etag: response.headers.get("ETag") };
}

export function listJobs({ app, status, cursor, limit = 20 }) {
  const query = new URLSearchParams({ limit: String(limit) });
  if (app) query.set("app_slug", app);
  if (status) query.set("status", status);
  if (cursor) query.set("cursor", cursor);
  return call(`pushes?${query}`);
}

export const getJob = (id) => call(`pushes/${encodeURIComponent(id)}`);
export const cancelJob = (id) =>
  call(`pushes/${encodeURIComponent(id)}/cancel`, { method: "POST" });
// What a push would do (HEAD and GET only), and the push itself, from the same body.
export const planPush = (body, signal) =>
  call("plans?wait=20", { method: "POST", json: body, signal });
export const submitPush = (body) =>
  call("pushes", {
    method: "POST",
    json: body,
    headers: { "Idempotency-Key": `ui-${crypto.randomUUID()}` },
  });
export const getDeliveries = (id) => call(`pushes/${encodeURIComponent(id)}/deliveries`);

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Follows unfinished jobs through `GET /v1/pushes/{id}?wait=` with If-None-Match, at most
// MAX_WATCHERS at a time, round robin. A server that ignores `wait` answers at once: then
// each job is asked at most once a second.
export class JobWatcher {
  constructor(onJob) {
    this.onJob = onJob;
    this.jobs = new Map(); // id -> {etag, seen, controller}
    this.queue = [];
    this.active = 0;
  }

  // Watch exactly these jobs (the unfinished ones on screen).
  follow(jobs) {
    const wanted = new Map(jobs.filter((j) => !FINISHED.has(j.status)).map((j) => [j.id, j]));
    for (const [id, entry] of this.jobs) {
      if (!wanted.has(id)) {
        entry.controller?.abort();
        this.jobs.delete(id);
      }
    }
    for (const id of wanted.keys()) {
      if (!this.jobs.has(id)) {
        this.jobs.set(id, { etag: null, asked: false, seen: null, controller: null });
        this.queue.push(id);
      }
    }
    this.pump();
  }

  stop() {
    this.follow([]);
    this.queue = [];
  }

  pump() {
    while (this.active < MAX_WATCHERS && this.queue.length) {
      const id = this.queue.shift();
      const entry = this.jobs.get(id);
      if (entry && !entry.controller) this.poll(id, entry);
    }
  }

  async poll(id, entry) {
    this.active += 1;
    entry.controller = new AbortController();
    const started = performance.now();
    let changed = false;
    let gap = 0;
    try {
      // The first call has no ETag yet: ask plainly, so a change already made is not missed.
      const path = entry.asked
        ? `pushes/${encodeURIComponent(id)}?wait=${WAIT_SECONDS}`
        : `pushes/${encodeURIComponent(id)}`;
      const headers = entry.etag ? { "If-None-Match": entry.etag } : {};
      const answer = await call(path, { headers, signal: entry.controller.signal });
      if (answer.status === 200 && answer.body) {
        const text = JSON.stringify(answer.body);
        changed = text !== entry.seen;
        entry.seen = text;
        entry.etag = answer.etag || null;
        entry.asked = true;
        if (changed) this.onJob(answer.body);
        if (FINISHED.has(answer.body.status)) this.jobs.delete(id);
      }
    } catch (error) {
      if (error.name === "AbortError") {
        this.active -= 1;
        this.pump();
        return;
      }
      if (error instanceof ApiError && (error.status === 404 || error.status === 403)) {
        this.jobs.delete(id);
      }
      gap = 3000;
    }
    entry.controller = null;
    this.active -= 1;
    const elapsed = performance.now() - started;
    gap = Math.max(gap, changed ? MIN_GAP_MS : QUIET_GAP_MS - elapsed, 0);
    this.pump();
    await sleep(gap);
    if (this.jobs.get(id) === entry) {
      this.queue.push(id);
      this.pump();
    }
  }
}
