"""Shared fixtures. Tests run on the real PostgreSQL, Redis and Chromium of the machine; where one is
missing, a test skips on a laptop and fails in CI (CI=true), so that CI never passes by skipping."""
import os
import secrets
import shutil
import threading

import pytest
from django.contrib.auth.models import Group, User
from django.db import connection
from rest_framework.test import APIClient

from labeling import workflow
from labeling.models import Project, Prompt
from labeling.roles import ADMIN_GROUP, LABELER_GROUP

IN_CI = os.environ.get("CI", "").lower() == "true"
# Workers and servers the tests start refuse the development key (config.production); they inherit this one.
os.environ.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(50))
SHARED_DATA = os.environ.get("RANKWISE_SHARED_DATA",
                             os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data"))


def missing(what):
    """Skip on a developer's laptop, fail in CI: a missing service must not turn CI green."""
    if IN_CI:
        pytest.fail(f"{what} is missing, and CI must not skip")
    pytest.skip(f"{what} is missing")


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # PBKDF2's deliberate slowness would dominate tests that create dozens of users.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def postgres(db):
    from django.db import connection

    if connection.vendor != "postgresql":
        missing("PostgreSQL (set DATABASE_URL=postgres://...)")


@pytest.fixture
def redis_url():
    import redis

    url = os.environ.get("RANKWISE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError:
        missing(f"Redis at {url}")
    return url


@pytest.fixture
def chromium_path():
    path = os.environ.get("RANKWISE_CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
    if not os.path.exists(path):
        missing("Debian's Chromium (apt-get install chromium)")
    return path


@pytest.fixture
def shared_data():
    if not os.path.isdir(SHARED_DATA):
        missing(f"the shared data folder {SHARED_DATA}")
    return SHARED_DATA


def make_user(username, group, **extra):
    user = User.objects.create_user(username=username, password="pw-" + username, **extra)
    user.groups.add(Group.objects.get_or_create(name=group)[0])
    return user


@pytest.fixture
def admin_user(db):
    from labeling.roles import sync_roles

    sync_roles()
    return make_user("admin1", ADMIN_GROUP, is_staff=True)


@pytest.fixture
def labeler(db):
    return make_user("labeler1", LABELER_GROUP)


@pytest.fixture
def other_labeler(db):
    return make_user("labeler2", LABELER_GROUP)


def client_for(user):
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


@pytest.fixture
def project(db):
    return Project.objects.create(name="Test project", guidelines="# Be **kind**", k=4, overlap=1,
                                  use_cases=["Brainstorming"])


def add_ready_prompt(project, text="Say hello", candidates=None):
    """A prompt with its K candidates (written from `text` unless given), ready to rank."""
    prompt = Prompt.objects.create(project=project, messages=[{"role": "user", "content": text}])
    workflow.add_candidates(prompt, candidates or [f"{text} / answer {i}" for i in range(project.k)], source="imported")
    workflow.start_prompt(prompt)
    return prompt


@pytest.fixture
def ready_prompt(project):
    return add_ready_prompt(project)


def at_the_same_moment(callables):
    """Run each callable in its own thread (own DB connection), released together by a barrier."""
    barrier = threading.Barrier(len(callables))
    results, errors = [None] * len(callables), []

    def run(i, fn):
        try:
            barrier.wait()
            results[i] = fn()
        except Exception as exc:  # reported by the assertion below, not lost in the thread
            errors.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, fn)) for i, fn in enumerate(callables)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    return results
