"""Labeler API under load: submit-ranking (which answers with the next task) against a real gunicorn
server on PostgreSQL; a labeler asks for a task on its own only at the start or after an empty queue.

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
from benchdb import database_url, fresh_database

ROOT = Path(__file__).resolve().parent.parent
# Own names let two people run the bench on one machine at once.
DB_NAME = os.environ.get("BENCH_DB_NAME", "rankwise_bench_api")
DATABASE_URL = database_url(DB_NAME)
# What the README recommends for 2 cores: 2 x cores + 1 sync workers.
GUNICORN_WORKERS = int(os.environ.get("BENCH_GUNICORN_WORKERS", "5"))
PORT = int(os.environ.get("BENCH_PORT", "8765"))
K, OVERLAP = 4, 5


BENCH_SECRET_KEY = secrets.token_urlsafe(50)


def django_env():
    return {**os.environ, "DATABASE_URL": DATABASE_URL, "DJANGO_SETTINGS_MODULE": "config.settings",
            "CELERY_BROKER_URL": "memory://", "DJANGO_DEBUG": "0", "RANKWISE_LOG_LEVEL": "WARNING",
            "PYTHONWARNINGS": "ignore",
            # Production settings refuse the development key; a throwaway one for this throwaway database.
            "DJANGO_SECRET_KEY": os.environ.get("DJANGO_SECRET_KEY") or BENCH_SECRET_KEY}


def copies(conn, table, template_id, source, overrides, where="TRUE"):
    """INSERT a copy of one row made by the ORM for each row of `source` (a FROM item), every column as in
    the template `t` except `overrides` ({column: SQL expression over `t` and `source`}): set-based SQL
    that stays right when a migration adds a column, where the ORM one row at a time would take minutes."""
    columns = [row[0] for row in conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = %s AND column_name <> 'id'"
        " ORDER BY ordinal_position", [table])]
    select = ", ".join(overrides.get(column, f't."{column}"') for column in columns)
    names = ", ".join(f'"{column}"' for column in columns)
    conn.execute(f"INSERT INTO {table} ({names}) SELECT {select} FROM {table} t CROSS JOIN {source}"
                 f" WHERE t.id = %s AND {where}", [template_id])


TEMPLATE = f"""
import json
from labeling import workflow
from labeling.models import Project, Task
# Its labelers rank at random: a throughput bench, not a quality check (bench/quality.py is one).
project = Project.objects.create(name="bench", k={K}, overlap={OVERLAP}, retrain_after_comparisons=0,
                                 flag_min_peer_agreement=0)
prompt = workflow.create_prompt(project, messages=[{{"role": "user", "content": "Template prompt"}}],
                                candidates=[f"Template candidate {{i}}" for i in range({K})])
task = Task.objects.filter(prompt=prompt).first()
print(json.dumps({{"project": project.pk, "prompt": prompt.pk, "task": task.pk,
                  "candidates": list(prompt.candidates.values_list("pk", flat=True))}}))
