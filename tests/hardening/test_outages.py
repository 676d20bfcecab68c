"""A database restart under a running gunicorn costs no submitted ranking: while PostgreSQL is down the
server answers 503, and it recovers by itself once the database is back. Run against a private PostgreSQL
(own data folder and port), because the shared one serves other test runs; and a broker outage does not
fail a submit: its generation message is sent by the requeue sweep later."""
import contextlib
import glob
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest

from labeling.models import Prompt, PromptState
from tests.conftest import client_for, missing

ROOT = Path(__file__).resolve().parents[2]


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pg_bin(name):
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        missing(f"PostgreSQL's {name} (the postgresql package)")
    return found[-1]


def as_postgres(*args):
    # PostgreSQL refuses to run as root; tests run as root in CI.
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    return subprocess.run([*prefix, *args], check=True, capture_output=True, text=True, timeout=120)


@contextlib.contextmanager
def private_postgres():
    folder = Path(tempfile.mkdtemp(prefix="rankwise-pg-"))
    data, port = folder / "data", free_port()
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
    as_postgres(pg_bin("initdb"), "-D", str(data), "-A", "trust", "-U", "postgres")

    def start():
        as_postgres(pg_bin("pg_ctl"), "-D", str(data), "-w", "-l", str(folder / "log"), "-o",
                    f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off", "start")

    def stop():
        as_postgres(pg_bin("pg_ctl"), "-D", str(data), "-w", "-m", "fast", "stop")

    start()
    try:
        as_postgres(pg_bin("createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "rankwise")
        yield f"postgres://postgres@127.0.0.1:{port}/rankwise", start, stop
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):
            stop()
        shutil.rmtree(folder, ignore_errors=True)


SETUP = """
from rest_framework.authtoken.models import Token
from django.contrib.auth.models import User
from labeling.models import Project
from tests.conftest import add_ready_prompt
project = Project.objects.create(name="outage", k=2)
add_ready_prompt(project, "hi")
print(project.pk, Token.objects.create(user=User.objects.create_user("alice", password="x" * 12)).key)
"""


def wait_until(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError, OSError):
            if condition():
                return
        time.sleep(0.3)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


@pytest.mark.postgres
def test_a_database_restart_gives_503s_then_recovers_by_itself_losing_no_ranking():
    with private_postgres() as (url, start, stop):
        env = {**os.environ, "DATABASE_URL": url, "CELERY_BROKER_URL": "memory://", "DJANGO_DEBUG": "0",
               "DJANGO_SECRET_KEY": secrets.token_urlsafe(50), "RANKWISE_LOG_LEVEL": "WARNING"}
        env.pop("RANKWISE_TEST_DB_SUFFIX", None)
        subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True, timeout=300)
        out = subprocess.run([sys.executable, "manage.py", "shell", "-c", SETUP], cwd=ROOT, env=env, check=True,
                             capture_output=True, text=True, timeout=120).stdout.split()
        project_id, token = out[-2], out[-1]
        port = free_port()
        server = subprocess.Popen([sys.executable, "-m", "gunicorn", "config.wsgi:application", "--bind",
                                   f"127.0.0.1:{port}", "--workers", "1", "--log-level", "warning"],
                                  cwd=ROOT, env=env, start_new_session=True)
        try:
            api = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Token {token}"},
                               timeout=30)
            wait_until(lambda: api.get("/api/tasks/").status_code == 200, 60, "the server")
            task = api.post(f"/api/projects/{project_id}/next/", json={"kind": "rank"}).json()
            ratings = [{"candidate": c["id"], "tier": i + 1, "likert": 4} for i, c in enumerate(task["candidates"])]

            stop()
            down = api.post(f"/api/tasks/{task['id']}/ranking/", json={"ratings": ratings})
            assert down.status_code == 503 and down.headers["Retry-After"]
            assert api.get("/api/tasks/").status_code == 503

            start()
            wait_until(lambda: api.get("/api/tasks/").status_code == 200, 30, "recovery")
            retried = api.post(f"/api/tasks/{task['id']}/ranking/", json={"ratings": ratings})
            assert retried.status_code == 200, retried.text
            assert api.get(f"/api/tasks/{task['id']}/").json()["state"] == "submitted"
            assert server.poll() is None  # no worker died on the way
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)


def test_a_written_prompt_is_kept_when_the_broker_is_down(labeler, project, monkeypatch,
                                                          django_capture_on_commit_callbacks):
    from celery.canvas import Signature
    from kombu.exceptions import OperationalError

    def broker_down(*args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6399. Connection refused.")

    monkeypatch.setattr(Signature, "apply_async", broker_down)
    project.demonstrations_enabled = False
    project.save()
    api = client_for(labeler)
    task = api.post(f"/api/projects/{project.pk}/next/", {"kind": "write_prompt"}, format="json").json()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = api.post(f"/api/tasks/{task['id']}/prompt/", {"text": "Name three rivers"}, format="json")
    assert response.status_code == 200 and callbacks  # the generation message was attempted, and failed
    prompt = Prompt.objects.get()
    assert prompt.state == PromptState.AWAITING_CANDIDATES  # waits for the requeue sweep

