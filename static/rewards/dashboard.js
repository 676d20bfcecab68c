// Reward-model dashboard: draws everything from one JSON endpoint, and polls it quickly while a run
// is active. All text goes in through textContent, so nothing from the server is parsed as HTML.
(function () {
  "use strict";
  const projectId = JSON.parse(document.getElementById("rm-project-id").textContent);
  const api = `/api/projects/${projectId}`;
  const SVG = "http://www.w3.org/2000/svg";
  const W = 640, H = 220, PAD = { left: 44, right: 12, top: 12, bottom: 26 };
  let timer = null;

  function csrfToken() {
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  async function call(method, url, body) {
    const response = await fetch(url, {
      method,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let data = null;
    try { data = await response.json(); } catch (e) { data = null; }
    return { ok: response.ok, status: response.status, data };
  }

  function el(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }

  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, String(value));
    if (text !== undefined) node.textContent = String(text);
    return node;
  }

  // What each run status means to the admin, as it is: a queued run has not started.
  const RUN_STATUS = {
    queued: "queued, waiting for a training worker",
    running: "running",
    succeeded: "done",
    failed: "failed",
  };

  const fmt = (x, digits = 3) => (x === null || x === undefined ? "–" : Number(x).toFixed(digits));

  // A line chart of points [{x, y, label, current}] with y in [yMin, yMax]; optional dashed level line.
  function drawChart(target, points, { yMin, yMax, level, xLabel, connect = true, emptyText }) {
    target.replaceChildren();
    const plotW = W - PAD.left - PAD.right, plotH = H - PAD.top - PAD.bottom;
    target.appendChild(svg("line", { class: "axis", x1: PAD.left, y1: PAD.top, x2: PAD.left, y2: H - PAD.bottom }));
    target.appendChild(svg("line", { class: "axis", x1: PAD.left, y1: H - PAD.bottom, x2: W - PAD.right, y2: H - PAD.bottom }));
    if (!points.length) {
      target.appendChild(svg("text", { x: W / 2, y: H / 2, "text-anchor": "middle" }, emptyText));
      return;
    }
    const xs = points.map((p) => p.x);
    const xMin = Math.min(...xs), xMax = Math.max(...xs);
    const sx = (x) => PAD.left + (xMax === xMin ? plotW / 2 : ((x - xMin) / (xMax - xMin)) * plotW);
    const sy = (y) => PAD.top + plotH - ((y - yMin) / (yMax - yMin || 1)) * plotH;
    for (const tick of [yMin, (yMin + yMax) / 2, yMax]) {
      target.appendChild(svg("text", { x: PAD.left - 6, y: sy(tick) + 4, "text-anchor": "end" }, fmt(tick, 2)));
    }
    target.appendChild(svg("text", { x: PAD.left, y: H - 6 }, `${xLabel} ${xMin}`));
    target.appendChild(svg("text", { x: W - PAD.right, y: H - 6, "text-anchor": "end" }, `${xLabel} ${xMax}`));
    if (level !== undefined) {
      target.appendChild(svg("line", { class: "chance", x1: PAD.left, x2: W - PAD.right, y1: sy(level), y2: sy(level) }));
    }
    if (connect && points.length > 1) {
      target.appendChild(svg("polyline", { class: "line", points: points.map((p) => `${sx(p.x)},${sy(p.y)}`).join(" ") }));
    }
    for (const p of points) {
      if (!p.label) continue;
      const dot = svg("circle", { class: p.current ? "dot current" : "dot", cx: sx(p.x), cy: sy(p.y), r: 4 });
      dot.appendChild(svg("title", {}, p.label));
      target.appendChild(dot);
    }
  }

  function renderProgress(progress, agreement) {
    const box = document.getElementById("progress");
    box.replaceChildren();
    const stat = (label, value) => {
      const item = el("div", null, "rm-stat");
      item.appendChild(el("b", value));
      item.appendChild(el("span", label, "hint"));
      box.appendChild(item);
    };
    for (const [state, count] of Object.entries(progress.prompts)) stat(`prompts ${state.replace(/_/g, " ")}`, count);
    stat("rankings", progress.rankings);
    stat("rankings in the last 7 days", progress.rankings_last_7_days);
    stat("labelers", progress.labelers);
    stat("comparisons", agreement.comparisons);
  }

  function renderAgreement(agreement) {
    const text = agreement.scored
      ? `The current reward model agrees with the labelers on ${fmt(100 * agreement.rm_agreement, 1)}% of ` +
        `${agreement.scored} scored comparisons (reward of the preferred response is higher).`
      : "No candidate has a reward yet: promote a version to score them.";
    document.getElementById("agreement").textContent = text;
  }

  function renderRun(runs) {
    const run = runs[0];
    const box = document.getElementById("run");
    box.hidden = !run;
    if (!run) return false;
    document.getElementById("run-title").textContent =
      `Run ${run.id} (${run.trigger}): ${RUN_STATUS[run.status] || run.status}` +
      (run.status === "queued" ? "" : `, step ${run.step} of ${run.total_steps || "?"} (${fmt(run.percent, 1)}%)`) +
      (run.reward_model ? `, produced version ${run.reward_model}` : "");
    const bar = document.getElementById("run-bar");
    bar.setAttribute("aria-valuenow", String(run.percent));
    document.getElementById("run-bar-fill").style.width = `${Math.max(0, Math.min(100, run.percent))}%`;
    const losses = run.loss_history || [];
    const maxLoss = losses.length ? Math.max(...losses) : 1;
    drawChart(document.getElementById("loss-chart"),
      losses.map((y, i) => ({ x: i + 1, y, label: i === losses.length - 1 ? `step ${i + 1}: ${fmt(y, 4)}` : "" })),
      { yMin: 0, yMax: Math.max(maxLoss, 0.01), xLabel: "step", emptyText: "No step finished yet" });
    document.getElementById("run-log").textContent = run.log;
    const error = document.getElementById("run-error");
    error.hidden = !run.error;
    error.textContent = run.error;
    return run.status === "queued" || run.status === "running";
  }

  function promotionText(v) {
    const decision = v.promotion || {};
    if (!decision.reason) return v.is_current ? "made current by hand" : "–";
    if (decision.promote) return `promoted: ${decision.reason}`;
    return v.is_current ? `made current by hand; the rule had kept it: ${decision.reason}`
      : `kept as a candidate: ${decision.reason}`;
  }

  function renderVersions(versions) {
    const body = document.getElementById("versions");
    body.replaceChildren();
    for (const v of versions) {
      const row = document.createElement("tr");
      const val = v.metrics.validation || {};
      const byAgreement = val.accuracy_by_agreement || {};
      const duel = v.metrics.on_current_validation;
      const cells = [
        `v${v.version}`,
        v.is_current ? "yes" : "",
        fmt(v.validation_accuracy),
        `${fmt((byAgreement.agreed || {}).accuracy)} / ${fmt((byAgreement.disagreed || {}).accuracy)}`,
        duel ? `${fmt(duel.new_accuracy)} vs v${duel.against_version} ${fmt(duel.current_accuracy)}` : "–",
        v.comparisons, v.prompts,
        `${fmt(val.reward_mean, 2)} ± ${fmt(val.reward_std, 2)}`,
        promotionText(v),
        new Date(v.created_at).toLocaleString(),
      ];
      for (const cell of cells) row.appendChild(el("td", cell));
      const actions = el("td");
      if (!v.is_current) {
        const button = el("button", "Make current");
        button.type = "button";
        button.addEventListener("click", () => act("POST", `${api}/reward-models/${v.version}/promote/`, undefined,
          (data) => `Version ${data.version} is now current; its candidates are being rescored.`));
        actions.appendChild(button);
      }
      row.appendChild(actions);
      body.appendChild(row);
    }
    const chronological = [...versions].reverse().filter((v) => v.validation_accuracy !== null);
    drawChart(document.getElementById("accuracy-chart"),
      chronological.map((v) => ({ x: v.version, y: v.validation_accuracy, current: v.is_current,
        label: `v${v.version}: ${fmt(v.validation_accuracy)}` })),
      { yMin: 0, yMax: 1, level: 0.5, xLabel: "version", emptyText: "No version trained yet" });
  }

  async function refresh() {
    clearTimeout(timer);
    const { ok, data } = await call("GET", `${api}/dashboard/`);
    if (!ok) {
      document.getElementById("train-message").textContent = "Could not load the dashboard data.";
      timer = setTimeout(refresh, 15000);
      return;
    }
    renderProgress(data.progress, data.agreement);
    renderAgreement(data.agreement);
    const active = renderRun(data.runs);
    renderVersions(data.versions);
    timer = setTimeout(refresh, active ? 2000 : 15000);
  }

  // `describe(data)` says what the request did, as it is (a training request only queues a run).
  async function act(method, url, body, describe) {
    const message = document.getElementById("train-message");
    const { ok, data } = await call(method, url, body);
    if (ok) {
      message.textContent = describe(data);
    } else if (data && data.detail) {
      message.textContent = data.detail;
    } else {
      message.textContent = data ? Object.entries(data).map(([field, why]) => `${field}: ${why}`).join("; ")
        : "The request failed.";
    }
    refresh();
  }

  document.getElementById("train-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const body = {};
    for (const [name, value] of new FormData(event.target).entries()) {
      if (value !== "") body[name] = Number(value);
    }
    act("POST", `${api}/training-runs/`, body,
      (data) => `Run ${data.id} is ${RUN_STATUS[data.status] || data.status}.`);
  });
  document.getElementById("rollback").addEventListener("click", () => act("POST", `${api}/reward-models/rollback/`,
    undefined, (data) => `Version ${data.version} is current again.`));
  refresh();
})();
