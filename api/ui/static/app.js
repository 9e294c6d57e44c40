// The pushes page: sign-in, the live jobs list, and one job's page; routes live in the hash.
import {
  ApiError,
  FINISHED,
  JobWatcher,
  apiKey,
  call,
  cancelJob,
  forgetKey,
  getDeliveries,
  getJob,
  listJobs,
  rememberKey,
  setUnauthorizedHandler,
} from "./api.js";
import {
  asText,
  definitionList,
  digestWithCopy,
  duration,
  el,
  objectTable,
  plainError,
  progressBar,
  statusBadge,
} from "./render.js";
import { openNewPush, wireNewPush } from "./newpush.js";

const REFRESH_MS = 5000; // the list's first page, for pushes submitted since
const $ = (id) => document.getElementById(id);
const views = ["sign-in-view", "list-view", "new-view", "job-view"];

// `generation` changes with the filters: answers to requests made before are dropped.
const list = { app: "", status: "", jobs: new Map(), order: [], cursor: null, timer: null, generation: 0 };
const page = { id: null, job: null };
const watcher = new JobWatcher(onJobChanged);

function announce(text) {
  $("announcer").textContent = "";
  setTimeout(() => ($("announcer").textContent = text), 30);
}

function show(view, heading) {
  for (const id of views) $(id).hidden = id !== view;
  const signedIn = Boolean(apiKey());
  $("sign-out").hidden = !signedIn;
  $("nav-list").hidden = !signedIn;
  $("nav-new").hidden = !signedIn;
  if (heading) $(heading).focus();
}

// ---- routing -------------------------------------------------------------------------------

function parseRoute() {
  const hash = location.hash.replace(/^#/, "") || "/";
  const [path, query = ""] = hash.split("?");
  const match = path.match(/^\/jobs\/([^/]+)$/);
  if (match) return { name: "job", id: decodeURIComponent(match[1]) };
  if (path === "/new") return { name: "new" };
  const params = new URLSearchParams(query);
  return { name: "list", app: params.get("app") || "", status: params.get("status") || "" };
}

function route() {
  clearInterval(list.timer);
  page.id = null;
  watcher.stop();
  if (!apiKey()) {
    show("sign-in-view", "sign-in-title");
    $("api-key").focus();
    return;
  }
  const target = parseRoute();
  if (target.name === "job") openJob(target.id);
  else if (target.name === "new") {
    show("new-view", "new-title");
    openNewPush();
  } else openList(target.app, target.status);
}

// ---- sign-in -------------------------------------------------------------------------------

async function signIn(event) {
  event.preventDefault();
  const key = $("api-key").value.trim();
  const message = $("sign-in-error");
  message.textContent = "";
  if (!key) {
    message.textContent = "Paste an API key first.";
    return;
  }
  try {
    await call("pushes?limit=1", { key });
  } catch (error) {
    message.textContent =
      error instanceof ApiError && error.status === 403
        ? "This API key is valid but may not list pushes."
        : error.message;
    $("api-key").select();
    return;
  }
  $("api-key").value = "";
  rememberKey(key);
  route();
}

function signOut(reason) {
  forgetKey();
  watcher.stop();
  list.jobs.clear();
  list.order = [];
  $("jobs").tBodies[0].replaceChildren();
  $("sign-in-error").textContent = typeof reason === "string" ? reason : "";
  if (location.hash && location.hash !== "#/") location.hash = "#/";
  route();
  if (typeof reason !== "string") announce("Signed out");
}

// ---- the jobs list -------------------------------------------------------------------------

function openList(app, status) {
  show("list-view", "list-title");
  $("filter-app").value = app;
  $("filter-status").value = status;
  if (app !== list.app || status !== list.status || !list.order.length) {
    list.app = app;
    list.status = status;
    list.generation += 1;
    list.jobs.clear();
    list.order = [];
    list.cursor = null;
    $("jobs").tBodies[0].replaceChildren();
    loadPage(null);
  } else {
    refreshHead();
  }
  list.timer = setInterval(refreshHead, REFRESH_MS);
}

function setListMessage(text, isError = false) {
  const node = $("list-message");
  node.textContent = text;
  node.classList.toggle("error", isError);
}

async function loadPage(cursor) {
  const button = $("load-more");
  button.disabled = true;
  const generation = list.generation;
  try {
    const { body } = await listJobs({ app: list.app, status: list.status, cursor });
    if (generation !== list.generation) return;
    list.cursor = body.next_cursor || null;
    for (const job of body.items) upsertRow(job, "end");
    setListMessage("");
    if (cursor) announce(`${body.items.length} more pushes loaded`);
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 401)) setListMessage(error.message, true);
  } finally {
    if (generation === list.generation) settleList();
  }
}

function settleList() {
  const button = $("load-more");
  button.disabled = false;
  button.hidden = !list.cursor;
  $("list-empty").hidden = list.order.length > 0;
  if (!$("list-view").hidden) watcher.follow([...list.jobs.values()]);
  rememberApps();
}

