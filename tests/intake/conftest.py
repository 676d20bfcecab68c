import json

import pytest
from django.test import Client

from intake.models import ApiUser, Filing
from tests.worker.conftest import tiny_generation, tiny_model_dir  # noqa: F401 (the session fixture)


@pytest.fixture
def intake_project(project, tiny_model_dir):  # noqa: F811
    project.demonstrations_enabled = False
    project.generation = {"generators": [{"name": "tiny", **tiny_generation(tiny_model_dir, max_new_tokens=6)},
                                         {"name": "tiny-greedy", **tiny_generation(tiny_model_dir, temperature=0)}]}
    project.save()
    return project


@pytest.fixture
def api_user(intake_project):
    user, token = ApiUser.objects.create_with_token(name="caller", project=intake_project, consent=True)
    user.token = token
    return user


def call(token, body, **headers):
    """POST a body (a dict, or raw text) to the endpoint with a token."""
    raw = body if isinstance(body, (bytes, str)) else json.dumps(body)
    if token is not None:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return Client().post("/v1/chat/completions", raw, content_type="application/json", **headers)


@pytest.fixture
def eager():
    """Tasks sent in the test run at once, in this process, as a worker would run them."""
    from config.celery import app

    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


@pytest.fixture
def send(django_capture_on_commit_callbacks, eager):
    """`call`, then run what it queued after its commit (the filing task, eagerly, as a worker runs it).
    What the filing queues in turn (the new prompt's generation) is left alone. Returns (the response, how
    many tasks the call queued)."""

    def call_and_file(token, body, **headers):
        with django_capture_on_commit_callbacks() as queued:
            response = call(token, body, **headers)
        for run in queued:
            run()
        return response, len(queued)

    return call_and_file


def pending(api_user, text, found=()):
    """A filing as the response path leaves it (without queueing it), of a one-message conversation."""
    return Filing.objects.create(api_user=api_user, project_id=api_user.project_id,
                                 messages=[{"role": "user", "content": text}], masked=list(found))


def ask(text, **extra):
    return {"model": "tiny", "messages": [{"role": "user", "content": text}], **extra}
