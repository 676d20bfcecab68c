"""Abuse and fuzzing against a real deployment: gunicorn on PostgreSQL with production settings (DEBUG off, a
real secret key, HTTPS behind a proxy that sets X-Forwarded-Proto), bounded in time and count.

1. schemathesis over the OpenAPI schema as an anonymous user, a labeler and an admin (random valid and invalid
   requests per operation, plus its coverage cases: boundary values, wrong types, missing fields);
2. oversize bodies (megabytes of ratings, a long string) and decompression bombs (gzip, tar.xz) on the import;
3. a password-guessing loop on the log-in form, and an HTTP Basic probe of the API.

It counts server errors (5xx), secret leaks (generator settings or the API key in any labeler response) and
gunicorn workers that died or were restarted. Prints one JSON object on its last line:
    {"requests", "server_errors", "secret_leaks", "worker_deaths", "guesses_before_lockout", ...}

    python bench/abuse.py [--examples 12] [--time-budget 240]
"""
import argparse
import gzip
import io
import json
import multiprocessing
import os
import re
import secrets
import signal
import subprocess
import sys
import tarfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import httpx
import requests
from benchdb import database_url, fresh_database

ROOT = Path(__file__).resolve().parent.parent
DB_NAME = "rankwise_bench_abuse"
DATABASE_URL = database_url(DB_NAME)
PORT = int(os.environ.get("BENCH_PORT", "8766"))
BASE = f"http://127.0.0.1:{PORT}"
WORKERS = int(os.environ.get("BENCH_GUNICORN_WORKERS", "3"))
# Values only the generator settings hold: seeing one in a labeler's response is a leak.
API_KEY = "sk-abuse-" + secrets.token_hex(12)
GENERATION = {"backend": "openai", "base_url": "https://llm-abuse.internal/v1", "model": "abuse-secret-model-7b",
              "api_key": API_KEY}
LEAK_MARKERS = (API_KEY, "llm-abuse.internal", "abuse-secret-model-7b", '"generation"', "api_key")
PROXY = {"X-Forwarded-Proto": "https"}


def django_env():
    return {**os.environ, "DATABASE_URL": DATABASE_URL, "DJANGO_SETTINGS_MODULE": "config.settings",
            "CELERY_BROKER_URL": "memory://", "DJANGO_DEBUG": "0", "RANKWISE_HTTPS": "1",
            "DJANGO_SECRET_KEY": BENCH_SECRET_KEY, "RANKWISE_LOG_LEVEL": "WARNING", "PYTHONWARNINGS": "ignore",
            # Uploads are checked in full within the request (a bomb is a 400 there, not a job that fails later).
            "RANKWISE_MAX_IMPORT_EXPANDED_BYTES": str(8 * 1024 * 1024)}


BENCH_SECRET_KEY = secrets.token_urlsafe(50)

SEED = f"""
from django.contrib.auth.models import Group, User
from rest_framework.authtoken.models import Token
from labeling import workflow
from labeling.models import Project, Prompt
from labeling.roles import ADMIN_GROUP, LABELER_GROUP, sync_roles
sync_roles()
project = Project.objects.create(name="Abuse", k=4, use_cases=["Brainstorming"], generation={GENERATION!r})
for i in range(30):
    prompt = Prompt.objects.create(project=project, messages=[{{"role": "user", "content": f"Question {{i}}"}}])
    workflow.add_candidates(prompt, [f"answer {{i}}.{{j}}" for j in range(4)], source="imported")
    workflow.start_prompt(prompt)
admin = User.objects.create_user("admin", password="admin-password-123", is_staff=True)
admin.groups.add(Group.objects.get(name=ADMIN_GROUP))
labeler = User.objects.create_user("alice", password="alice-password-123")
labeler.groups.add(Group.objects.get(name=LABELER_GROUP))
print(project.pk, Token.objects.create(user=labeler).key, Token.objects.create(user=admin).key)
"""


def prepare_database():
    fresh_database(DB_NAME, django_env())
    out = subprocess.run([sys.executable, "manage.py", "shell", "-c", SEED], cwd=ROOT, env=django_env(), check=True,
                         capture_output=True, text=True).stdout.split()
    return int(out[-3]), out[-2], out[-1]


def start_server(log_path):
    log = open(log_path, "wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--bind", f"127.0.0.1:{PORT}",
         "--workers", str(WORKERS), "--timeout", "30", "--log-level", "info"],
        cwd=ROOT, env=django_env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{BASE}/accounts/login/", headers=PROXY, timeout=5).status_code == 200:
                time.sleep(1)
                return server
        except httpx.HTTPError:
            time.sleep(0.3)
    raise SystemExit(f"gunicorn did not come up; see {log_path}")


def worker_pids(server):
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(server.pid)], capture_output=True, text=True).stdout
    return set(out.split())


