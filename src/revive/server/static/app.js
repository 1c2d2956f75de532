// The page: pick a photo → diagnosis and plan → settings → run with progress → compare → download.

import { call, el, form, seconds } from "./api.js";
import { Brush } from "./brush.js";
import { Compare } from "./compare.js";
import { buildControls } from "./controls.js";

const $ = (id) => document.getElementById(id);
const state = { meta: null, models: [], op: null, controls: null, file: null, url: null, job: null, events: null,
                analysing: null, timer: null };

const compare = new Compare({ stage: $("stage"), frame: $("frame"), before: $("before"), after: $("after"),
                              divider: $("divider"), split: $("split"), splitBox: $("split-box"), zoom: $("zoom") });
const brush = new Brush({ canvas: $("mask"), frame: $("frame"), size: $("brush-size"), mode: $("brush-mode"),
                          clear: $("brush-clear") });

// --- messages: every failure is a sentence on the page, never a blank screen -----------------------------

function showError(error) {
  const text = typeof error === "string" ? error : error && error.message ? error.message : String(error);
  $("message-text").textContent = text;
  $("message").hidden = false;
}
function clearError() { $("message").hidden = true; }
$("message-close").addEventListener("click", clearError);
window.addEventListener("error", (e) => showError(`Something went wrong on this page: ${e.message}`));
window.addEventListener("unhandledrejection", (e) => showError(e.reason));

// --- start: what the server offers -----------------------------------------------------------------------

async function start() {
  const [meta, models] = await Promise.all([call("/api/operations"), call("/api/models")]);
  state.meta = meta;
  state.models = models.models;
  const limits = meta.limits;
  $("limits").textContent = `Up to ${Math.round(limits.max_upload_bytes / 2 ** 20)} MiB and `
    + `${Math.round(limits.max_pixels / 1e6)} megapixels; PNG, JPEG, WebP, TIFF and more.`;
  const box = $("operations");
  for (const op of meta.operations.filter((o) => o.produces_image)) {
    const input = el("input", { type: "radio", name: "operation", value: op.name, id: `op-${op.name}`,
                                checked: op.name === meta.default });
    input.addEventListener("change", () => chooseOperation(op.name));
    box.append(el("label", { for: `op-${op.name}`, title: op.summary }, input, op.name));
  }
  chooseOperation(meta.default);
}

function chooseOperation(name) {
  const op = state.meta.operations.find((o) => o.name === name);
  state.op = op;
  state.controls = buildControls(op.fields, state.models, $("controls"), $("advanced"));
  $("run").textContent = `Run ${op.name}`;
  const masked = Boolean(state.controls.mask);
  $("brush").hidden = !masked;
  brush.enable(masked && Boolean(state.file));
  if (state.file) analyse();
}

// --- picking a photo -------------------------------------------------------------------------------------

$("file").addEventListener("change", () => { if ($("file").files[0]) pick($("file").files[0]); });
const drop = $("drop");
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => {
  e.preventDefault();
  drop.classList.remove("over");
  const file = e.dataTransfer.files[0];
  if (file) pick(file);
});

async function pick(file) {
  clearError();
  if (file.size > state.meta.limits.max_upload_bytes) {
    showError(`${file.name} is ${(file.size / 2 ** 20).toFixed(0)} MiB; this server takes up to `
      + `${Math.round(state.meta.limits.max_upload_bytes / 2 ** 20)} MiB.`);
    return;
  }
  stopEvents();
  state.file = file;
  state.job = null;
  if (state.url) URL.revokeObjectURL(state.url);
  state.url = URL.createObjectURL(file);
  $("pick").classList.add("compact");
  $("work").hidden = false;
  $("photo-name").textContent = file.name;
  $("download").hidden = true;
  $("result-info").textContent = "";
  $("progress").hidden = true;
  $("mask-file").value = "";
  analyse();
  try {
    await compare.showOriginal(state.url);
    brush.attach($("before").naturalWidth, $("before").naturalHeight);
    brush.enable(Boolean(state.controls.mask));
  } catch (err) { // the server's diagnosis says whether it is a photo at all; this is only the preview
    $("result-info").textContent = err.message;
  }
}

$("another").addEventListener("click", () => { $("file").value = ""; $("file").click(); });

// --- diagnosis and plan (re-planned as settings change) ---------------------------------------------------

$("options").addEventListener("input", () => { clearTimeout(state.timer); state.timer = setTimeout(analyse, 350); });
$("options").addEventListener("change", () => { clearTimeout(state.timer); state.timer = setTimeout(analyse, 350); });

async function analyse() {
  if (!state.file) return;
  if (state.analysing) state.analysing.abort();
  const abort = new AbortController();
  state.analysing = abort;
  const planning = state.op.name === "enhance";
  const entries = [["image", state.file, state.file.name], ...(planning ? state.controls.values() : [])];
  $("findings").setAttribute("aria-busy", "true");
  try {
    const answer = await call(planning ? "/api/plan" : "/api/diagnose",
                              { method: "POST", body: form(entries), signal: abort.signal });
    showFindings(answer);
    showPlan(planning ? answer.plan : null);
  } catch (err) {
    if (err.name !== "AbortError") showError(err);
  } finally {
    if (state.analysing === abort) state.analysing = null;
    $("findings").setAttribute("aria-busy", "false");
  }
}

