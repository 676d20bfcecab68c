"""Labeler API under load: next-task -> submit-ranking against a real gunicorn server on PostgreSQL.

For 1,000 and then 100,000 ready prompts (K=4) it measures
  1. a paced team: 100 labelers, exponential think time (mean 2 s) between getting a task and
     submitting it, for 60 s: p50/p95/p99 of next-task and of submit;
  2. saturation: 50 labelers with no think time, for 30 s: rankings/s and p95;
and checks in the database that no prompt was ranked by more labelers than `overlap`.

Each simulated labeler has its own login session (created server-side with Django's session store, so
that 150 PBKDF2 logins do not dominate the set-up). Overlap is 5 at both sizes so that a 60-second run
cannot drain the pool of 1,000 prompts; every phase starts from a freshly seeded database.

Usage: python bench/labeler_api.py [--sizes 1000 100000] [--paced-seconds 60] [--saturation-seconds 30]
Prints one JSON object on its last line.
"""
import argparse
import asyncio
import json
import os
import random
import secrets
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psycopg

ROOT = Path(__file__).resolve().parent.parent
ADMIN_DSN = os.environ.get("BENCH_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
DB_NAME = "rankwise_bench_api"
DATABASE_URL = f"postgres://rankwise@127.0.0.1:5432/{DB_NAME}"
# What the README recommends for 2 cores: 2 x cores + 1 sync workers.
GUNICORN_WORKERS = int(os.environ.get("BENCH_GUNICORN_WORKERS", "5"))
PORT = int(os.environ.get("BENCH_PORT", "8765"))
K, OVERLAP = 4, 5


def django_env():
    return {**os.environ, "DATABASE_URL": DATABASE_URL, "DJANGO_SETTINGS_MODULE": "config.settings",
            "CELERY_BROKER_URL": "memory://", "DJANGO_DEBUG": "0", "RANKWISE_LOG_LEVEL": "WARNING",
            "PYTHONWARNINGS": "ignore"}


def create_database():
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DB_NAME} OWNER rankwise")
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=django_env(),
                   check=True)


def seed(prompt_count, labeler_count):
    """Seed with set-based SQL: the ORM one row at a time would take minutes for 100,000 prompts."""
    dsn = DATABASE_URL.replace("postgres://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("TRUNCATE labeling_candidaterating, labeling_ranking, labeling_demonstration, labeling_task, "
                     "labeling_candidate, labeling_prompt, labeling_project, django_session RESTART IDENTITY CASCADE")
        project_id = conn.execute(
            "INSERT INTO labeling_project (name, guidelines, k, overlap, write_prompts_enabled, demonstrations_enabled,"
            " ranking_enabled, use_cases, report_threshold, generation, retrain_after_comparisons, created_at)"
            " VALUES ('bench', '', %s, %s, true, true, true, '[]', 2, '{}', 0, now()) RETURNING id",
            [K, OVERLAP]).fetchone()[0]
        conn.execute(
            "INSERT INTO labeling_prompt (project_id, messages, kind, source, use_case, state, generation_error,"
            " generation_claim, external_id, created_at, updated_at)"
            " SELECT %s, jsonb_build_array(jsonb_build_object('role', 'user', 'content',"
            "  'Benchmark prompt number ' || n || ': explain something useful.')),"
            " 'plain', 'imported', '', 'ready', '', '', '', now(), now() FROM generate_series(1, %s) n",
            [project_id, prompt_count])
        conn.execute(
            "INSERT INTO labeling_candidate (prompt_id, index, text, source, model_name, model_revision, sampling,"
            " created_at) SELECT p.id, i, 'Candidate ' || i || ' for prompt ' || p.id, 'imported', 'bench', '',"
            " '{}', now() FROM labeling_prompt p CROSS JOIN generate_series(0, %s) i", [K - 1])
        conn.execute(
            "INSERT INTO labeling_task (project_id, prompt_id, kind, state, lease_count, use_case, skip_reason,"
            " skip_note, time_spent_ms, created_at) SELECT p.project_id, p.id, 'rank', 'open', 0, '', '', '', 0,"
            " now() FROM labeling_prompt p CROSS JOIN generate_series(1, %s)", [OVERLAP])
        conn.execute("ANALYZE")
    script = f"""
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import User
from django.contrib.sessions.backends.db import SessionStore
password = make_password(None)
users = User.objects.bulk_create([User(username=f"bench{{i}}", password=password) for i in range({labeler_count})],
                                 ignore_conflicts=True)
for user in User.objects.filter(username__startswith="bench"):
    session = SessionStore()
    session["_auth_user_id"] = str(user.pk)
    session["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
    session["_auth_user_hash"] = user.get_session_auth_hash()
    session.create()
    print(session.session_key)
"""
    out = subprocess.run([sys.executable, "manage.py", "shell", "-c", script], cwd=ROOT, env=django_env(),
                         check=True, capture_output=True, text=True).stdout
    return project_id, [line for line in out.split() if len(line) == 32]


def start_server():
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--bind", f"127.0.0.1:{PORT}",
         "--workers", str(GUNICORN_WORKERS), "--log-level", "warning"],
        cwd=ROOT, env=django_env(), start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{PORT}/accounts/login/", timeout=5).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.3)
    stop_server(server)
    raise RuntimeError("gunicorn did not come up")


