/* Rankwise work page: fetch the next task, render it, keep a draft as the labeler works, submit it
 * through the REST API and show the next task at once.
 *
 * Every text that comes from labelers, imports or models reaches the DOM through text nodes (dom.js) or
 * as HTML the server rendered from Markdown and sanitized with nh3 (labeling/rendering.py).
 */
import { h, kbd, trusted } from "./dom.js";
import { draftStore, pruneDrafts } from "./drafts.js";
import { renderRank } from "./rank-view.js";
import { fromStored, snapshot } from "./ranking-state.js";

const config = JSON.parse(document.getElementById("work-config").textContent);
const root = document.getElementById("task");
const apiRoot = root.dataset.apiRoot || "/api/";
const homeUrl = root.dataset.homeUrl || "/";
const guidelinesBody = document.getElementById("guidelines-body");
const legend = document.getElementById("legend");
const timerEl = document.getElementById("timer");
const statusEl = document.getElementById("status");
const amendLast = document.getElementById("amend-last");
const ROLE_LABELS = config.roles;

// --- DOM ---------------------------------------------------------------------------------

function flash(message) {
  statusEl.textContent = message;
  statusEl.classList.add("shown");
  clearTimeout(flash.timeout);
  flash.timeout = setTimeout(() => statusEl.classList.remove("shown"), 2500);
}

// --- API ---------------------------------------------------------------------------------

function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

async function post(path, body) {
  return call(path, { method: "POST", body: JSON.stringify(body || {}) });
}

async function call(path, { method = "GET", body } = {}) {
  let response;
  try {
    response = await fetch(apiRoot + path, {
      method,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrfToken() },
      body,
    });
  } catch (error) {
    return { ok: false, status: 0, data: { detail: "Could not reach the server. Your draft is saved; try again." } };
  }
  let data = null;
  if (response.status !== 204) {
    try { data = await response.json(); } catch (error) { data = null; }
  }
  if (response.status === 401 || response.status === 403) {
    data = { detail: (data && data.detail) || "You are not logged in any more.", login: true };
  } else if (!response.ok && !data) {
    data = { detail: `The server answered ${response.status}. Your draft is saved; try again.` };
  }
  return { ok: response.ok, status: response.status, data };
}

const drafts = draftStore(config.userKey);

// --- Timer: counts while the page is visible; the running total lives in the draft ------------

const timer = {
  base: 0,
  since: null,
  interval: null,
  start(baseMs) {
    this.base = baseMs || 0;
    this.since = document.hidden ? null : performance.now();
    clearInterval(this.interval);
    this.interval = setInterval(() => { this.render(); if (current) current.persist(); }, 1000);
    timerEl.parentElement.hidden = false;
    this.render();
  },
  stop() {
    clearInterval(this.interval);
    this.interval = null;
    this.pause();
  },
  elapsed() {
    return this.base + (this.since === null ? 0 : performance.now() - this.since);
  },
  pause() {
    if (this.since !== null) { this.base = this.elapsed(); this.since = null; }
  },
  resume() {
    if (this.since === null && this.interval !== null) this.since = performance.now();
  },
  render() {
    const seconds = Math.floor(this.elapsed() / 1000);
    const minutes = Math.floor(seconds / 60);
    timerEl.textContent = `${minutes}:${String(seconds % 60).padStart(2, "0")}`;
  },
};

document.addEventListener("visibilitychange", () => {
  if (document.hidden) { timer.pause(); if (current) current.persist(); } else { timer.resume(); }
});
window.addEventListener("pagehide", () => { if (current) current.persist(); });

// --- Errors ------------------------------------------------------------------------------

function humanize(field) {
  if (typeof field === "number") return String(field + 1);
  return field === "non_field_errors" || field === "detail" ? "" : field.replace(/_/g, " ");
}