class Tally:
    def __init__(self):
        self.requests = self.server_errors = self.secret_leaks = 0
        self.errors = []

    def merge(self, other):
        self.requests += other.requests
        self.server_errors += other.server_errors
        self.secret_leaks += other.secret_leaks
        self.errors += other.errors

    def record(self, what, status, body=b"", labeler=False):
        self.requests += 1
        if status >= 500:
            self.server_errors += 1
            self.errors.append(f"{status} {what}")
        if labeler and not what.startswith("GET /api/schema/"):
            text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
            if any(marker in text for marker in LEAK_MARKERS):
                self.secret_leaks += 1
                self.errors.append(f"leak {what}")


def fuzz(tokens, examples, coverage_cases, deadline):
    """The schemathesis pass, one process per role (the server has several workers); returns one Tally."""
    total = Tally()
    with ProcessPoolExecutor(len(tokens), mp_context=multiprocessing.get_context("fork")) as pool:
        for tally in pool.map(fuzz_role, tokens, tokens.values(), [tokens["admin"]] * len(tokens),
                              [examples] * len(tokens), [coverage_cases] * len(tokens), [deadline] * len(tokens)):
            total.merge(tally)
    return total


def fuzz_role(role, token, admin_token, examples, coverage_cases, deadline):
    """schemathesis over every operation as `role`: its coverage cases, then random valid and invalid ones."""
    import hypothesis
    import schemathesis
    from schemathesis.generation.modes import GenerationMode

    tally = Tally()
    raw = httpx.get(f"{BASE}/api/schema/?format=json", headers={**PROXY, "Authorization": f"Token {admin_token}"},
                    timeout=30).json()
    schema = schemathesis.openapi.from_dict(raw)
    operations = [result.ok() for result in schema.get_all_operations()]
    session = requests.Session()
    headers = {**PROXY, **({"Authorization": f"Token {token}"} if token else {})}
    for operation in operations:
        if time.monotonic() > deadline:
            break

        def send(case, role=role, headers=headers, operation=operation):
            try:
                response = case.call(base_url=BASE, headers=headers, session=session, timeout=60)
            except requests.RequestException as exc:  # a dropped connection counts as a server error
                tally.record(f"{operation.label} [{role}] {exc!r}", 599)
                return
            tally.record(f"{operation.label} [{role}]", response.status_code, response.text, role == "labeler")

        coverage = operation.schema.iter_coverage_cases(operation, generation_modes=list(GenerationMode),
                                                        generation_config=schema.config.generation)
        for _, case in zip(range(coverage_cases), coverage):
            send(case)
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            @hypothesis.settings(max_examples=examples, deadline=None, database=None, derandomize=True,
                                 suppress_health_check=list(hypothesis.HealthCheck),
                                 phases=[hypothesis.Phase.generate])
            @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
            def run(case):
                send(case)

            try:
                run()
            except hypothesis.errors.Unsatisfiable:
                pass
    return tally


def oversize_and_bombs(tally, tokens, project_id):
    """Bodies and files that must be refused quickly, by size, without a worker reading them for seconds."""
    labeler = httpx.Client(base_url=BASE, timeout=60, headers={**PROXY, "Authorization": f"Token {tokens['labeler']}"})
    admin = httpx.Client(base_url=BASE, timeout=120, headers={**PROXY, "Authorization": f"Token {tokens['admin']}"})
    timings = {}
    task = labeler.post(f"/api/projects/{project_id}/next/", json={"kind": "rank"})
    tally.record("POST next", task.status_code, task.content, labeler=True)
    task_id = task.json()["id"] if task.status_code == 200 else 1
    rating = {"candidate": 1, "tier": 1, "likert": 4, "flags": ["hallucination"]}
    # Built before the clock starts: compressing them takes the client longer than the server takes to refuse.
    gzip_newlines = gzip.compress(b"\n" * (400 * 1024 * 1024), compresslevel=9)
    gzip_one_line = gzip.compress(b"x" * (400 * 1024 * 1024), compresslevel=9)
    xz_tar = _xz_tar_bomb(300 * 1024 * 1024)
    cases = [
        ("5.5 MB of ratings", lambda: labeler.post(f"/api/tasks/{task_id}/ranking/",
                                                   content=json.dumps({"ratings": [rating] * 80_000}).encode(),
                                                   headers={"Content-Type": "application/json"})),
        ("2 MB prompt text", lambda: labeler.post(f"/api/tasks/{task_id}/prompt/",
                                                  json={"text": "x" * 2_000_000})),
        ("400 KB ratings list", lambda: labeler.post(f"/api/tasks/{task_id}/ranking/",
                                                     json={"ratings": [rating] * 5_000})),
        ("JSON nested 100,000 deep", lambda: labeler.post(f"/api/tasks/{task_id}/ranking/",
                                                          content=b"[" * 100_000 + b"]" * 100_000,
                                                          headers={"Content-Type": "application/json"})),
        ("gzip bomb (400 MB of newlines)", lambda: admin.post(
            "/api/datasets/import/", data={"project": str(project_id)},
            files={"file": ("bomb.jsonl.gz", gzip_newlines)})),
        ("gzip bomb, one endless line", lambda: admin.post(
            "/api/datasets/import/", data={"project": str(project_id)},
            files={"file": ("line.jsonl.gz", gzip_one_line)})),
        ("tar.xz bomb (300 MB member)", lambda: admin.post(
            "/api/datasets/import/", data={"project": str(project_id)},
            files={"file": ("bomb.tar", xz_tar)})),
        ("60 MB upload", lambda: admin.post("/api/datasets/import/", data={"project": str(project_id)},
                                            files={"file": ("big.jsonl", b"{}\n" * (20 * 1024 * 1024))})),
    ]
    for name, call in cases:
        started = time.monotonic()
        try:
            response = call()
            status, body = response.status_code, response.content
        except httpx.HTTPError as exc:
            status, body = 599, repr(exc).encode()
        timings[name] = {"status": status, "seconds": round(time.monotonic() - started, 3)}
        tally.record(name, status, body)
    return timings