"""


def seed(prompt_count, labeler_count):
    """A project with `prompt_count` ready prompts of K candidates and OVERLAP open rank slots each: one
    of each made through the workflow, the rest copied from it in SQL."""
    dsn = DATABASE_URL.replace("postgres://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("TRUNCATE labeling_project, django_session RESTART IDENTITY CASCADE")
    made = subprocess.run([sys.executable, "manage.py", "shell", "-c", TEMPLATE], cwd=ROOT, env=django_env(),
                          check=True, capture_output=True, text=True).stdout
    template = json.loads(made.strip().splitlines()[-1])
    project_id = template["project"]
    with psycopg.connect(dsn, autocommit=True) as conn:
        copies(conn, "labeling_prompt", template["prompt"], f"generate_series(1, {int(prompt_count)}) n", {
            "messages": "jsonb_build_array(jsonb_build_object('role', 'user', 'content',"
                        " 'Benchmark prompt number ' || n || ': explain something useful.'))"})
        copied = f"p.id <> {template['prompt']}"
        for candidate in template["candidates"]:
            copies(conn, "labeling_candidate", candidate, "labeling_prompt p",
                   {"prompt_id": "p.id", "text": "'Candidate ' || t.index || ' for prompt ' || p.id",
                    # What labeling.rendering makes of that text (stored as the workflow stores it).
                    "html": "'<p>Candidate ' || t.index || ' for prompt ' || p.id || E'</p>\\n'"}, copied)
        copies(conn, "labeling_task", template["task"], f"labeling_prompt p CROSS JOIN generate_series(1, {OVERLAP}) n",
               {"prompt_id": "p.id"}, copied)
        for table in ("labeling_task", "labeling_candidate"):  # Django cascades in Python, not in the database
            conn.execute(f"DELETE FROM {table} WHERE prompt_id = %s", [template["prompt"]])
        conn.execute("DELETE FROM labeling_prompt WHERE id = %s", [template["prompt"]])
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
         "--workers", str(GUNICORN_WORKERS), "--log-level", "warning", *os.environ.get("XARGS", "").split()],
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


def labeler_client(session_key):
    csrf = secrets.token_hex(16)  # a 32-character secret is a valid CSRF cookie; the header repeats it
    cookies = {"sessionid": session_key, "csrftoken": csrf}
    headers = {"X-CSRFToken": csrf, "Referer": f"http://127.0.0.1:{PORT}/"}
    return httpx.AsyncClient(base_url=f"http://127.0.0.1:{PORT}", cookies=cookies, headers=headers, timeout=60)


async def labeler_loop(client, project_id, until, think_mean, timings, counts):
    async with client:
        if think_mean:
            # A paced team does not press Start in the same millisecond: spread the first requests over
            # one mean think time.
            await asyncio.sleep(random.uniform(0, think_mean))
        task = None
        while time.monotonic() < until:
            if task is None:
                # Only the first task of a session (or one after an empty queue) needs its own request:
                # every submit answers with the next task.
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
                task = response.json()["next"]
            else:
                counts["errors"] += 1
                task = None


def percentiles(values):
    if not values:
        return {}
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return {"p50_ms": round(cuts[49] * 1000, 1), "p95_ms": round(cuts[94] * 1000, 1),
            "p99_ms": round(cuts[98] * 1000, 1), "n": len(values)}


async def run_phase(sessions, project_id, seconds, think_mean):
    timings, counts = {"next": [], "submit": []}, {"rankings": 0, "errors": 0, "empty": 0}
    # Each labeler's client is made before the clock runs, as a browser is open before its labeler starts:
    # an httpx client costs about 25 ms of this process's CPU (its TLS context), and a hundred made inside
    # the phase held up the event loop for 2-3 s, which the first requests' timings then included.
    clients = [labeler_client(s) for s in sessions]
    until = time.monotonic() + seconds
    started = time.monotonic()
    await asyncio.gather(*(labeler_loop(c, project_id, until, think_mean, timings, counts) for c in clients))
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
    fresh_database(DB_NAME, django_env())
    sizes = [measure_size(n, args) for n in args.sizes]
    largest, smallest = sizes[-1], sizes[0]
    results = {
        "server": f"gunicorn sync x{GUNICORN_WORKERS}", "cpus": os.cpu_count(), "load_average": os.getloadavg()[0],
        # The goals, read off the largest size: paced p95 next <= 50 ms and submit <= 100 ms,
        # saturation >= 100 rankings/s, within 1.5x of the smallest size, no duplicate assignment.
        "prompts": largest["prompts"],
        "paced_next_p95_ms": largest["paced"]["next_task"].get("p95_ms"),
        "paced_submit_p95_ms": largest["paced"]["submit"].get("p95_ms"),
        "saturation_rankings_per_s": largest["saturation"]["rankings_per_s"],
        "saturation_ratio_smallest_to_largest": round(
            smallest["saturation"]["rankings_per_s"] / max(largest["saturation"]["rankings_per_s"], 0.1), 2),
        "duplicates": sum(size[phase]["duplicates"] for size in sizes for phase in ("paced", "saturation")),
        "sizes": sizes,
    }
    print(json.dumps(results))


if __name__ == "__main__":
    main()