/** DRF errors ({field: [messages]}, nested by index for lists) as [path, message] pairs. */
function errorPairs(value, path) {
  if (value === null || value === undefined) return [];
  if (typeof value !== "object") return [[path, String(value)]];
  if (Array.isArray(value)) {
    return value.flatMap((item, i) => (item !== null && typeof item === "object" && !Array.isArray(item)
      ? errorPairs(item, [...path, i]) : errorPairs(item, path)));
  }
  return Object.entries(value).flatMap(([key, item]) => errorPairs(item, [...path, /^\d+$/.test(key) ? Number(key) : key]));
}

/** The visible element whose data-field names the error's path, or the closest enclosing one. */
function fieldFor(form, path) {
  for (let n = path.length; n > 0; n--) {
    const name = path.slice(0, n).join(".");
    const node = [...form.querySelectorAll(`[data-field="${CSS.escape(name)}"]`)].find((el) => !el.closest("[hidden]"));
    if (node) return node;
  }
  return null;
}

function clearErrors(form) {
  form.querySelectorAll(".field-error").forEach((node) => node.remove());
  form.querySelectorAll("[aria-invalid]").forEach((node) => node.removeAttribute("aria-invalid"));
  const box = form.querySelector(".errors");
  if (box) { box.replaceChildren(); box.hidden = true; }
}

/** Show a 400's messages next to the fields they name, and all of them in the form's error box. */
function showErrors(form, data) {
  clearErrors(form);
  const box = form.querySelector(".errors");
  const lines = [];
  const byField = new Map();
  const { login, ...errors } = data || {};
  for (const [path, message] of errorPairs(errors, [])) {
    const target = fieldFor(form, path);
    if (target) byField.set(target, [...(byField.get(target) || []), message]);
    // ["examples", 0, "query"] reads "Example 1 query".
    const label = path.map((part, i) => (typeof path[i + 1] === "number" && typeof part === "string"
      ? humanize(part).replace(/s$/, "") : humanize(part))).filter(Boolean).join(" ");
    lines.push(label ? `${label[0].toUpperCase()}${label.slice(1)}: ${message}` : message);
  }
  for (const [target, messages] of byField) {
    target.setAttribute("aria-invalid", "true");
    target.after(h("p", { class: "field-error", text: messages.join(" ") }));
  }
  if (!box) return;
  box.replaceChildren(h("ul", {}, lines.map((line) => h("li", { text: line }))));
  if (data && data.login) {
    box.append(h("p", {}, h("a", { href: `/accounts/login/?next=${encodeURIComponent(location.pathname)}`,
      text: "Log in again" }), " — your draft is kept."));
  }
  if (data && data.task) {
    box.append(h("p", {}, h("button", { type: "button", class: "button", text: "Get the next task",
      onclick: () => loadNext() })));
  }
  box.hidden = false;
}

// --- Page flow ---------------------------------------------------------------------------

let current = null; // {task, draft, persist()}

async function loadNext() {
  root.dataset.state = "loading";
  root.setAttribute("aria-busy", "true");
  const result = await post(`projects/${config.projectId}/next/`, { kind: config.kind });
  root.removeAttribute("aria-busy");
  if (result.status === 204) return renderEmpty();
  if (!result.ok) return renderFailure(result.data);
  renderTask(result.data);
}

/** The amend page: one of the labeler's own submitted rankings, as they stored it. */
async function loadAmend() {
  root.dataset.state = "loading";
  root.setAttribute("aria-busy", "true");
  const result = await call(`tasks/${config.amendTaskId}/amend/`);
  root.removeAttribute("aria-busy");
  if (!result.ok) return renderFailure(result.data, "This ranking cannot be amended");
  const { task, ratings, strength } = result.data;
  const ids = task.candidates.map((c) => c.id);
  renderTask(task, { ranking: snapshot(fromStored(ids, ratings, strength, Object.keys(config.strengths))) });
}

const start = config.amendTaskId ? loadAmend : loadNext;

