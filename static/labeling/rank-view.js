/* The ranking task: the prompt kept in view, the K responses side by side (one at a time on a phone), a
 * Likert key per response that moves on by itself, and a ranking that starts from the ratings.
 *
 * All rules live in ranking-state.js; this module renders the state and maps keys, clicks, taps and drops
 * to its functions.
 *
 * Keys, on a response: 1-7 rate it and go to the next; ←/→ previous/next; ↑/↓ scroll it; F flags; R raw text;
 * D on one response, then on another, marks the words that differ between them (D again: back).
 * On the ranking: A-I pick a response; ↑/↓ move it; Shift+↑/↓ tie it with its neighbour; 0 takes it out;
 * U undoes; Esc goes back to the responses. Anywhere: P folds the prompt; Enter moves on, then submits.
 */
import * as R from "./ranking-state.js";
import { diffWords, sides } from "./diff.js";
import { h, kbd, trusted } from "./dom.js";

const SCROLL_STEP = 80;
// The responses' height the last task measured (fitColumns), which the next task starts from.
let columnHeight = null;

/** Shortcut letters for the flags: mnemonic ones for InstructGPT's list, free letters for others. */
export function assignFlagKeys(names) {
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
    const free = (name.replace(/[^a-z]/g, "") + "abcdefghijklmnopqrstuvwxyz").split("").find((c) => !used.has(c));
    if (free) { keys[name] = free; used.add(free); }
  }
  return keys;
}

/** The prompt (or conversation), sticky above the responses and folded to a few lines when long. */
export function renderPromptBar(messages, roleLabels) {
  const body = h("div", { class: "prompt-body" }, messages.map((message, i) => h("div", {
    class: `msg msg-${roleLabels[message.role] ? message.role : "other"}${i < messages.length - 1 ? " earlier" : ""}`,
  },
  h("div", { class: "role", text: roleLabels[message.role] || String(message.role) }),
  trusted("div", { class: "md" }, message.html))));
  const toggle = h("button", { type: "button", class: "button small prompt-toggle", "aria-expanded": "false" },
    "Show all ", kbd("P"));
  const bar = h("section", { class: "prompt-bar folded", "aria-label": messages.length > 1 ? "Conversation" : "Prompt" },
    body, toggle);
  toggle.addEventListener("click", () => togglePrompt(bar));
  return bar;
}

function togglePrompt(bar) {
  const folded = bar.classList.toggle("folded");
  const toggle = bar.querySelector(".prompt-toggle");
  toggle.setAttribute("aria-expanded", String(!folded));
  toggle.firstChild.textContent = folded ? "Show all " : "Fold ";
}

/** After layout: hide the prompt's toggle when the prompt fits folded. */
function updatePromptToggle(bar) {
  const body = bar.querySelector(".prompt-body");
  const folded = bar.classList.contains("folded");
  bar.querySelector(".prompt-toggle").hidden = folded && body.scrollHeight <= body.clientHeight + 1;
}

