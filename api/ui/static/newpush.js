// The "New push" form: asks POST /v1/plans as the user types (debounced) and shows the plan;
// "Push" submits the same body and opens the job. Every value goes in as text.
import { ApiError, planPush, submitPush } from "./api.js";
import { bytes, el, objectTable } from "./render.js";

const DEBOUNCE_MS = 400;
const $ = (id) => document.getElementById(id);
const state = { timer: null, asked: null, body: null, allowed: false };

const words = (text) => text.split(/[\s,]+/).filter(Boolean);

function formBody() {
  const body = { source: $("new-source").value.trim(), app_slug: $("new-app").value.trim() };
  const lists = { targets: "new-targets", extra_tags: "new-tags", platforms: "new-platforms" };
  for (const [name, id] of Object.entries(lists)) {
    const values = words($(id).value);
    if (values.length) body[name] = values;
  }
  body.attestations = $("new-attestations").value;
  return body;
}

function setMessage(text, isError = false) {
  $("plan-message").textContent = text;
  $("plan-message").classList.toggle("error", isError);
}

function destinationRows(plan) {
  return plan.destinations.map((dest) => ({
    target: dest.target,
    repository: dest.repository,
    tags: dest.tags.map((tag) => `${tag.reference.split(":").pop()} ${tag.state}`).join(", "),
    there: dest.blobs.present,
    mount: dest.blobs.mountable,
    send: dest.blobs.to_send,
    bytes: bytes(dest.blobs.bytes_to_send),
    error: dest.error ? `${dest.error.type}: ${dest.error.detail}` : "",
  }));
}

function renderPlan(plan) {
  const refused = plan.verdicts.filter((verdict) => !verdict.allowed);
  const parts = [];
  if (refused.length) {
    setMessage("A rule refuses this push.", true);
    parts.push(
      el("ul", { class: "refusals" }, refused.map((v) => el("li", {}, el("strong", { text: v.rule }), `: ${v.detail}`))),
    );
  } else if (plan.error) {
    setMessage(`This push would fail: ${plan.error.type}: ${plan.error.detail}`, true);
  } else {
    setMessage(`Allowed: ${bytes(plan.bytes_to_send)} to send.`);
  }
  if (plan.digest) parts.push(el("p", {}, "Would push ", el("code", { text: plan.digest })));
  if (plan.destinations.length) parts.push(objectTable(destinationRows(plan), "What each target would get"));
  if (plan.removed.length) {
    parts.push(el("p", { text: `Left out: ${plan.removed.map((r) => r.reason).join("; ")}` }));
  }
  $("plan-result").replaceChildren(...parts);
}

async function askPlan() {
  const body = formBody();
  state.allowed = false;
  $("new-submit").disabled = true;
  if (!body.source || !body.app_slug) {
    setMessage("Type a source and an app to see what the push would do.");
    $("plan-result").replaceChildren();
    return;
  }
  state.asked?.abort();
  const asked = new AbortController();
  state.asked = asked;
  setMessage("Planning…");
  try {
    const { body: plan } = await planPush(body, asked.signal);
    if (asked !== state.asked) return;
    state.body = body;
    state.allowed = plan.allowed;
    $("new-submit").disabled = !plan.allowed;
    renderPlan(plan);
  } catch (error) {
    if (error.name === "AbortError" || asked !== state.asked) return;
    const learned = error instanceof ApiError && error.problem && error.problem.learned;
    setMessage(error.message, true);
    if (learned) renderPlan(learned);
    else $("plan-result").replaceChildren();
  }
}

function planSoon() {
  clearTimeout(state.timer);
  state.timer = setTimeout(askPlan, DEBOUNCE_MS);
}

async function push(event) {
  event.preventDefault();
  if (!state.allowed || !state.body) return;
  $("new-submit").disabled = true;
  try {
    const { body: job } = await submitPush(state.body);
    location.hash = `#/jobs/${encodeURIComponent(job.id)}`;
  } catch (error) {
    setMessage(error.message, true);
    $("new-submit").disabled = false;
  }
}

export function openNewPush() {
  $("new-source").focus();
  if ($("new-source").value) planSoon();
}

export function wireNewPush() {
  $("new-form").addEventListener("input", planSoon);
  $("new-form").addEventListener("change", planSoon);
  $("new-form").addEventListener("submit", push);
}