function renderFailure(data, title) {
  current = null;
  timer.stop();
  const form = h("div", { class: "panel failure" }, h("h2", { text: title || "The task could not be loaded" }),
    h("div", { class: "errors", role: "alert" }),
    h("p", { class: "actions" },
      h("button", { type: "button", class: "button primary", text: "Try again", onclick: () => start() }),
      config.amendTaskId ? h("a", { class: "button", href: config.historyUrl, text: "Back to my work" }) : null));
  root.replaceChildren(form);
  root.dataset.state = "error";
  showErrors(form, data);
}

function renderEmpty() {
  current = null;
  timer.stop();
  timerEl.parentElement.hidden = true;
  root.dataset.taskId = "";
  root.dataset.state = "empty";
  guidelinesBody.replaceChildren();
  guidelinesVersion = null;
  root.replaceChildren(h("div", { class: "nothing-left" },
    h("h2", { text: "Nothing left to do here" }),
    h("p", { text: "There are no more tasks of this kind for you right now. Thank you! Check back later." }),
    h("p", {}, h("a", { class: "button primary", href: homeUrl, text: "Back to home" }))));
  root.querySelector("a").focus();
  renderLegend(null);
}

// Guidelines travel once per version, not with every task: fetched when a task names a new version.
let guidelinesVersion = null;
async function showGuidelines(version) {
  if (version === guidelinesVersion) return;
  guidelinesVersion = version;
  const response = await fetch(`${apiRoot}projects/${config.projectId}/guidelines/?kind=${config.kind}`,
    { credentials: "same-origin", headers: { Accept: "application/json" } });
  if (!response.ok) { guidelinesVersion = null; return; }
  guidelinesBody.replaceChildren(trusted("div", {}, (await response.json()).html));
  if (!guidelinesBody.textContent.trim()) {
    guidelinesBody.replaceChildren(h("p", { class: "muted", text: "This project has no guidelines." }));
  }
}

/** The header's link to amend the ranking just submitted, shown while the server allows it. */
function offerAmendment(taskId, until) {
  clearTimeout(offerAmendment.timeout);
  amendLast.hidden = !taskId || !until;
  if (amendLast.hidden) return;
  amendLast.href = config.amendUrl.replace("{task}", String(taskId));
  offerAmendment.timeout = setTimeout(() => { amendLast.hidden = true; }, Math.max(0, Date.parse(until) - Date.now()));
}

function renderAmended() {
  root.dataset.state = "amended";
  timerEl.parentElement.hidden = true;
  root.replaceChildren(h("div", { class: "nothing-left" },
    h("h2", { text: "Your ranking is amended" }),
    h("p", { class: "actions" },
      h("a", { class: "button primary", href: config.historyUrl, text: "Back to my work" }),
      h("a", { class: "button", href: config.workUrl, text: "Go on ranking" }))));
  root.querySelector("a").focus();
  flash("Amended.");
  renderLegend(null);
}

let onResize = null;
window.addEventListener("resize", () => { if (onResize) onResize(); });

/** Render a task. `amending`: the draft to start from when amending a submitted ranking (kept in memory:
 * the stored ranking is the starting point each time the page opens). */
function renderTask(task, amending) {
  const draft = amending || drafts.load(task.id);
  current = {
    task,
    draft,
    persist() { if (!amending) drafts.save(task.id, { ...draft, elapsedMs: Math.round(timer.elapsed()) }); },
  };
  root.dataset.taskId = String(task.id);
  root.dataset.state = task.kind;
  showGuidelines(task.guidelines_version);
  timer.start(draft.elapsedMs || 0);
  onResize = null;
  root.replaceChildren();
  let focusFirst;
  if (task.kind === "rank") {
    focusFirst = renderRank(task, { root, config, draft, persist: current.persist, submit, errorBox, clearErrors,
      roleLabels: ROLE_LABELS, onResize: (fn) => { onResize = fn; }, submitPath: amending ? "amend" : "ranking" });
  } else {
    const render = { write_prompt: renderWritePrompt, write_demonstration: renderDemonstration };
    focusFirst = render[task.kind](task, draft, current.persist);
  }
  if (!amending) root.append(renderSkip(task));
  renderLegend(task.kind);
  // Each task opens at the top, whatever the previous one was scrolled to, with focus on its first control.
  // Last, once the whole page is built: scrolling and focusing make the browser lay the page out there and
  // then, and doing it after the last change means it does so once (not again for the frame).
  window.scrollTo(0, 0);
  focusFirst();
}