def _xz_tar_bomb(size):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:xz", preset=9) as tar:
        info = tarfile.TarInfo("bomb.jsonl")
        info.size = size

        class Zeros(io.RawIOBase):
            left = size

            def readable(self):
                return True

            def readinto(self, b):
                n = min(len(b), self.left)
                b[:n] = b"\n" * n
                self.left -= n
                return n

        tar.addfile(info, io.BufferedReader(Zeros(), 1 << 20))
    return buffer.getvalue()


def guess_passwords(tally, limit=50):
    """Wrong passwords for one account until the log-in form refuses; returns how many it evaluated."""
    client = httpx.Client(base_url=BASE, timeout=30, headers=PROXY)
    page = client.get("/accounts/login/")
    tally.record("GET login", page.status_code)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    # The cookie is Secure (HTTPS behind the proxy): send it back by hand over this plain-HTTP hop.
    cookie = re.search(r"csrftoken=([^;]+)", page.headers["set-cookie"]).group(1)
    client.headers["Cookie"] = f"csrftoken={cookie}"
    for guess in range(1, limit + 1):
        response = client.post("/accounts/login/", data={"username": "alice", "password": f"guess-{guess}",
                                                         "csrfmiddlewaretoken": token},
                               headers={"Referer": f"https://127.0.0.1:{PORT}/accounts/login/"})
        tally.record("POST login", response.status_code)
        if response.status_code == 429:
            # The attempt that tripped the lock-out was the last one checked; the right password is refused too.
            right = client.post("/accounts/login/", data={"username": "alice", "password": "alice-password-123",
                                                          "csrfmiddlewaretoken": token},
                                headers={"Referer": f"https://127.0.0.1:{PORT}/accounts/login/"})
            tally.record("POST login (right password, locked)", right.status_code)
            return guess, right.status_code == 429
    return limit, False


def basic_auth_probe(tally):
    response = httpx.get(f"{BASE}/api/tasks/", auth=("alice", "alice-password-123"), headers=PROXY, timeout=30)
    tally.record("GET /api/tasks/ with Basic auth", response.status_code)
    return response.status_code in (401, 403)


def count_restarts(log_path):
    """Workers gunicorn replaced: every boot after the first WORKERS, and every timeout."""
    text = Path(log_path).read_text(errors="replace")
    return len(re.findall(r"Booting worker", text)) - WORKERS + len(re.findall(r"WORKER TIMEOUT", text))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=40, help="Random cases per operation, role and mode")
    parser.add_argument("--coverage-cases", type=int, default=60,
                        help="schemathesis coverage cases (boundaries, wrong types) per operation and role")
    parser.add_argument("--time-budget", type=float, default=360, help="Seconds for the schemathesis pass")
    args = parser.parse_args()

    project_id, labeler_token, admin_token = prepare_database()
    log_path = ROOT / "var" / "bench-abuse-gunicorn.log"
    log_path.parent.mkdir(exist_ok=True)
    server = start_server(log_path)
    tokens = {"anonymous": None, "labeler": labeler_token, "admin": admin_token}
    started = time.monotonic()
    try:
        pids_before = worker_pids(server)
        tally = fuzz(tokens, args.examples, args.coverage_cases, time.monotonic() + args.time_budget)
        fuzz_seconds = time.monotonic() - started
        timings = oversize_and_bombs(tally, tokens, project_id)
        guesses, locked = guess_passwords(tally)
        basic_refused = basic_auth_probe(tally)
        pids_after = worker_pids(server)
        restarts = count_restarts(log_path)  # before the shutdown below logs its own worker exits
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
    worker_deaths = max(len(pids_before - pids_after), restarts)
    for line in tally.errors[:40]:
        print("  ", line, file=sys.stderr)
    print(json.dumps({
        "requests": tally.requests,
        "server_errors": tally.server_errors,
        "secret_leaks": tally.secret_leaks,
        "worker_deaths": worker_deaths,
        "guesses_before_lockout": guesses,
        "right_password_refused_while_locked": locked,
        "basic_auth_refused": basic_refused,
        "fuzz_seconds": round(fuzz_seconds, 1),
        "oversize_and_bombs": timings,
        "gunicorn_workers": WORKERS,
    }))


if __name__ == "__main__":
    main()