export function renderRank(task, ctx) {
  const { root, config, draft, persist, submit, errorBox, clearErrors } = ctx;
  const candidates = task.candidates;
  const ids = candidates.map((c) => c.id);
  const k = ids.length;
  const [likertMin, likertMax] = config.likert;
  const flagNames = Object.keys(config.flags);
  const flagKeys = assignFlagKeys(flagNames);
  const byId = Object.fromEntries(candidates.map((c) => [c.id, c]));
  // Preference-strength names, strongest first, and their labels: the server's one definition.
  const scale = Object.keys(config.strengths);
  let state = R.restore(ids, draft.ranking, scale);
  let current = 0; // index of the response shown on a phone and focused on wide screens
  let tapMode = false;
  const view = { raw: Boolean(draft.raw) };
  // Comparing two responses: the one picked first (waiting for a second), or the pair being shown.
  const compare = { picked: null, pair: null };

  const form = h("form", { class: "task-form rank compare", novalidate: true, "data-k": k });
  const prompt = renderPromptBar(task.prompt.messages.map((m, i) => ({ ...m, html: task.prompt.messages_html[i] })),
    ctx.roleLabels);
  const columns = h("div", { class: "responses" });
  const pager = h("nav", { class: "pager", "aria-label": "Responses" },
    h("button", { type: "button", class: "button small", "data-go": "-1", "aria-label": "Previous response", text: "‹" }),
    h("span", { class: "position", "aria-live": "polite" }),
    h("button", { type: "button", class: "button small", "data-go": "1", "aria-label": "Next response", text: "›" }));
  const ranking = h("section", { class: "ranking", "aria-label": "Your ranking" });
  const note = h("p", { class: "step-note", "aria-live": "polite" });
  form.append(prompt, columns, pager, ranking, errorBox());
  root.append(form);

  // The responses' names in display order, as the server writes them on the labeler's history too.
  const letter = (id) => config.letters[ids.indexOf(id)];
  const columnOf = (id) => columns.querySelector(`.resp[data-candidate="${id}"]`);
  const itemOf = (id) => ranking.querySelector(`.rank-item[data-candidate="${id}"]`);

  function update(next) {
    if (next === state) return;
    state = next;
    draft.ranking = R.snapshot(state);
    persist();
    clearErrors(form);
    sync();
  }

  // --- Responses --------------------------------------------------------------------------------

  function responseColumn(candidate, index) {
    const id = candidate.id;
    const likert = h("div", { class: "likert", role: "group",
      "aria-label": `Rate response ${letter(id)}, ${likertMin} (very bad) to ${likertMax} (excellent)` });
    for (let v = likertMin; v <= likertMax; v++) {
      likert.append(h("button", { type: "button", tabindex: "-1", value: v, text: String(v), "aria-label": `Rate ${v}`,
        onclick: () => { rateAndMoveOn(id, v); } }));
    }
    const flagList = h("fieldset", { class: "flag-list", hidden: true },
      h("legend", { class: "visually-hidden", text: `Flags for response ${letter(id)}` }),
      flagNames.map((name) => h("label", { class: "flag" },
        h("input", { type: "checkbox", value: name, onchange: () => update(R.toggleFlag(state, id, name)) }),
        flagKeys[name] ? kbd(flagKeys[name].toUpperCase()) : null,
        h("span", { text: config.flags[name] }))));
    const flagsToggle = h("button", { type: "button", class: "button small flags-toggle", tabindex: "-1",
      "aria-expanded": "false", "aria-label": "Flags", title: "Flags (key F)", onclick: () => toggleFlags(id) }, "⚑");
    const compareToggle = h("button", { type: "button", class: "button small compare-toggle", tabindex: "-1",
      "aria-pressed": "false", "aria-label": "Compare with another response", title: "Compare with another response (key D)",
      onclick: () => toggleCompare(id) }, "⇄");
    const column = h("article", { class: "resp", tabindex: "0", "data-candidate": id, "data-index": index,
      "aria-label": `Response ${letter(id)}` },
    h("header", { class: "resp-head" },
      h("span", { class: "letter", text: letter(id) }), likert, flagsToggle, compareToggle,
      h("span", { class: "resp-status" })),
    h("div", { class: "flags-row" }, h("span", { class: "flag-chips" }), flagList),
    h("div", { class: "resp-body" },
      trusted("div", { class: "md" }, candidate.html),
      h("pre", { class: "text raw", text: candidate.text })));
    column.addEventListener("focus", () => { current = index; syncPager(); });
    column.addEventListener("click", (event) => {
      if (tapMode && !event.target.closest("button, input, label, a")) tapRank(id);
    });
    return column;
  }

  function toggleFlags(id, open) {
    const column = columnOf(id);
    const list = column.querySelector(".flag-list");
    const show = open === undefined ? list.hidden : open;
    list.hidden = !show;
    column.querySelector(".flags-toggle").setAttribute("aria-expanded", String(show));
    if (show) list.querySelector("input").focus();
    else column.focus();
  }

  // --- Comparing two responses -------------------------------------------------------------------

  function toggleCompare(id) {
    if (compare.pair) {
      compare.pair = null;
    } else if (compare.picked === null || compare.picked === id) {
      compare.picked = compare.picked === id ? null : id;
    } else {
      compare.pair = [compare.picked, id];
      compare.picked = null;
    }
    showComparison();
  }

  /** Each of the two responses shows its own text with the words the other lacks marked (text nodes only). */
  function showComparison() {
    const shown = {};
    if (compare.pair) {
      const [first, second] = compare.pair;
      const { before, after } = sides(diffWords(byId[first].text, byId[second].text));
      shown[first] = { segments: before, other: second };
      shown[second] = { segments: after, other: first };
    }
    for (const id of ids) {
      const column = columnOf(id);
      column.querySelector(".diff")?.remove();
      const mine = shown[id];
      column.classList.toggle("diff-shown", Boolean(mine));
      column.querySelector(".compare-toggle").setAttribute("aria-pressed", String(Boolean(mine) || compare.picked === id));
      if (!mine) continue;
      column.querySelector(".resp-body").prepend(h("div", { class: "text diff",
        "aria-label": `Response ${letter(id)}, words not in ${letter(mine.other)} marked` },
      mine.segments.map((s) => (s.kind === "same" ? s.text : h("mark", { class: `diff-${s.kind}`, text: s.text })))));
    }
    note.textContent = compare.picked !== null
      ? `Comparing ${letter(compare.picked)}: press D on another response.`
      : compare.pair ? `Words that differ between ${letter(compare.pair[0])} and ${letter(compare.pair[1])} are marked; D again to go back.`
        : describe(R.missing(state, { likert: true }));
  }

  function focusResponse(index, options) {
    current = Math.max(0, Math.min(k - 1, index));
    syncPager();
    columnOf(ids[current]).focus(options);
  }

  function rateAndMoveOn(id, value) {
    update(R.rate(state, id, value));
    const open = R.unrated(state);
    if (open.length) {
      const after = open.find((other) => ids.indexOf(other) > ids.indexOf(id));
      focusResponse(ids.indexOf(after ?? open[0]));
    } else {
      focusRanking();
    }
  }

  // --- Ranking ----------------------------------------------------------------------------------

  function rankItem(id) {
    const item = h("li", { class: "rank-item", tabindex: "-1", draggable: "true", "data-candidate": id,
      "aria-label": `Response ${letter(id)}` },
    h("span", { class: "letter", text: letter(id) }),
    h("span", { class: "chip score" }),
    h("span", { class: "moves" },
      h("button", { type: "button", class: "button small", tabindex: "-1", "aria-label": `Move ${letter(id)} up`,
        text: "↑", onclick: () => { update(R.move(state, id, -1)); focusItem(id); } }),
      h("button", { type: "button", class: "button small", tabindex: "-1", "aria-label": `Move ${letter(id)} down`,
        text: "↓", onclick: () => { update(R.move(state, id, 1)); focusItem(id); } }),
      h("button", { type: "button", class: "button small", tabindex: "-1", "aria-label": `Tie ${letter(id)} with the one above`,
        text: "=", onclick: () => { update(R.tie(state, id, -1)); focusItem(id); } })));
    item.addEventListener("dragstart", (event) => {
      event.dataTransfer.setData("text/plain", String(id));
      event.dataTransfer.effectAllowed = "move";
      item.classList.add("dragging");
    });
    item.addEventListener("dragend", () => item.classList.remove("dragging"));
    item.addEventListener("focus", () => { current = ids.indexOf(id); syncPager(); });
    return item;
  }

  function dropTarget(node, onDrop) {
    node.addEventListener("dragover", (event) => {
      event.preventDefault();
      event.stopPropagation();
      event.dataTransfer.dropEffect = "move";
      node.classList.add("over");
    });
    node.addEventListener("dragleave", (event) => {
      if (!node.contains(event.relatedTarget)) node.classList.remove("over");
    });
    node.addEventListener("drop", (event) => {
      event.preventDefault();
      event.stopPropagation();
      node.classList.remove("over");
      const id = Number(event.dataTransfer.getData("text/plain"));
      if (ids.includes(id)) { update(onDrop(id)); focusItem(id); }
    });
    return node;
  }

  function renderRanking() {
    const list = h("ol", { class: "tiers", "aria-label": "Ranking, best first" });
    const gap = (beforeId) => dropTarget(h("li", { class: "gap", "aria-hidden": "true" }),
      (id) => R.placeBefore(state, id, beforeId));
    state.tiers.forEach((tier, i) => {
      list.append(gap(tier[0]));
      list.append(dropTarget(h("li", { class: "tier", "data-tier": i + 1 },
        h("span", { class: "place", text: String(i + 1) }),
        h("ol", { class: "tier-items" }, tier.map(rankItem))), (id) => R.joinTierOf(state, id, tier[0])));
    });
    list.append(gap(null));
    const pool = dropTarget(h("div", { class: "pool" }, h("span", { class: "pool-label", text: "Not ranked" }),
      h("ol", { class: "tier-items" }, R.unranked(state).map(rankItem))), (id) => R.unrank(state, id));
    pool.hidden = R.unranked(state).length === 0;
    const pair = R.topPair(state);
    const strength = pair ? h("div", { class: "strength", role: "radiogroup", tabindex: "-1",
      "aria-label": `How much better is ${letter(pair[0])} than ${letter(pair[1])}?` },
    h("span", { class: "strength-q", text: `How much better is ${letter(pair[0])} than ${letter(pair[1])}?` }),
    scale.map((value, i) => h("button", { type: "button", role: "radio", tabindex: "-1", "data-strength": value,
      "aria-label": config.strengths[value], title: config.strengths[value],
      "aria-checked": String(state.strength === value),
      onclick: () => { update(R.setStrength(state, value, scale)); focusStrength(); } },
    kbd(String(i + 1)), ` ${config.strengths[value].split(" ")[0]}`)),
    R.strengthRequired(state) ? null : h("span", { class: "hint", text: "(optional)" })) : null;
    const actions = h("div", { class: "actions" },
      h("button", { type: "button", class: "button small", "data-action": "undo", disabled: !state.past.length,
        onclick: () => update(R.undo(state)) }, "Undo ", kbd("U")),
      h("button", { type: "button", class: "button small", "data-action": "by-ratings",
        title: "Back to the ranking the ratings give",
        onclick: () => { tapMode = false; update(R.rankByRatings(state)); } }, "Reset"),
      h("button", { type: "button", class: "button small", "data-action": "tap", "aria-pressed": String(tapMode),
        onclick: startTapMode }, "Tap to rank"),
      h("button", { type: "submit", class: "button primary" }, "Submit ", kbd("Enter")));
    ranking.replaceChildren(h("h2", { class: "section-title", text: "Ranking" }), list, pool, strength, note, actions);
  }

  function focusRanking() {
    if (R.strengthRequired(state) && !state.strength) { focusStrength(); return; }
    const first = R.order(state)[0];
    if (first !== undefined) focusItem(first);
  }

  function focusItem(id) {
    ranking.querySelectorAll(".rank-item").forEach((item) => { item.tabIndex = -1; });
    const item = itemOf(id);
    if (!item) return;
    item.tabIndex = 0;
    item.focus();
  }

  function focusStrength() {
    const group = ranking.querySelector(".strength");
    if (group) group.focus();
  }

  function startTapMode() {
    tapMode = true;
    update(R.clearRanking(state));
    note.textContent = "Tap the responses from best to worst.";
    focusResponse(0);
  }

  function tapRank(id) {
    update(R.placeBefore(state, id, null));
    if (!R.unranked(state).length) tapMode = false;
  }

  // --- Rendering state --------------------------------------------------------------------------

  function syncPager() {
    pager.querySelector(".position").textContent = `${letter(ids[current])} · ${current + 1} of ${k}`;
    columns.querySelectorAll(".resp").forEach((column, i) => column.classList.toggle("current", i === current));
  }

  function sync() {
    const focusedId = Number((document.activeElement.closest("[data-candidate]") || {}).dataset?.candidate);
    const onItem = document.activeElement.classList.contains("rank-item");
    const onStrength = Boolean(document.activeElement.closest(".strength"));
    for (const id of ids) {
      const column = columnOf(id);
      const likert = state.ratings[id];
      column.querySelectorAll(".likert button").forEach((button) => {
        button.setAttribute("aria-pressed", String(Number(button.value) === likert));
      });
      column.querySelectorAll(".flag-list input").forEach((box) => { box.checked = state.flags[id].includes(box.value); });
      column.querySelector(".flag-chips").textContent = state.flags[id].map((f) => config.flags[f]).join(" · ");
      column.classList.toggle("done", likert !== null);
      const tier = R.tierOf(state, id);
      column.querySelector(".resp-status").textContent = tier ? `#${tier}${R.isTied(state, id) ? " tie" : ""}` : "";
      column.classList.toggle("raw-shown", view.raw);
    }
    renderRanking();
    for (const id of ids) {
      const item = itemOf(id);
      item.querySelector(".score").textContent = state.ratings[id] === null ? "–" : `${state.ratings[id]}/${likertMax}`;
    }
    const problems = R.missing(state, { likert: true });
    const send = ranking.querySelector("[type=submit]");
    send.disabled = problems.length > 0;
    if (!tapMode) note.textContent = describe(problems);
    if (onItem && ids.includes(focusedId)) focusItem(focusedId);
    else if (onStrength) focusStrength();
  }

  function describe(problems) {
    if (!problems.length) return "Ready: press Enter to submit.";
    const [first] = problems;
    if (first.problem === "unrated") return `${problems.filter((p) => p.problem === "unrated").length} of ${k} to rate.`;
    if (first.problem === "unranked") return `Rank ${letter(first.id)} too (drag it, or pick it and press ↑/↓).`;
    return `Say how much better ${letter(first.id)} is.`;
  }

  function sendIfReady() {
    const problems = R.missing(state);
    if (!problems.length) { form.requestSubmit(); return; }
    note.textContent = describe(problems);
    const [first] = problems;
    if (first.problem === "unrated") focusResponse(ids.indexOf(first.id));
    else if (first.problem === "strength") focusStrength();
    else focusItem(first.id);
  }

  // --- Keys -------------------------------------------------------------------------------------

  form.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) {
      if ((event.ctrlKey || event.metaKey) && event.key === "z") { event.preventDefault(); update(R.undo(state)); }
      return;
    }
    if (event.target.closest("textarea, input[type=text]")) return;
    const key = event.key;
    const lower = key.length === 1 ? key.toLowerCase() : key;
    const inFlags = event.target.closest(".flag-list");
    const column = event.target.closest(".resp");
    const item = event.target.closest(".rank-item");
    const id = Number((column || item || {}).dataset?.candidate);
    const handled = () => event.preventDefault();

    if (inFlags) {
      const flag = flagNames.find((name) => flagKeys[name] === lower);
      if (flag) { handled(); update(R.toggleFlag(state, id, flag)); return; }
      if (key === "Escape" || key === "Enter") { handled(); toggleFlags(id, false); }
      return;
    }
    if (lower === "p") { handled(); togglePrompt(prompt); return; }
    if (lower === "u") { handled(); update(R.undo(state)); return; }
    if (event.target.closest(".strength")) {
      const level = Number(key);
      if (level >= 1 && level <= scale.length) { handled(); update(R.setStrength(state, scale[level - 1], scale)); return; }
      if (key === "Escape") { handled(); focusItem(R.order(state)[0]); return; }
    }
    if (column && event.target === column) {
      const digit = /^[0-9]$/.test(key) ? Number(key) : null;
      if (digit !== null && digit >= likertMin && digit <= likertMax) { handled(); rateAndMoveOn(id, digit); return; }
      if (key === "ArrowRight" || key === "ArrowLeft") { handled(); focusResponse(current + (key === "ArrowRight" ? 1 : -1)); return; }
      if (key === "ArrowDown" || key === "ArrowUp" || key === "PageDown" || key === "PageUp" || key === " ") {
        handled();
        const body = column.querySelector(".resp-body");
        const page = body.clientHeight - 40;
        const step = { ArrowDown: SCROLL_STEP, ArrowUp: -SCROLL_STEP, PageDown: page, PageUp: -page, " ": page }[key];
        body.scrollBy({ top: event.shiftKey && key === " " ? -page : step });
        return;
      }
      if (lower === "f") { handled(); toggleFlags(id); return; }
      if (lower === "d") { handled(); toggleCompare(id); return; }
      if (lower === "r") { handled(); view.raw = !view.raw; draft.raw = view.raw; persist(); sync(); return; }
    }
    if (item) {
      if (key === "ArrowUp" || key === "ArrowDown") {
        handled();
        const direction = key === "ArrowUp" ? -1 : 1;
        if (!R.tierOf(state, id)) update(R.placeBefore(state, id, null));
        else update(event.shiftKey ? R.tie(state, id, direction) : R.move(state, id, direction));
        focusItem(id);
        return;
      }
      if (key === "ArrowLeft" || key === "ArrowRight") {
        handled();
        const flat = R.order(state);
        focusItem(flat[Math.max(0, Math.min(k - 1, flat.indexOf(id) + (key === "ArrowLeft" ? -1 : 1)))]);
        return;
      }
      if (key === "=") { handled(); update(R.tie(state, id, -1)); focusItem(id); return; }
      if (key === "0" || key === "Delete" || key === "Backspace") { handled(); update(R.unrank(state, id)); focusItem(id); return; }
      if (key === "Escape") { handled(); focusResponse(ids.indexOf(id)); return; }
    }
    if (item || event.target.closest(".ranking")) {
      const picked = ids.find((other) => letter(other).toLowerCase() === lower);
      if (picked !== undefined) { handled(); focusItem(picked); return; }
    }
    if (key === "Enter" && !event.target.closest("button")) {
      handled();
      if (column && R.unrated(state).length) { sendIfReady(); return; }
      if (column && !event.target.closest(".ranking")) { focusRanking(); return; }
      sendIfReady();
    }
  });

  pager.addEventListener("click", (event) => {
    const go = event.target.closest("[data-go]");
    if (go) focusResponse(current + Number(go.dataset.go));
  });

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (R.missing(state).length) { sendIfReady(); return; }
    submit(form, ctx.submitPath || "ranking", R.submission(state));
  });

  // --- Layout: the responses take the height left on screen and scroll on their own ---------------

  // Measured after the browser's own layout, never by forcing one while the task is built (that cost 2-30 ms
  // per task, most of the page's share of submit-to-next-task): a ResizeObserver runs between layout and
  // paint, when reading sizes is free. A new task starts from the height the previous one measured, nearly
  // always right, so its first frame is laid out once; when it is not, the correction lands before paint.
  function fitColumns() {
    if (!form.isConnected) { observer.disconnect(); return; }  // this task was replaced by the next
    const top = columns.getBoundingClientRect().top + window.scrollY;
    const phone = getComputedStyle(pager).display !== "none";
    // On a phone the ranking comes below the one response shown; on a wide screen everything fits one screen.
    const below = phone ? pager.offsetHeight + 24 : ranking.offsetHeight + 24;
    const height = phone ? window.innerHeight * 0.62 : window.innerHeight - top - below;
    const value = `${Math.round(Math.max(240, height))}px`;
    columnHeight = value;
    if (columns.style.getPropertyValue("--column-height") !== value) columns.style.setProperty("--column-height", value);
    updatePromptToggle(prompt);
  }
  const observer = new ResizeObserver(fitColumns);
  ctx.onResize(fitColumns);
  if (columnHeight) columns.style.setProperty("--column-height", columnHeight);

  columns.append(...candidates.map(responseColumn));
  sync();
  // The prompt folding or unfolding and the ranking growing or shrinking move the space left for the columns.
  observer.observe(prompt);
  observer.observe(ranking);
  // What to focus first, called by the page once everything else is built.
  return () => {
    const firstOpen = R.unrated(state)[0];
    if (firstOpen !== undefined) focusResponse(ids.indexOf(firstOpen), { preventScroll: true });
    else focusRanking();
  };
}
