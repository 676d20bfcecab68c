"""The Celery settings refuse combinations that would break exactly-once delivery."""
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def django_setup(**env):
    return subprocess.run([sys.executable, "-c", "import django; django.setup()"], cwd=ROOT, capture_output=True,
                          text=True, env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", **env})


def test_it_refuses_a_visibility_timeout_shorter_than_a_task():
    # Redis would hand a still-running task to a second worker.
    result = django_setup(CELERY_BROKER_URL="redis://127.0.0.1:6379/15", RANKWISE_TASK_TIME_LIMIT="600",
                          RANKWISE_BROKER_VISIBILITY_TIMEOUT="300")
    assert result.returncode != 0
    assert "RANKWISE_BROKER_VISIBILITY_TIMEOUT must be longer" in result.stderr


def test_it_passes_the_visibility_timeout_and_key_prefix_to_redis():
    result = subprocess.run(
        [sys.executable, "-c", "from config.celery import app; o = app.conf.broker_transport_options; "
                               "print(o['visibility_timeout'], o['global_keyprefix'])"],
        cwd=ROOT, capture_output=True, text=True,
        env={**os.environ, "CELERY_BROKER_URL": "redis://127.0.0.1:6379/15", "RANKWISE_TASK_TIME_LIMIT": "600",
             "RANKWISE_GENERATION_TIME_LIMIT": "300", "RANKWISE_BROKER_VISIBILITY_TIMEOUT": "900",
             "RANKWISE_BROKER_KEY_PREFIX": "staging:"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["900", "staging:"]
