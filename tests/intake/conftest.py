import pytest

from intake.models import ApiUser
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
