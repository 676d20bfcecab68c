"""A real Celery worker process on the real Redis trains a version from rankings stored through the
API, reports progress on the run row, promotes it and scores every candidate."""
import os
import signal
import subprocess
import sys
import time
import uuid

import pytest
import redis
from django.db import connection

from config.celery import app
from labeling.models import Candidate, Project
from rewards.models import RewardModel, RunStatus, TrainingRun
from tests.conftest import client_for, make_user
from tests.platform_rewards.conftest import TINY, ranked_project


def wait_for(condition, timeout, what, worker):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if worker.poll() is not None:
            pytest.fail(f"the worker exited with {worker.returncode} while waiting for {what}")
        time.sleep(1)
    pytest.fail(f"timed out after {timeout}s waiting for {what}")


@pytest.fixture
def broker(redis_url, monkeypatch):
    """Point this process's Celery app at Redis under a key prefix of its own (so no other run or
    engineer's worker takes these messages), and back to the test broker afterwards."""
    prefix = f"rankwise-test-{uuid.uuid4().hex[:8]}:"
    # Celery reads the CELERY_BROKER_URL environment variable before its configuration.
    monkeypatch.setenv("CELERY_BROKER_URL", redis_url)
    monkeypatch.setattr(app.conf, "broker_transport_options", {"global_keyprefix": prefix})
    # Celery caches its connection pools on first use; drop them so the new broker is used.
    app._pool, app.amqp._producer_pool = None, None
    yield redis_url, prefix
    app._pool, app.amqp._producer_pool = None, None
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)


@pytest.fixture
def training_worker(broker, model_dir, postgres, transactional_db):
    redis_url, prefix = broker
    database = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}",
        "CELERY_BROKER_URL": redis_url,
        "RANKWISE_BROKER_KEY_PREFIX": prefix,
        "RANKWISE_MODEL_DIR": str(model_dir),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
    env.pop("RANKWISE_TEST_DB_SUFFIX", None)
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "training", "--concurrency", "1",
         "--hostname", f"rewards-test-{uuid.uuid4().hex[:6]}@%h", "--without-mingle", "--without-gossip",
         "--loglevel", "INFO"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
    )
    yield worker
    worker.send_signal(signal.SIGTERM)  # warm shutdown
    try:
        output, _ = worker.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        worker.kill()
        output, _ = worker.communicate()
    print(output[-5000:])


@pytest.mark.redis
@pytest.mark.slow
def test_a_worker_trains_promotes_and_scores_from_rankings_stored_through_the_api(training_worker, admin_user):
    # A tiny validation set: the promotion rule's minimum is lowered so that this version can be promoted.
    project = Project.objects.create(name="End to end", k=3, overlap=2, min_validation_comparisons=1)
    labelers = [make_user("e2e-labeler-1", "labeler"), make_user("e2e-labeler-2", "labeler")]
    ranked_project(project, labelers, prompts=6)
    client = client_for(admin_user)

    response = client.post(f"/api/projects/{project.pk}/training-runs/", TINY, format="json")
    assert response.status_code == 202, response.content
    run_id = response.json()["id"]
    assert client.post(f"/api/projects/{project.pk}/training-runs/", TINY, format="json").status_code == 409

    run = wait_for(lambda: TrainingRun.objects.filter(pk=run_id, status__in=[RunStatus.SUCCEEDED, RunStatus.FAILED])
                   .first(), 240, "the training run to finish", training_worker)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.celery_task_id and run.started_at and run.finished_at
    assert run.step == 2 and len(run.loss_history) == 2

    version = RewardModel.objects.get(run=run)
    assert version.is_current and version.version == 1, version.promotion
    assert os.path.isdir(version.checkpoint_path)
    assert version.metrics["validation"]["accuracy_by_agreement"]["agreed"]["comparisons"] > 0

    # Promotion queued the scoring task on the same worker.
    candidates = Candidate.objects.filter(prompt__project=project)
    wait_for(lambda: not candidates.filter(reward=None).exists(), 120, "the candidates' rewards", training_worker)
    dashboard = client.get(f"/api/projects/{project.pk}/dashboard/").json()
    assert dashboard["agreement"]["scored"] == dashboard["agreement"]["comparisons"] == 12 * 3
    assert 0.0 <= dashboard["agreement"]["rm_agreement"] <= 1.0
    assert dashboard["runs"][0]["percent"] == 100.0
    assert dashboard["versions"][0]["is_current"]