/** Submit, then clear the draft and show the next task with no extra click. */
async function submit(form, path, payload) {
  const task = current.task;
  const buttons = form.querySelectorAll("button[type=submit]");
  buttons.forEach((b) => { b.disabled = true; });
  payload.time_spent_ms = Math.max(1, Math.round(timer.elapsed()));
  const result = await post(`tasks/${task.id}/${path}/`, payload);
  buttons.forEach((b) => { b.disabled = false; });
  if (!result.ok) {
    showErrors(form, result.data);
    const box = form.querySelector(".errors");
    if (box) box.scrollIntoView({ block: "nearest" });
    return false;
  }
  drafts.clear(task.id);
  current = null;
  timer.stop();
  if (path === "amend") { renderAmended(); return true; }
  flash(path === "skip" ? "Skipped. Here is the next task." : "Saved. Here is the next task.");
  // A submit may answer with the next task itself (`next`: its payload, or null when none is left).
  const data = result.data || {};
  offerAmendment(path === "ranking" ? task.id : null, data.amendable_until);
  if (!("next" in data)) await loadNext();
  else if (data.next) renderTask(data.next);
  else renderEmpty();
  return true;
}

/** A field's error goes away as soon as the labeler edits that field. */
function clearFieldErrorOnInput(form) {
  form.addEventListener("input", (event) => {
    const field = event.target.closest("[aria-invalid]");
    if (!field) return;
    field.removeAttribute("aria-invalid");
    if (field.nextElementSibling && field.nextElementSibling.classList.contains("field-error")) {
      field.nextElementSibling.remove();
    }
  });
}

function submitOnCtrlEnter(form) {
  clearFieldErrorOnInput(form);
  form.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
}

// --- Shared pieces -----------------------------------------------------------------------

function renderConversation(messages, title) {
  return h("section", { class: "conversation", "aria-label": title || "Prompt" },
    h("h2", { class: "section-title", text: title || (messages.length > 1 ? "Conversation" : "Prompt") }),
    messages.map((message) => {
      const role = ROLE_LABELS[message.role] ? message.role : "other";
      return h("div", { class: `msg msg-${role}` },
        h("div", { class: "role", text: ROLE_LABELS[message.role] || String(message.role) }),
        h("div", { class: "text", text: message.content }));
    }));
}

function textArea(label, field, value, onInput, extra) {
  const id = `f-${field}-${Math.random().toString(36).slice(2, 8)}`;
  const area = h("textarea", { id, name: field, "data-field": field, rows: 8, value, spellcheck: "true", ...extra });
  area.addEventListener("input", () => onInput(area.value));
  return h("div", { class: "field" }, h("label", { for: id, text: label }), area);
}

function errorBox() {
  return h("div", { class: "errors", role: "alert", hidden: true });
}

function submitRow(label, hint) {
  return h("div", { class: "actions" },
    h("button", { type: "submit", class: "button primary", text: label }),
    hint ? h("span", { class: "hint" }, hint) : null);
}

// --- Write a prompt ----------------------------------------------------------------------

/** The few-shot prompt as the model will see it, from the server's templates (labeling.models.prompts
 * few_shot_text fills in the same ones). One pass over each template, so braces in a query stay text. */
function fewShotText(instruction, examples) {
  const { shot, between } = config.fewShot;
  const shots = examples.map((e) => shot.replace(/\{(query|response)\}/g, (_, field) => e[field]));
  return [instruction, shots.join(between)].join(between);
}

