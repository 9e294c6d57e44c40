// Building the page's DOM from jobs. Every value goes in as text (textContent or a DOM
// property), never as markup: a job's fields come from callers and registries.

export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "text") node.textContent = String(value);
    else if (name === "class") node.className = value;
    else if (name === "dataset") Object.assign(node.dataset, value);
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name in node && typeof node[name] !== "object") node[name] = value;
    else node.setAttribute(name, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const STATUS_SYMBOL = {
  queued: "○",
  running: "◔",
  succeeded: "✓",
  failed: "✕",
  cancelled: "⊘",
};

export function statusBadge(job) {
  const cancelling = job.status === "running" && job.cancel_requested;
  const label = cancelling ? "running (cancelling)" : job.status;
  return el(
    "span",
    { class: `badge badge-${job.status}`, dataset: { status: job.status } },
    el("span", { "aria-hidden": "true", text: STATUS_SYMBOL[job.status] || "•" }),
    el("span", { class: "badge-text", text: label }),
  );
}

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB"];
export function bytes(n) {
  let value = Number(n) || 0;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${unit ? value.toFixed(1) : value} ${UNITS[unit]}`;
}

export function progressSummary(progress = {}) {
  const parts = [
    `${progress.blobs_done ?? 0}/${progress.blobs_total ?? 0} blobs`,
    `${bytes(progress.bytes_done)} of ${bytes(progress.bytes_total)}`,
  ];
  if (progress.blobs_skipped) parts.push(`${progress.blobs_skipped} already there`);
  if (progress.blobs_mounted) parts.push(`${progress.blobs_mounted} mounted`);
  return parts.join(" · ");
}

export function progressBar(job) {
  const progress = job.progress || {};
  const total = Number(progress.bytes_total) || 0;
  const bar = el("progress", { class: "bar", "aria-label": "Bytes pushed" });
  if (total > 0) {
    bar.max = total;
    bar.value = Math.min(Number(progress.bytes_done) || 0, total);
  } else if (job.status === "succeeded") {
    bar.max = 1;
    bar.value = 1;
  } else if (job.status !== "running" && job.status !== "queued") {
    bar.max = 1;
    bar.value = 0;
  } // else: indeterminate until the totals are known
  return el("div", { class: "progress" }, bar, el("span", { class: "progress-text", text: progressSummary(progress) }));
}

export function duration(job, now = Date.now()) {
  if (!job.started_at) return job.status === "queued" ? "waiting" : "—";
  const end = job.finished_at ? Date.parse(job.finished_at) : now;
  const seconds = Math.max(0, (end - Date.parse(job.started_at)) / 1000);
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

export function shortDigest(digest) {
  return digest ? `${digest.slice(0, 19)}…` : "—";
}

// A digest with a button that copies it in full.
export function digestWithCopy(digest, announce) {
  if (!digest) return el("span", { text: "—" });
  const button = el("button", {
    type: "button",
    class: "copy",
    text: "Copy",
    "aria-label": `Copy digest ${digest}`,
    onclick: () => copyText(digest).then(
      () => announce("Digest copied"),
      () => announce("Copying is not allowed here; select the digest instead"),
    ),
  });
  return el("span", { class: "digest" }, el("code", { title: digest, text: shortDigest(digest) }), button);
}

async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    await navigator.clipboard.writeText(text);
    return;
  }
  const area = el("textarea", { readOnly: true, class: "visually-hidden", value: text });
  document.body.append(area);
  area.select();
  const done = document.execCommand("copy");
  area.remove();
  if (!done) throw new Error("copy refused");
}

const ERROR_PLAIN = {
  auth: "A registry refused the credentials: the token or password is wrong, expired, or may not push to this repository.",
  not_found: "The source image, tag or one of its parts does not exist where the push looked for it.",
  rejected: "The target registry refused the image (for example its manifest, a tag, or an attestation).",
  network: "A registry could not be reached, or the connection kept failing after retries.",
  timeout: "The push ran longer than its deadline and was stopped.",
  cancelled: "Someone cancelled this push.",
  internal: "pushgate itself hit an unexpected error; the service logs have the details.",
};

export function plainError(error) {
  return ERROR_PLAIN[error?.type] || "The push failed.";
}

// A value of any shape, as text (objects as indented JSON).
export function asText(value) {
  if (value === null || value === undefined) return "—";
  if (typeof value === "object") return JSON.stringify(value, null, 2);
  return String(value);
}

// A table from a list of objects: one column per key seen.
export function objectTable(rows, caption) {
  const keys = [...new Set(rows.flatMap((row) => Object.keys(row)))];
  return el(
    "table",
    { class: "plain" },
    el("caption", { class: "visually-hidden", text: caption }),
    el("thead", {}, el("tr", {}, keys.map((k) => el("th", { scope: "col", text: k.replaceAll("_", " ") })))),
    el("tbody", {}, rows.map((row) => el("tr", {}, keys.map((k) => el("td", { class: "prewrap", text: asText(row[k]) }))))),
  );
}

export function definitionList(target, pairs) {
  target.replaceChildren(
    ...pairs.flatMap(([label, value]) => [
      el("dt", { text: label }),
      value instanceof Node ? el("dd", {}, value) : el("dd", { class: "prewrap", text: asText(value) }),
    ]),
  );
}