async function refreshHead() {
  const generation = list.generation;
  try {
    const { body } = await listJobs({ app: list.app, status: list.status });
    if (generation !== list.generation || $("list-view").hidden) return;
    const fresh = body.items.filter((job) => !list.jobs.has(job.id)).reverse();
    for (const job of body.items) if (list.jobs.has(job.id)) upsertRow(job);
    for (const job of fresh) upsertRow(job, "start");
    if (fresh.length) announce(`${fresh.length} new push${fresh.length > 1 ? "es" : ""}`);
    $("list-empty").hidden = list.order.length > 0;
    watcher.follow([...list.jobs.values()]);
    rememberApps();
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 401)) setListMessage(error.message, true);
  }
}

function rememberApps() {
  const apps = [...new Set([...list.jobs.values()].map((job) => job.app_slug))].sort();
  $("known-apps").replaceChildren(...apps.map((app) => el("option", { value: app })));
}

function jobRow(job) {
  const link = el("a", { href: `#/jobs/${encodeURIComponent(job.id)}`, text: job.id.slice(0, 8) });
  link.setAttribute("aria-label", `Push ${job.id} of ${job.source}`);
  return el(
    "tr",
    { dataset: { jobId: job.id } },
    el("td", { class: "status" }, statusBadge(job)),
    el("td", {}, link),
    el("td", { text: job.app_slug }),
    el("td", { class: "source", text: job.source }),
    el("td", { class: "destinations" }, (job.destinations || []).map((d) => el("div", { text: d }))),
    el("td", { class: "progress-cell" }, progressBar(job)),
    el("td", { class: "duration", text: duration(job) }),
    el("td", {}, digestWithCopy(job.digest, announce)),
  );
}

function upsertRow(job, where) {
  const body = $("jobs").tBodies[0];
  const old = list.jobs.has(job.id) ? body.querySelector(`tr[data-job-id="${CSS.escape(job.id)}"]`) : null;
  const before = list.jobs.get(job.id);
  list.jobs.set(job.id, job);
  const row = jobRow(job);
  if (old) {
    const focused = old.contains(document.activeElement) ? document.activeElement : null;
    const focusIndex = focused ? [...old.querySelectorAll("a,button")].indexOf(focused) : -1;
    old.replaceWith(row);
    if (focusIndex >= 0) row.querySelectorAll("a,button")[focusIndex]?.focus();
    if (before && before.status !== job.status) announce(`Push ${job.id.slice(0, 8)} is ${job.status}`);
  } else if (where === "start") {
    body.prepend(row);
    list.order.unshift(job.id);
  } else {
    body.append(row);
    list.order.push(job.id);
  }
}

function tickDurations() {
  if ($("list-view").hidden) return;
  for (const row of $("jobs").tBodies[0].rows) {
    const job = list.jobs.get(row.dataset.jobId);
    if (job && job.status === "running") row.querySelector(".duration").textContent = duration(job);
  }
}

function applyFilters(event) {
  event.preventDefault();
  const query = new URLSearchParams();
  const app = $("filter-app").value.trim();
  const status = $("filter-status").value;
  if (app) query.set("app", app);
  if (status) query.set("status", status);
  const next = `#/?${query}`;
  if (location.hash === next) route();
  else location.hash = next;
}

// ---- one job -------------------------------------------------------------------------------

function onJobChanged(job) {
  if (list.jobs.has(job.id)) upsertRow(job);
  if (page.id === job.id) renderJob(job);
}

async function openJob(id) {
  show("job-view", null);
  page.id = id;
  page.job = null;
  $("job-title").textContent = "Push";
  $("job-message").textContent = "Loading…";
  $("job-message").classList.remove("error");
  $("job-title").focus();
  try {
    const { body } = await getJob(id);
    if (id !== page.id) return;
    renderJob(body);
    $("job-message").textContent = "";
    loadDeliveries();
    watcher.follow([body]);
  } catch (error) {
    $("job-message").textContent = error.message;
    $("job-message").classList.add("error");
  }
}

function renderJob(job) {
  const previous = page.job;
  page.job = job;
  $("job-title").textContent = `Push ${job.id}`;
  $("job-badge").replaceChildren(statusBadge(job));
  $("cancel-button").hidden = FINISHED.has(job.status) || Boolean(job.cancel_requested);
  definitionList($("job-summary"), [
    ["Status", statusBadge(job)],
    ["App", job.app_slug],
    ["Source", job.source],
    ["Target", job.target],
    ["Tags", (job.tags || []).join(", ") || "—"],
    ["Progress", progressBar(job)],
    ["Duration", el("span", { id: "job-duration", text: duration(job) })],
    ["Digest", digestWithCopy(job.digest, announce)],
    ["Source digest", job.source_digest],
    ["Signatures and SBOMs", attachedSummary(job)],
    ["Created", job.created_at],
    ["Started", job.started_at],
    ["Finished", job.finished_at],
    ["Attempts", job.attempts],
    ["Retries", job.retries],
  ]);
  renderError(job.error);
  renderDestinations(job);
  const removed = job.removed || [];
  $("job-removed").replaceChildren(
    removed.length
      ? objectTable(removed, "Manifests left out of the pushed index")
      : el("p", { class: "hint", text: "None: nothing was left out of the pushed image." }),
  );
  definitionList(
    $("job-fields"),
    Object.entries(job).map(([name, value]) => [name, value]),
  );
  if (previous && previous.status !== job.status) {
    announce(`This push is now ${job.status}`);
    loadDeliveries();
  }
}