def warm_up(session_key, requests=40):
    """Let every gunicorn worker import its views and open its database connection before the clock runs."""
    with httpx.Client(base_url=f"http://127.0.0.1:{PORT}", cookies={"sessionid": session_key}, timeout=60) as client:
        for _ in range(requests):
            client.get("/api/projects/").raise_for_status()


def stop_server(server):
    os.killpg(server.pid, signal.SIGTERM)
    server.wait(timeout=30)


async def labeler_loop(session_key, project_id, until, think_mean, timings, counts):
    csrf = secrets.token_hex(16)  # a 32-character secret is a valid CSRF cookie; the header repeats it
    cookies = {"sessionid": session_key, "csrftoken": csrf}
    headers = {"X-CSRFToken": csrf, "Referer": f"http://127.0.0.1:{PORT}/"}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{PORT}", cookies=cookies, headers=headers,
                                 timeout=60) as client:
        if think_mean:
            # A paced team does not press Start in the same millisecond: spread the first requests over
            # one mean think time.
            await asyncio.sleep(random.uniform(0, think_mean))
        while time.monotonic() < until:
            started = time.perf_counter()
            response = await client.post(f"/api/projects/{project_id}/next/", json={"kind": "rank"})
            timings["next"].append(time.perf_counter() - started)
            if response.status_code == 204:
                counts["empty"] += 1
                await asyncio.sleep(0.5)
                continue
            response.raise_for_status()
            task = response.json()
            if think_mean:
                await asyncio.sleep(random.expovariate(1 / think_mean))
            ids = [c["id"] for c in task["candidates"]]
            ratings = [{"candidate": c, "tier": random.randint(1, K), "likert": random.randint(1, 7), "flags": []}
                       for c in ids]
            started = time.perf_counter()
            response = await client.post(f"/api/tasks/{task['id']}/ranking/",
                                         json={"ratings": ratings, "time_spent_ms": 1000})
            timings["submit"].append(time.perf_counter() - started)
            if response.status_code == 200:
                counts["rankings"] += 1
            else:
                counts["errors"] += 1


def percentiles(values):
    if not values:
        return {}
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return {"p50_ms": round(cuts[49] * 1000, 1), "p95_ms": round(cuts[94] * 1000, 1),
            "p99_ms": round(cuts[98] * 1000, 1), "n": len(values)}


async def run_phase(sessions, project_id, seconds, think_mean):
    timings, counts = {"next": [], "submit": []}, {"rankings": 0, "errors": 0, "empty": 0}
    until = time.monotonic() + seconds
    started = time.monotonic()
    await asyncio.gather(*(labeler_loop(s, project_id, until, think_mean, timings, counts) for s in sessions))
    elapsed = time.monotonic() - started
    return timings, counts, elapsed


def duplicates():
    dsn = DATABASE_URL.replace("postgres://", "postgresql://")
    with psycopg.connect(dsn) as conn:
        over_overlap = conn.execute(
            "SELECT count(*) FROM (SELECT prompt_id FROM labeling_ranking GROUP BY prompt_id HAVING count(*) > %s) x",
            [OVERLAP]).fetchone()[0]
        same_labeler_twice = conn.execute(
            "SELECT count(*) FROM (SELECT prompt_id, labeler_id FROM labeling_ranking GROUP BY 1, 2"
            " HAVING count(*) > 1) x").fetchone()[0]
    return over_overlap + same_labeler_twice


def measure_size(prompt_count, args):
    result = {"prompts": prompt_count, "k": K, "overlap": OVERLAP}
    for phase, labelers, seconds, think in (("paced", 100, args.paced_seconds, 2.0),
                                            ("saturation", 50, args.saturation_seconds, 0.0)):
        project_id, sessions = seed(prompt_count, labelers)
        server = start_server()
        try:
            warm_up(sessions[0])
            timings, counts, elapsed = asyncio.run(run_phase(sessions[:labelers], project_id, seconds, think))
        finally:
            stop_server(server)
        figures = {"labelers": labelers, "seconds": round(elapsed, 1), "rankings": counts["rankings"],
                   "errors": counts["errors"], "empty_queue": counts["empty"],
                   "rankings_per_s": round(counts["rankings"] / elapsed, 1),
                   "requests_per_s": round((len(timings["next"]) + len(timings["submit"])) / elapsed, 1),
                   "next_task": percentiles(timings["next"]), "submit": percentiles(timings["submit"]),
                   "duplicates": duplicates()}
        print(f"{prompt_count} prompts, {phase}: {json.dumps(figures)}", file=sys.stderr, flush=True)
        result[phase] = figures
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 100_000])
    parser.add_argument("--paced-seconds", type=float, default=60)
    parser.add_argument("--saturation-seconds", type=float, default=30)
    args = parser.parse_args()
    create_database()
    results = {"server": f"gunicorn sync x{GUNICORN_WORKERS}", "cpus": os.cpu_count(),
               "sizes": [measure_size(n, args) for n in args.sizes]}
    print(json.dumps(results))


if __name__ == "__main__":
    main()
