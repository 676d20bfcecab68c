/* Rankwise work page: fetch the next task, render it, keep a draft as the labeler works, submit it
 * through the REST API and load the next task at once.
 *
 * Every text that comes from labelers, imports or models reaches the DOM through textContent (the
 * h() helper below never parses HTML). The one exception is the project's guidelines, which the
 * server renders from Markdown and sanitizes with nh3.
 */
(function () {
  "use strict";

  const config = JSON.parse(document.getElementById("work-config").textContent);
  const root = document.getElementById("task");
  const apiRoot = root.dataset.apiRoot || "/api/";
  const homeUrl = root.dataset.homeUrl || "/";
  const guidelinesBody = document.getElementById("guidelines-body");
  const legend = document.getElementById("legend");
  const timerEl = document.getElementById("timer");
  const statusEl = document.getElementById("status");
  const [LIKERT_MIN, LIKERT_MAX] = config.likert;
  const FLAG_NAMES = Object.keys(config.flags);
  const FLAG_KEYS = assignFlagKeys(FLAG_NAMES);
  const ROLE_LABELS = { system: "System", user: "User", assistant: "Assistant" };

  // --- DOM ---------------------------------------------------------------------------------

  /** createElement with attributes and children; strings become text nodes, never HTML. */
  function h(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key === "value") node.value = value;
      else if (key === "checked") node.checked = Boolean(value);
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  function letterOf(index) {
    return String.fromCharCode(65 + index);
  }

  function flash(message) {
    statusEl.textContent = message;
    statusEl.classList.add("shown");
    clearTimeout(flash.timeout);
    flash.timeout = setTimeout(() => statusEl.classList.remove("shown"), 2500);
  }

  /** Shortcut letters for the flags: mnemonic ones for InstructGPT's list, free letters for others. */
  function assignFlagKeys(names) {
    const preferred = {
      fails_instruction: "f", inappropriate_for_assistant: "i", hallucination: "h", fails_constraints: "c",
      sexual_content: "s", violent_content: "v", encourages_violence: "e", denigrates_protected_class: "d",
      harmful_advice: "a", expresses_opinion: "o", expresses_moral_judgment: "m",
    };
    const used = new Set();
    const keys = {};
    for (const name of names) {
      const wish = preferred[name];
      if (wish && !used.has(wish)) { keys[name] = wish; used.add(wish); }
    }
    for (const name of names) {
      if (keys[name]) continue;
      const candidates = (name.replace(/[^a-z]/g, "") + "abcdefghijklmnopqrstuvwxyz").split("");
      const free = candidates.find((c) => !used.has(c));
      if (free) { keys[name] = free; used.add(free); }
    }
    return keys;
  }

  // --- API ---------------------------------------------------------------------------------

  function csrfToken() {
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  async function post(path, body) {
    let response;
    try {
      response = await fetch(apiRoot + path, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrfToken() },
        body: JSON.stringify(body || {}),
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

  // --- Drafts: localStorage keyed by task id, so a reload or a closed tab loses nothing -----------

  const DRAFT_PREFIX = "rankwise:draft:";
  const DRAFT_MAX_AGE_MS = 14 * 24 * 3600 * 1000;
  const drafts = {
    load(taskId) {
      try { return JSON.parse(localStorage.getItem(DRAFT_PREFIX + taskId)) || {}; } catch (error) { return {}; }
    },
    save(taskId, draft) {
      try {
        localStorage.setItem(DRAFT_PREFIX + taskId, JSON.stringify({ ...draft, savedAt: Date.now() }));
      } catch (error) { /* storage full or disabled: the page still works, without drafts */ }
    },
    clear(taskId) {
      try { localStorage.removeItem(DRAFT_PREFIX + taskId); } catch (error) { /* ignore */ }
    },
    prune() {
      // Leases last minutes; a draft untouched for two weeks belongs to a task that is long gone.
      try {
        for (const key of Object.keys(localStorage)) {
          if (!key.startsWith(DRAFT_PREFIX)) continue;
          const saved = (JSON.parse(localStorage.getItem(key)) || {}).savedAt || 0;
          if (Date.now() - saved > DRAFT_MAX_AGE_MS) localStorage.removeItem(key);
        }
      } catch (error) { /* ignore */ }
    },
  };

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

  function renderFailure(data) {
    current = null;
    timer.stop();
    const form = h("div", { class: "panel failure" }, h("h2", { text: "The task could not be loaded" }),
      h("div", { class: "errors", role: "alert" }),
      h("p", {}, h("button", { type: "button", class: "button primary", text: "Try again", onclick: () => loadNext() })));
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
    const response = await fetch(`${apiRoot}projects/${config.projectId}/guidelines/`,
      { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!response.ok) { guidelinesVersion = null; return; }
    // Sanitized on the server (Markdown rendered, then cleaned by nh3): the only HTML the page inserts.
    guidelinesBody.innerHTML = (await response.json()).html || "";
    if (!guidelinesBody.textContent.trim()) {
      guidelinesBody.replaceChildren(h("p", { class: "muted", text: "This project has no guidelines." }));
    }
  }

  function renderTask(task) {
    const draft = drafts.load(task.id);
    current = {
      task,
      draft,
      persist() { drafts.save(task.id, { ...draft, elapsedMs: Math.round(timer.elapsed()) }); },
    };
    root.dataset.taskId = String(task.id);
    root.dataset.state = task.kind;
    showGuidelines(task.guidelines_version);
    timer.start(draft.elapsedMs || 0);
    const render = { write_prompt: renderWritePrompt, write_demonstration: renderDemonstration, rank: renderRank };
    root.replaceChildren();
    render[task.kind](task, draft, current.persist);
    root.append(renderSkip(task));
    renderLegend(task.kind);
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
    flash(path === "skip" ? "Skipped. Here is the next task." : "Saved. Here is the next task.");
    await loadNext();
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

  function kbd(text) {
    return h("kbd", { text });
  }

  // --- Write a prompt ----------------------------------------------------------------------

  function fewShotText(instruction, examples) {
    // Mirrors labeling.api.few_shot_text, so the preview shows what the model will see.
    const shots = examples.map((e) => `Query: ${e.query}\nResponse: ${e.response}`).join("\n\n");
    return `${instruction}\n\n${shots}`;
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
    const first = panels[draft.promptKind].querySelector("textarea");
    if (first) first.focus();
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
    form.querySelector("textarea").focus({ preventScroll: true });
  }

  // --- Rank responses ----------------------------------------------------------------------

  function renderRank(task, draft, persist) {
    const candidates = task.candidates;
    const k = candidates.length;
    const ids = candidates.map((c) => c.id);
    draft.step = draft.step === "rank" ? "rank" : "rate";
    draft.ratings = draft.ratings || {};
    draft.tiers = draft.tiers || {};
    for (const id of ids) {
      const rating = draft.ratings[id] || {};
      draft.ratings[id] = { likert: rating.likert || null, flags: Array.isArray(rating.flags) ? rating.flags : [] };
      if (!(draft.tiers[id] >= 1 && draft.tiers[id] <= k)) delete draft.tiers[id];
    }
    const letter = {};
    candidates.forEach((c, i) => { letter[c.id] = letterOf(i); });
    const allRated = () => ids.every((id) => draft.ratings[id].likert);
    const allTiered = () => ids.every((id) => draft.tiers[id]);

    const form = h("form", { class: "task-form rank", novalidate: true });
    const steps = h("ol", { class: "steps" },
      h("li", { "data-step": "rate" }, h("span", { class: "step-no", text: "1" }), "Rate each response"),
      h("li", { "data-step": "rank" }, h("span", { class: "step-no", text: "2" }), "Rank them (ties allowed)"));
    const board = h("div", { class: "board" });
    const actions = h("div", { class: "actions" });
    const note = h("p", { class: "step-note", "aria-live": "polite" });
    form.append(renderConversation(task.prompt.messages), steps, note, board, errorBox(), actions);
    root.append(form);

    function cardOf(id) {
      return board.querySelector(`.cand[data-candidate="${id}"]`);
    }

    function focusCard(id, preventScroll) {
      const card = cardOf(id);
      if (card) card.focus({ preventScroll: Boolean(preventScroll) });
    }

    function moveFocus(fromId, delta) {
      const i = ids.indexOf(fromId);
      focusCard(ids[Math.max(0, Math.min(k - 1, i + delta))]);
    }

    function setStep(step, focusId) {
      draft.step = step;
      persist();
      clearErrors(form);
      render(focusId);
    }

    // Step 1: rate ---------------------------------------------------------------------------
    function syncRateCard(card, id) {
      const rating = draft.ratings[id];
      card.querySelectorAll(".likert button").forEach((button) => {
        button.setAttribute("aria-pressed", String(Number(button.value) === rating.likert));
      });
      card.querySelectorAll(".flags input").forEach((box) => { box.checked = rating.flags.includes(box.value); });
      card.classList.toggle("done", Boolean(rating.likert));
      card.querySelector(".cand-status").textContent = rating.likert
        ? `Rated ${rating.likert}/${LIKERT_MAX}${rating.flags.length ? ` · ${rating.flags.length} flag${rating.flags.length > 1 ? "s" : ""}` : ""}`
        : "Not rated yet";
      updateRateProgress();
    }

    function setLikert(id, value) {
      draft.ratings[id].likert = value;
      persist();
      syncRateCard(cardOf(id), id);
    }

    function toggleFlag(id, name) {
      const flags = draft.ratings[id].flags;
      const at = flags.indexOf(name);
      if (at >= 0) flags.splice(at, 1); else flags.push(name);
      persist();
      syncRateCard(cardOf(id), id);
    }

    function updateRateProgress() {
      const rated = ids.filter((id) => draft.ratings[id].likert).length;
      const next = actions.querySelector("[data-action=to-rank]");
      if (next) next.disabled = rated < k;
      note.textContent = rated < k ? `${rated} of ${k} responses rated.` : "All rated. Press Enter to rank them.";
    }

    function rateCard(candidate, index) {
      const id = candidate.id;
      const likert = h("div", { class: "likert", role: "group",
        "aria-label": `Overall quality, ${LIKERT_MIN} (very bad) to ${LIKERT_MAX} (excellent)` },
        h("span", { class: "likert-end", text: "Bad" }));
      for (let v = LIKERT_MIN; v <= LIKERT_MAX; v++) {
        likert.append(h("button", { type: "button", tabindex: "-1", value: v, text: String(v),
          "aria-label": `Rate ${v}`, onclick: () => { setLikert(id, v); cardOf(id).focus(); } }));
      }
      likert.append(h("span", { class: "likert-end", text: "Excellent" }));
      const flags = h("fieldset", { class: "flags" }, h("legend", { text: "Does the response…" }),
        FLAG_NAMES.map((name) => h("label", { class: "flag" },
          h("input", { type: "checkbox", tabindex: "-1", value: name,
            onchange: () => { toggleFlag(id, name); } }),
          FLAG_KEYS[name] ? kbd(FLAG_KEYS[name].toUpperCase()) : null,
          h("span", { text: config.flags[name] }))));
      const card = h("article", { class: "cand", tabindex: "0", "data-candidate": id,
        "aria-label": `Response ${letter[id]}` },
        h("header", { class: "cand-head" }, h("span", { class: "letter", text: letter[id] }),
          h("span", { class: "cand-status" })),
        h("div", { class: "text", text: candidate.text }),
        h("div", { class: "cand-controls" }, likert, flags));
      syncRateCard(card, id);
      return card;
    }

    // Step 2: rank ---------------------------------------------------------------------------
    function rankCard(candidate) {
      const id = candidate.id;
      const rating = draft.ratings[id];
      const card = h("article", { class: "cand compact", tabindex: "0", draggable: "true", "data-candidate": id,
        "aria-label": `Response ${letter[id]}` },
        h("header", { class: "cand-head" },
          h("span", { class: "letter", text: letter[id] }),
          h("span", { class: "chip", title: "Your rating", text: `${rating.likert}/${LIKERT_MAX}` }),
          rating.flags.length ? h("span", { class: "chip warn", title: rating.flags.map((f) => config.flags[f]).join("\n"),
            text: `${rating.flags.length} flag${rating.flags.length > 1 ? "s" : ""}` }) : null,
          h("span", { class: "cand-status" })),
        h("div", { class: "text", text: candidate.text }));
      card.addEventListener("dragstart", (event) => {
        event.dataTransfer.setData("text/plain", String(id));
        event.dataTransfer.effectAllowed = "move";
        card.classList.add("dragging");
      });
      card.addEventListener("dragend", () => card.classList.remove("dragging"));
      return card;
    }

    function tierRow(tier) {
      const label = tier === 0 ? "Not ranked" : tier === 1 ? "1" : String(tier);
      const row = h("div", { class: `tier${tier === 0 ? " pool" : ""}`, "data-tier": tier },
        h("div", { class: "tier-label" }, h("strong", { text: label }),
          tier === 1 ? h("small", { text: "best" }) : tier === k ? h("small", { text: "worst" }) : null),
        h("div", { class: "tier-drop", "aria-label": tier === 0 ? "Not ranked yet" : `Tier ${tier}` }));
      row.addEventListener("dragover", (event) => {
        event.preventDefault();
        event.dataTransfer.dropEffect = "move";
        row.classList.add("over");
      });
      row.addEventListener("dragleave", (event) => {
        if (!row.contains(event.relatedTarget)) row.classList.remove("over");
      });
      row.addEventListener("drop", (event) => {
        event.preventDefault();
        row.classList.remove("over");
        const id = Number(event.dataTransfer.getData("text/plain"));
        if (ids.includes(id)) setTier(id, tier, false);
      });
      return row;
    }

    function placeCards() {
      for (const id of ids) {
        const row = board.querySelector(`.tier[data-tier="${draft.tiers[id] || 0}"] .tier-drop`);
        const card = cardOf(id);
        // Keep display order within a row, so ties read A, B… and nothing jumps around.
        const after = [...row.children].find((other) => ids.indexOf(Number(other.dataset.candidate)) > ids.indexOf(id));
        if (card.parentElement !== row || (after && card.nextElementSibling !== after)) row.insertBefore(card, after || null);
        const tier = draft.tiers[id];
        const tied = tier && ids.some((other) => other !== id && draft.tiers[other] === tier);
        card.querySelector(".cand-status").textContent = tier ? `Tier ${tier}${tied ? " (tie)" : ""}` : "Not ranked";
      }
      const pool = board.querySelector(".tier.pool");
      pool.classList.toggle("empty", !pool.querySelector(".cand"));
      const placed = ids.filter((id) => draft.tiers[id]).length;
      note.textContent = placed < k
        ? `${placed} of ${k} responses ranked. Same tier = tie.`
        : "All ranked. Press Enter to submit.";
      const send = actions.querySelector("[type=submit]");
      if (send) send.disabled = placed < k;
    }

    function setTier(id, tier, keepFocus) {
      if (tier) draft.tiers[id] = tier; else delete draft.tiers[id];
      persist();
      const focused = document.activeElement === cardOf(id);
      placeCards();
      // Moving a node in the DOM drops its focus; give it back so the keyboard flow goes on.
      if (keepFocus || focused) focusCard(id);
    }

    // Rendering and keys ---------------------------------------------------------------------
    function render(focusId, initial) {
      steps.querySelectorAll("li").forEach((li) => {
        if (li.dataset.step === draft.step) li.setAttribute("aria-current", "step"); else li.removeAttribute("aria-current");
      });
      board.className = `board ${draft.step}`;
      if (draft.step === "rate") {
        board.replaceChildren(...candidates.map(rateCard));
        actions.replaceChildren(
          h("button", { type: "button", class: "button primary", "data-action": "to-rank",
            onclick: () => setStep("rank") }, "Continue to ranking ", kbd("Enter")));
        updateRateProgress();
        const firstOpen = ids.find((id) => !draft.ratings[id].likert);
        // On first load keep the prompt in view; the focused card still takes the keys.
        focusCard(focusId || firstOpen || ids[0], initial);
      } else {
        const rows = [tierRow(0)];
        for (let t = 1; t <= k; t++) rows.push(tierRow(t));
        board.replaceChildren(h("div", { class: "tiers" }, rows));
        const pool = board.querySelector(".tier.pool .tier-drop");
        candidates.forEach((c) => pool.append(rankCard(c)));
        actions.replaceChildren(
          h("button", { type: "button", class: "button", onclick: () => setStep("rate") }, "← Back to rating"),
          h("button", { type: "submit", class: "button primary" }, "Submit ranking ", kbd("Enter")));
        placeCards();
        const firstOpen = ids.find((id) => !draft.tiers[id]);
        focusCard(focusId || firstOpen || ids[0], initial);
      }
    }

    board.addEventListener("keydown", (event) => {
      const card = event.target.closest(".cand");
      if (!card || event.ctrlKey || event.metaKey || event.altKey) return;
      const id = Number(card.dataset.candidate);
      const key = event.key;
      if (key === "ArrowDown" || key === "ArrowRight") {
        event.preventDefault(); moveFocus(id, 1); return;
      }
      if (key === "ArrowUp" || key === "ArrowLeft") {
        event.preventDefault(); moveFocus(id, -1); return;
      }
      if (key === "Home" || key === "End") {
        event.preventDefault(); focusCard(key === "Home" ? ids[0] : ids[k - 1]); return;
      }
      const digit = /^[0-9]$/.test(key) ? Number(key) : null;
      if (draft.step === "rate") {
        if (digit !== null && digit >= LIKERT_MIN && digit <= LIKERT_MAX) {
          event.preventDefault(); setLikert(id, digit); card.focus(); return;
        }
        const flag = FLAG_NAMES.find((name) => FLAG_KEYS[name] === key.toLowerCase());
        if (flag && key.length === 1) { event.preventDefault(); toggleFlag(id, flag); return; }
        if (key === "Enter") {
          event.preventDefault();
          if (allRated()) setStep("rank");
          else {
            const open = ids.find((other) => !draft.ratings[other].likert);
            note.textContent = `Rate every response first: ${letter[open]} has no rating yet.`;
            focusCard(open);
          }
        }
      } else {
        if (digit !== null && digit >= 1 && digit <= k) { event.preventDefault(); setTier(id, digit, true); return; }
        if (key === "0" || key === "Backspace" || key === "Delete") { event.preventDefault(); setTier(id, null, true); return; }
        if (key === "Escape") { event.preventDefault(); setStep("rate", id); return; }
        if (key === "Enter") {
          event.preventDefault();
          if (allTiered()) form.requestSubmit();
          else {
            const open = ids.find((other) => !draft.tiers[other]);
            note.textContent = `Rank every response first: ${letter[open]} has no tier yet.`;
            focusCard(open);
          }
        }
      }
    });

    form.addEventListener("submit", (event) => {
      event.preventDefault();
      if (draft.step !== "rank" || !allTiered() || !allRated()) return;
      submit(form, "ranking", {
        ratings: ids.map((id) => ({ candidate: id, tier: draft.tiers[id], likert: draft.ratings[id].likert,
          flags: draft.ratings[id].flags })),
      });
    });

    if (draft.step === "rank" && !allRated()) draft.step = "rate";
    render(undefined, true);
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
      row([kbd("↑"), kbd("↓"), " ", kbd("Tab")], "Move between responses");
      row([kbd(String(LIKERT_MIN)), "–", kbd(String(LIKERT_MAX))], "Rate the focused response (step 1)");
      row([kbd("F"), " ", kbd("H"), " …"], "Toggle a flag (letters shown on each)");
      row([kbd("Enter")], "Go to ranking, then submit");
      row([kbd("1"), "–", kbd(String(config.k))], "Put in a tier (step 2); same digit = tie");
      row([kbd("0"), " ", kbd("⌫")], "Take out of its tier");
      row([kbd("Esc")], "Back to rating");
      row(["drag"], "Drop a response on a tier row");
    } else if (kind) {
      row([kbd("Ctrl"), "+", kbd("Enter")], "Submit");
      row([kbd("Tab")], "Next field");
    }
    legend.replaceChildren(...rows);
    legend.parentElement.hidden = rows.length === 0;
  }

  drafts.prune();
  loadNext();
})();