function showFindings(answer) {
  const [w, h] = answer.input_size;
  $("photo-name").textContent = `${answer.name} · ${w}×${h}`;
  const items = answer.findings.length ? answer.findings : ["nothing needs attention"];
  $("findings").replaceChildren(...items.map((f) => el("li", { text: f })));
}

function showPlan(plan) {
  $("plan").hidden = !plan;
  if (!plan) return;
  const [w, h] = plan.input_size;
  const [ow, oh] = plan.output_size;
  $("plan-size").textContent = `${w}×${h} → ${ow}×${oh}`;
  const steps = plan.steps.filter((s) => s.track !== "reference");
  $("steps").replaceChildren(...(steps.length ? steps.map((s) => el("li", {}, el("span", { class: "step-name", text: s.stage }),
                                                                      ` — ${s.reason}`))
                                                : [el("li", { text: "nothing to do: the photo is left as it is" })]));
  $("plan-notes").replaceChildren(...plan.notes.map((n) => el("li", { text: n })));
}

// --- running a job with live progress ----------------------------------------------------------------------

$("options").addEventListener("submit", (e) => { e.preventDefault(); run().catch(showError); });
$("cancel").addEventListener("click", () => cancel().catch(showError));
$("mask-file").addEventListener("change", () => brush.clear());

async function run() {
  if (!state.file) { showError("Choose a photo first."); return; }
  clearError();
  const entries = [["image", state.file, state.file.name], ["operation", state.op.name], ...state.controls.values()];
  for (const [name, file] of state.controls.files()) entries.push([name, file, file.name]);
  const mask = state.controls.mask;
  if (mask) {
    if (brush.painted) entries.push(["mask", await brush.toBlob(), "mask.png"]);
    else if ($("mask-file").files[0]) entries.push(["mask", $("mask-file").files[0], $("mask-file").files[0].name]);
    else if (!mask.optional) { showError("Paint over what to remove first (or choose a mask file)."); return; }
  }
  busy(true);
  status("Uploading…", null);
  try {
    const job = await call("/api/jobs", { method: "POST", body: form(entries) });
    state.job = job;
    follow(job.id);
  } catch (err) {
    busy(false);
    $("progress").hidden = true;
    throw err;
  }
}

function follow(id) {
  stopEvents();
  const events = new EventSource(`/api/jobs/${id}/events`);
  state.events = events;
  const on = (kind, handler) => events.addEventListener(kind, (e) => handler(JSON.parse(e.data)));
  on("queued", () => status("Waiting for the worker…", null));
  on("phase", (e) => status(`${e.phase}…`, null));
  on("estimate", (e) => status(`${e.phase}: this will take about ${seconds(e.eta)}`, null));
  on("progress", (e) => status(`${e.phase}: ${e.done} of ${e.of} tiles${e.eta ? ` · about ${seconds(e.eta)} left` : ""}`,
                               e.of ? e.done / e.of : null));
  on("done", (e) => { stopEvents(); finished(e).catch(showError); });
  on("failed", (e) => { stopEvents(); busy(false); status("Failed.", 0); showError(e.message || "The job failed."); });
  on("cancelled", () => { stopEvents(); busy(false); status("Cancelled.", 0); });
  events.onerror = () => {
    if (events.readyState === EventSource.CLOSED) {
      stopEvents();
      busy(false);
      showError("Lost the connection to the server while the job ran.");
    }
  };
}

function stopEvents() {
  if (state.events) state.events.close();
  state.events = null;
}

async function finished(job) {
  status("Done.", 1);
  busy(false);
  const url = job.download;
  await compare.showResult(`${url}?v=${job.id}`);
  brush.enable(false);
  const link = $("download");
  link.href = url;
  link.hidden = false;
  const r = job.result || {};
  const size = r.output_size ? `${r.input_size[0]}×${r.input_size[1]} → ${r.output_size[0]}×${r.output_size[1]}` : "";
  const steps = r.steps ? ` · ${r.steps.join(", ") || "nothing to do"}` : "";
  $("result-info").textContent = `${size}${steps} · ${r.seconds ?? "?"} s`;
  for (const note of r.notes || []) $("result-info").textContent += ` · ${note}`;
  link.focus();
}

async function cancel() {
  if (!state.job) return;
  await call(`/api/jobs/${state.job.id}`, { method: "DELETE" });
  stopEvents();
  busy(false);
  status("Cancelled.", 0);
}

function busy(on) {
  $("run").disabled = on;
  $("cancel").hidden = !on;
  $("progress").hidden = false;
}

function status(text, fraction) {
  $("status").textContent = text;
  const bar = $("bar");
  if (fraction === null) bar.removeAttribute("value");
  else bar.value = fraction;
}

start().catch((err) => showError(`The page could not start: ${err.message}`));