function renderWritePrompt(task, draft, persist) {
  const hasUseCase = Boolean(task.use_case);
  if (!draft.promptKind || (draft.promptKind === "use_case" && !hasUseCase)) draft.promptKind = "plain";
  draft.text = draft.text || "";
  draft.useCaseText = draft.useCaseText || "";
  draft.instruction = draft.instruction || "";
  if (!Array.isArray(draft.examples) || !draft.examples.length) {
    draft.examples = [{ query: "", response: "" }, { query: "", response: "" }];
  }

  const form = h("form", { class: "task-form write-prompt", novalidate: true });
  const picker = h("fieldset", { class: "segmented" }, h("legend", { text: "Kind of prompt" }),
    Object.entries(config.promptKinds).map(([value, label]) => h("label", {},
      h("input", { type: "radio", name: "prompt-kind", value, checked: draft.promptKind === value,
        disabled: value === "use_case" && !hasUseCase }),
      h("span", { text: label }))));

  const plain = h("div", { class: "panel", "data-kind": "plain" },
    h("p", { class: "hint", text: "Write any task you would like an assistant to do. Make your prompts as " +
      "diverse as you can: brainstorming, classification, extraction, generation, rewriting, chat, open " +
      "or closed questions, summarization…" }),
    textArea("Prompt", "text", draft.text, (v) => { draft.text = v; persist(); }));

  const preview = h("pre", { class: "text preview" });
  const examplesList = h("ol", { class: "examples" });
  const updatePreview = () => { preview.textContent = fewShotText(draft.instruction, draft.examples); };
  function renderExamples(focusIndex) {
    examplesList.replaceChildren(...draft.examples.map((example, i) => {
      const remove = h("button", { type: "button", class: "button small", text: "Remove",
        "aria-label": `Remove example ${i + 1}`, disabled: draft.examples.length <= 2,
        onclick: () => {
          draft.examples.splice(i, 1); persist(); renderExamples(Math.min(i, draft.examples.length - 1)); updatePreview();
        } });
      return h("li", { class: "example" },
        h("div", { class: "example-head" }, h("span", { text: `Example ${i + 1}` }), remove),
        textArea("Query", `examples.${i}.query`, example.query,
          (v) => { example.query = v; persist(); updatePreview(); }, { rows: 3 }),
        textArea("Response", `examples.${i}.response`, example.response,
          (v) => { example.response = v; persist(); updatePreview(); }, { rows: 3 }));
    }));
    if (focusIndex !== undefined && draft.examples[focusIndex]) {
      examplesList.children[focusIndex].querySelector("textarea").focus();
    }
  }
  renderExamples();
  updatePreview();
  const fewShot = h("div", { class: "panel", "data-kind": "few_shot" },
    h("p", { class: "hint", text: "Write an instruction, then several query/response pairs that show it " +
      "(for example: a sentence and its sentiment). At least two examples." }),
    textArea("Instruction", "instruction", draft.instruction,
      (v) => { draft.instruction = v; persist(); updatePreview(); }, { rows: 3 }),
    h("div", { class: "field", "data-field": "examples" }, h("span", { class: "label", text: "Examples" }), examplesList,
      h("button", { type: "button", class: "button", text: "+ Add example", onclick: () => {
        draft.examples.push({ query: "", response: "" }); persist();
        renderExamples(draft.examples.length - 1); updatePreview();
      } })),
    h("details", { class: "preview-box" }, h("summary", { text: "Preview the prompt as the model sees it" }), preview));

  const useCase = h("div", { class: "panel", "data-kind": "use_case" },
    h("div", { class: "use-case" }, h("span", { class: "label", text: "Use case" }),
      h("p", { class: "use-case-text", text: task.use_case || "" })),
    h("p", { class: "hint", text: "Write a prompt that someone with this use case would send to an assistant." }),
    textArea("Prompt", "text", draft.useCaseText, (v) => { draft.useCaseText = v; persist(); }));

  const panels = { plain, few_shot: fewShot, use_case: useCase };
  function showPanel() {
    for (const [kind, panel] of Object.entries(panels)) panel.hidden = kind !== draft.promptKind;
  }
  picker.addEventListener("change", (event) => {
    draft.promptKind = event.target.value;
    persist();
    showPanel();
    clearErrors(form);
  });
  showPanel();

  form.append(picker, plain, fewShot, useCase, errorBox(),
    submitRow("Submit prompt", [kbd("Ctrl"), "+", kbd("Enter")]));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const kind = draft.promptKind;
    if (kind === "few_shot") {
      submit(form, "prompt", { kind, instruction: draft.instruction, examples: draft.examples });
    } else {
      submit(form, "prompt", { kind, text: kind === "use_case" ? draft.useCaseText : draft.text });
    }
  });
  submitOnCtrlEnter(form);
  root.append(form);
  return () => panels[draft.promptKind].querySelector("textarea")?.focus();
}