// How many signatures, SBOMs and attestations went with the image (over every target), what
// could not follow a changed index digest, and how many digests were verified.
function attachedSummary(job) {
  const results = Array.isArray(job.results) ? job.results : [];
  const carried = results.reduce((sum, r) => sum + (r.carried || []).length, 0);
  const behind = Math.max(0, ...results.map((r) => (r.left_behind || []).length));
  const parts = [`${carried} carried`];
  if (behind) parts.push(`${behind} left behind`);
  if ((job.verified || []).length) parts.push(`${job.verified.length} verified`);
  return parts.join(", ");
}

function renderError(error) {
  $("job-error").hidden = !error;
  if (!error) return;
  $("job-error-plain").textContent = plainError(error);
  $("job-error-type").textContent = asText(error.type);
  $("job-error-title").textContent = asText(error.title);
  $("job-error-detail").textContent = asText(error.detail);
}

// One row per destination: what it serves now, plus a per-destination result where the API
// reports one (`results`), whatever its fields.
function renderDestinations(job) {
  const served = job.served || {};
  const results = Array.isArray(job.results) ? job.results : [];
  const rows = (job.destinations || []).map((destination) => {
    const row = { destination, serves: served[destination] || "—" };
    const result = results.find((r) => Object.values(r).includes(destination));
    return result ? { ...row, ...result } : row;
  });
  for (const result of results) {
    if (!rows.some((row) => Object.values(result).some((v) => v === row.destination))) rows.push(result);
  }
  $("job-destinations").replaceChildren(
    rows.length
      ? objectTable(rows, "Each destination and what it serves")
      : el("p", { class: "hint", text: "No destinations." }),
  );
}

function tickJobDuration() {
  if (page.job && page.job.status === "running") {
    const node = $("job-duration");
    if (node) node.textContent = duration(page.job);
  }
}

async function loadDeliveries() {
  const target = $("job-deliveries");
  const id = page.id;
  try {
    const { body } = await getDeliveries(id);
    if (id !== page.id) return;
    const items = Array.isArray(body) ? body : body?.items || body?.deliveries || [];
    target.replaceChildren(
      items.length
        ? objectTable(items, "Webhook deliveries of this push")
        : el("p", { class: "hint", text: "No webhook deliveries for this push." }),
    );
  } catch (error) {
    const text =
      error instanceof ApiError && error.status === 404
        ? "This server does not report webhook deliveries."
        : `Deliveries could not be loaded: ${error.message}`;
    target.replaceChildren(el("p", { class: "hint", text }));
  }
}

function askCancel() {
  const dialog = $("cancel-dialog");
  dialog.returnValue = "";
  dialog.showModal();
}

async function cancelConfirmed() {
  const dialog = $("cancel-dialog");
  if (dialog.returnValue !== "cancel" || !page.id) {
    $("cancel-button").focus();
    return;
  }
  const message = $("job-message");
  try {
    const { body } = await cancelJob(page.id);
    renderJob(body);
    message.textContent = FINISHED.has(body.status)
      ? "The push was cancelled."
      : "Cancel requested; the push stops within seconds.";
  } catch (error) {
    message.textContent =
      error instanceof ApiError && error.status === 409
        ? "This push had already finished, so there was nothing to cancel."
        : error.message;
    getJob(page.id).then(({ body }) => renderJob(body), () => {});
  }
  $("job-title").focus();
}

// ---- wiring ----------------------------------------------------------------------------------

function start() {
  $("sign-in-form").addEventListener("submit", signIn);
  $("sign-out").addEventListener("click", () => signOut());
  $("filters").addEventListener("submit", applyFilters);
  $("filter-status").addEventListener("change", applyFilters);
  $("clear-filters").addEventListener("click", () => {
    location.hash = "#/";
  });
  $("load-more").addEventListener("click", () => loadPage(list.cursor));
  $("cancel-button").addEventListener("click", askCancel);
  $("cancel-dialog").addEventListener("close", cancelConfirmed);
  $("refresh-deliveries").addEventListener("click", loadDeliveries);
  wireNewPush();
  setUnauthorizedHandler(() =>
    signOut("The API no longer accepts this key (401). Sign in with a valid key."),
  );
  window.addEventListener("hashchange", route);
  setInterval(() => {
    tickDurations();
    tickJobDuration();
  }, 1000);
  route();
}

start();
