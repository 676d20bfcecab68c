"""Fixtures for the worker tests: a tiny causal LM built on the spot (so sampling is real but fast),
and real Celery worker processes on the machine's Redis, sharing the PostgreSQL test database."""
import os
import signal
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.tiny_models import tiny_llama

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A 2-layer Llama with a byte-level BPE tokenizer and a chat template, saved with save_pretrained."""
    return tiny_llama(tmp_path_factory.mktemp("tiny-llama"))


def tiny_generation(model_dir, **overrides):
    """Project.generation for the tiny model."""
    return {"backend": "transformers", "model": str(model_dir), "temperature": 1.0, "top_p": 1.0,
            "max_new_tokens": 8, "seed": 1234, **overrides}


def worker_env(redis_url, **extra):
    """Environment of a worker process: the Redis broker under a key prefix of its own (so no other
    worker on this Redis takes our messages) and the test database the test process is using."""
    from django.db import connection

    db = connection.settings_dict
    env = {k: v for k, v in os.environ.items() if k != "RANKWISE_TEST_DB_SUFFIX"}
    env.update({
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "CELERY_BROKER_URL": redis_url,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        **{k: str(v) for k, v in extra.items()},
    })
    return env


@contextmanager
def celery_worker(env, log_path, name):
    """A real `celery worker` on the generation queue, one process, stopped (SIGKILL to its whole
    process group) on exit if still running."""
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "generation", "--concurrency", "1",
             "--hostname", f"{name}@%h", "--loglevel", "INFO", "--without-gossip", "--without-mingle"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield proc
    finally:
        kill_worker(proc)


def kill_worker(proc):
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


def wait_for(condition, timeout, what, interval=0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


@pytest.fixture
def broker_prefix(redis_url):
    """A fresh key prefix on the test Redis; its keys are deleted afterwards."""
    import redis

    prefix = f"rankwise-test-{uuid.uuid4().hex[:8]}:"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(f"{prefix}*"))
    if keys:
        client.delete(*keys)


def producer_for(redis_url, prefix):
    """A Celery client publishing to the worker's broker with the project's own routes."""
    from celery import Celery
    from django.conf import settings

    # Not the process's current app: labeling.jobs sends through current_app, and a later test's message
    # would go to this test's key prefix, where no worker listens any more.
    app = Celery("rankwise-test-producer", set_as_current=False)
    # Celery prefers the CELERY_BROKER_URL environment variable (memory:// in this test process) to a
    # configured broker_url; the write URL is the one setting it does not override that way.
    app.conf.update(broker_write_url=redis_url, broker_transport_options={"global_keyprefix": prefix},
                    task_routes=settings.CELERY_TASK_ROUTES, task_default_queue=settings.CELERY_TASK_DEFAULT_QUEUE)
    return app
