"""Labeler effort on the ranking page: headless Chromium as a keyboard-only labeler through K=4 ranking tasks.

Responses come from ../shared/data/oasst_ranked_groups.jsonl (Open-Assistant prompts with ranked replies;
the first four replies of each group with at least four). For each task the labeler gives Likert ratings
that follow the Open-Assistant ranking except for one adjacent pair, so the prefilled ranking is right but
for one swap, which the labeler fixes; flags stay off. The server is gunicorn on PostgreSQL (production
settings), the browser Debian's Chromium at 1366x768.

Measured per ranking:
  keys_per_ranking       keys pressed from the task's first render to its submit (median)
  scroll_px_per_ranking  scrolling needed to read every response and reach every control: the page scroll
                         to bring the Submit button into view plus each response's own overflow (median)
  next_task_ms_p95       the submit key to the next task's first response painted (p95); the submit request
                         alone (it answers with the next task) is reported as submit_request_ms_p50
  page_height_px         document height (median)
  phone_overflow_px      horizontal overflow of the ranking page at 390x844
Every stored ranking is checked against the order the labeler meant; a mismatch fails the run.

Usage: python bench/labeler_effort.py [--tasks 20] [--screenshot docs/ranking-page.png]
Prints one JSON object on its last line.
"""
import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from benchdb import database_url, fresh_database

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "oasst_ranked_groups.jsonl"
DB_NAME = "rankwise_bench_effort"
DATABASE_URL = database_url(DB_NAME)
PORT = int(os.environ.get("BENCH_PORT", "8773"))
CHROMIUM = os.environ.get("RANKWISE_CHROMIUM", "/usr/bin/chromium")
K = 4
USER, PASSWORD = "effort", "effort-bench-pw"
VAR_DIR = tempfile.mkdtemp(prefix="rankwise-effort-")

# Set before Django is imported: this process seeds the database with the ORM.
os.environ.update({"DATABASE_URL": DATABASE_URL, "DJANGO_SETTINGS_MODULE": "config.settings",
                   "CELERY_BROKER_URL": "memory://", "DJANGO_DEBUG": "0", "RANKWISE_VAR_DIR": VAR_DIR,
                   "RANKWISE_LOG_LEVEL": "WARNING", "PYTHONWARNINGS": "ignore",
                   # Production settings refuse to start without a real key (issue 9's hardening).
                   "DJANGO_SECRET_KEY": os.environ.get("DJANGO_SECRET_KEY") or secrets.token_urlsafe(50),
                   # Playwright's sync API runs an event loop; the ORM calls happen between browser steps.
                   "DJANGO_ALLOW_ASYNC_UNSAFE": "true"})
sys.path.insert(0, str(ROOT))

# Installed once per page: when Enter goes down, and when a new task's first response has been painted.
TIMING_SCRIPT = """
(() => {
  if (window.__effort) return;
  window.__effort = { keys: 0, submitAt: null, shownAt: null, requestMs: [] };
  // The submit's round trip (it answers with the next task), to tell server time from rendering time.
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      if (entry.name.endsWith("/ranking/")) window.__effort.requestMs.push(entry.responseEnd - entry.startTime);
    }
  }).observe({ type: "resource", buffered: false });
  document.addEventListener("keydown", (e) => {
    window.__effort.keys += 1;
    if (e.key === "Enter") window.__effort.submitAt = performance.now();
  }, true);
  const root = document.getElementById("task");
  let seen = root.dataset.taskId;
  new MutationObserver(() => {
    if (root.dataset.taskId !== seen && root.querySelector(".resp")) {
      seen = root.dataset.taskId;
      requestAnimationFrame(() => { window.__effort.shownAt = performance.now(); });
    }
  }).observe(root, { childList: true, subtree: false, attributes: true });
})();
"""

MEASURE_SCRIPT = """
() => {
  const submit = document.querySelector(".ranking [type=submit]");
  const pageScroll = Math.max(0, submit.getBoundingClientRect().bottom + window.scrollY - window.innerHeight);
  const own = [...document.querySelectorAll(".resp .resp-body")].map((b) => Math.max(0, b.scrollHeight - b.clientHeight));
  return { pageScroll, own, height: document.documentElement.scrollHeight };
}
"""


def groups(count):
    with open(DATA) as handle:
        rows = [json.loads(line) for line in handle]
    chosen = [row for row in rows if len(row["responses"]) >= K][:count + 1]
    if len(chosen) < count + 1:
        raise SystemExit(f"{DATA} has only {len(chosen)} groups with {K} responses")
    return chosen


def seed(chosen):
    """One project (K=4, no demonstrations), one labeler, and a ready prompt per group. Returns, per candidate
    text, the group's rank of that response (0 = best)."""
    import django

    django.setup()
    from django.contrib.auth.models import Group, User

    from labeling import workflow
    from labeling.models import Project
    from labeling.roles import LABELER_GROUP

    project = Project.objects.create(name="Effort", guidelines="Rank the responses: most helpful first.", k=K,
                                     overlap=1, demonstrations_enabled=False)
    user = User.objects.create_user(USER, password=PASSWORD)
    user.groups.add(Group.objects.get_or_create(name=LABELER_GROUP)[0])
    rank_of = {}
    for group in chosen:
        responses, ranks = group["responses"][:K], group["ranks"][:K]
        workflow.create_prompt(project, messages=group["messages"], candidates=responses)
        rank_of.update(zip(responses, ranks))
    return project, user, rank_of