// --- Write a demonstration ---------------------------------------------------------------

function renderDemonstration(task, draft, persist) {
  draft.text = draft.text || "";
  const form = h("form", { class: "task-form demonstration", novalidate: true },
    renderConversation(task.prompt.messages),
    h("p", { class: "hint", text: "Write the response you would want the assistant to give to the last " +
      "user message: helpful, truthful and harmless." }),
    textArea("Your response", "text", draft.text, (v) => { draft.text = v; persist(); }, { rows: 12 }),
    errorBox(),
    submitRow("Submit response", [kbd("Ctrl"), "+", kbd("Enter")]));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    submit(form, "demonstration", { text: draft.text });
  });
  submitOnCtrlEnter(form);
  root.append(form);
  return () => form.querySelector("textarea").focus({ preventScroll: true });
}

// --- Skip or report ----------------------------------------------------------------------

function renderSkip(task) {
  const form = h("form", { class: "skip-form", novalidate: true });
  const reasons = h("fieldset", { class: "reasons", "data-field": "reason" }, h("legend", { text: "Why?" }),
    Object.entries(config.skipReasons).map(([value, label]) => h("label", {},
      h("input", { type: "radio", name: "skip-reason", value }), h("span", { text: label }))));
  form.append(reasons,
    textArea("Note (optional)", "note", "", () => {}, { rows: 2 }),
    errorBox(),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "button danger", text: "Skip this task" })));
  clearFieldErrorOnInput(form);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const chosen = form.querySelector("input[name=skip-reason]:checked");
    if (!chosen) { showErrors(form, { reason: ["Choose a reason."] }); return; }
    submit(form, "skip", { reason: chosen.value, note: form.querySelector("textarea").value });
  });
  return h("details", { class: "skip" }, h("summary", { text: "Skip or report this task" }), form);
}

// --- Keyboard legend ---------------------------------------------------------------------

function renderLegend(kind) {
  const rows = [];
  const row = (keys, text) => rows.push(h("dt", {}, keys), h("dd", { text }));
  if (kind === "rank") {
    const [low, high] = config.likert;
    row([kbd(String(low)), "–", kbd(String(high))], "Rate the response; the next one comes up");
    row([kbd("←"), kbd("→")], "Previous / next response");
    row([kbd("↑"), kbd("↓")], "Scroll the response; on the ranking: move it");
    row([kbd("F")], "Flags of the response (then their letters)");
    row([kbd("R")], "Raw text / formatted");
    row([kbd("D"), "…", kbd("D")], "Mark the words two responses differ in (D again: back)");
    row([kbd("P")], "Show all of the prompt / fold it");
    row([kbd(config.letters[0]), "–", kbd(config.letters[config.k - 1])], "Pick a response on the ranking");
    row([kbd("Shift"), "+", kbd("↑"), kbd("↓")], "Tie it with the one above / below");
    row([kbd("U")], "Undo");
    row([kbd("Enter")], "Go to the ranking, then submit");
    row(["drag, tap"], "Drag on the ranking; or Tap to rank, best first");
  } else if (kind) {
    row([kbd("Ctrl"), "+", kbd("Enter")], "Submit");
    row([kbd("Tab")], "Next field");
  }
  legend.replaceChildren(...rows);
  legend.parentElement.hidden = rows.length === 0;
}

pruneDrafts();
start();