def start_server():
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--bind", f"127.0.0.1:{PORT}",
         "--workers", "2", "--log-level", "warning"], cwd=ROOT, env=os.environ, start_new_session=True)
    for _ in range(100):
        try:
            httpx.get(f"http://127.0.0.1:{PORT}/accounts/login/", timeout=2)
            return server
        except httpx.HTTPError:
            time.sleep(0.2)
    server.kill()
    raise RuntimeError("gunicorn did not come up")


def plan(candidates, rank_of, swap_at):
    """The labeler's intended order (Open-Assistant's), and Likert scores that give it except for one swap."""
    intended = sorted(candidates, key=lambda c: rank_of[c["text"]])
    rated = list(intended)
    rated[swap_at], rated[swap_at + 1] = rated[swap_at + 1], rated[swap_at]
    scores = {c["id"]: 6 - i for i, c in enumerate(rated)}
    # The one fix: pick the response rated too low and move it up one place.
    fix = intended[swap_at]["id"]
    return [c["id"] for c in intended], scores, fix


def run(args):
    from playwright.sync_api import sync_playwright

    chosen = groups(args.tasks)
    fresh_database(DB_NAME, commands=(["migrate", "--noinput", "-v", "0"], ["collectstatic", "--noinput", "-v", "0"]))
    project, user, rank_of = seed(chosen)
    server = start_server()
    keys, scrolls, heights, next_ms, request_ms, intended_orders = [], [], [], [], [], {}
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                 args=["--no-sandbox", "--disable-gpu"])
            context = browser.new_context(base_url=f"http://127.0.0.1:{PORT}", viewport={"width": 1366, "height": 768})
            page = context.new_page()
            errors = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto("/accounts/login/")
            page.get_by_label("Username").fill(USER)
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Log in").click()
            page.wait_for_url("**/")
            page.goto(f"/projects/{project.pk}/work/rank/")
            page.wait_for_selector(".responses .resp")
            page.evaluate(TIMING_SCRIPT)
            for n in range(args.tasks):
                task = page.evaluate("document.getElementById('task').dataset.taskId")
                candidates = page.evaluate("""() => [...document.querySelectorAll('.resp')].map((c) => ({
                    id: Number(c.dataset.candidate), text: c.querySelector('.raw').textContent }))""")
                measured = page.evaluate(MEASURE_SCRIPT)
                heights.append(measured["height"])
                scrolls.append(measured["pageScroll"] + sum(measured["own"]))
                intended, scores, fix = plan(candidates, rank_of, n % (K - 1))
                intended_orders[int(task)] = intended
                page.evaluate("window.__effort.keys = 0")
                for candidate in candidates:  # rating moves on to the next response by itself
                    page.keyboard.press(str(scores[candidate["id"]]))
                if n == 0 and args.screenshot:
                    page.screenshot(path=str(ROOT / args.screenshot))
                letter = chr(65 + [c["id"] for c in candidates].index(fix))
                page.keyboard.press(letter.lower())
                page.keyboard.press("ArrowUp")
                page.keyboard.press("Enter")
                page.wait_for_function("prev => document.getElementById('task').dataset.taskId !== prev"
                                       " && window.__effort.shownAt !== null && window.__effort.shownAt > window.__effort.submitAt",
                                       arg=task, timeout=15_000)
                page.wait_for_function("() => window.__effort.requestMs.length > 0")  # a function: the CSP forbids eval
                effort = page.evaluate("window.__effort")
                keys.append(effort["keys"])
                next_ms.append(effort["shownAt"] - effort["submitAt"])
                request_ms.append(effort["requestMs"][-1])
                page.evaluate("window.__effort.requestMs = []")
                page.evaluate("window.__effort.shownAt = null")
            # The extra prompt, on a phone: nothing may stick out sideways.
            phone = browser.new_context(base_url=f"http://127.0.0.1:{PORT}", viewport={"width": 390, "height": 844},
                                        has_touch=True, is_mobile=True, storage_state=context.storage_state())
            phone_page = phone.new_page()
            phone_page.goto(f"/projects/{project.pk}/work/rank/")
            phone_page.wait_for_selector(".responses .resp")
            phone_overflow = phone_page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            phone.close()
            browser.close()
        if errors:
            raise SystemExit(f"JavaScript errors on the page: {errors}")
    finally:
        server.terminate()
        server.wait(10)

    from labeling.models import Ranking

    wrong = 0
    for ranking in Ranking.objects.filter(labeler=user).prefetch_related("ratings"):
        by_tier = sorted(ranking.ratings.all(), key=lambda r: r.tier)
        if [r.candidate_id for r in by_tier] != intended_orders[ranking.task_id] or len({r.tier for r in by_tier}) != K:
            wrong += 1
    stored = Ranking.objects.filter(labeler=user).count()
    if stored != args.tasks or wrong:
        raise SystemExit(f"{stored} rankings stored for {args.tasks} tasks, {wrong} not in the intended order")

    next_ms.sort()
    return {
        "keys_per_ranking": statistics.median(keys),
        "scroll_px_per_ranking": round(statistics.median(scrolls)),
        "next_task_ms_p95": round(next_ms[max(0, round(0.95 * len(next_ms)) - 1)], 1),
        "page_height_px": round(statistics.median(heights)),
        "phone_overflow_px": phone_overflow,
        "next_task_ms_p50": round(statistics.median(next_ms), 1),
        "submit_request_ms_p50": round(statistics.median(request_ms), 1),
        "scroll_px_max": round(max(scrolls)),
        "tasks": args.tasks,
        "rankings_as_intended": stored - wrong,
        "viewport": "1366x768",
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument("--screenshot", default="", help="save the ranking page after rating, e.g. docs/ranking-page.png")
    args = parser.parse_args()
    print(json.dumps(run(args)))


if __name__ == "__main__":
    main()
