"""Only admins see the reward model: labelers get 403, anonymous users are sent to log in (pages) or
refused (API)."""
import pytest

from rewards.models import TrainingRun
from tests.conftest import client_for
from tests.platform_rewards.conftest import fake_version

ENDPOINTS = [
    ("get", "/api/projects/{p}/dashboard/"),
    ("get", "/api/projects/{p}/training-runs/"),
    ("post", "/api/projects/{p}/training-runs/"),
    ("get", "/api/projects/{p}/training-runs/{r}/"),
    ("get", "/api/projects/{p}/reward-models/"),
    ("post", "/api/projects/{p}/reward-models/1/promote/"),
    ("post", "/api/projects/{p}/reward-models/rollback/"),
]


@pytest.fixture
def version(project):
    return fake_version(project, 1, 0.5)


@pytest.mark.parametrize("method, url", ENDPOINTS)
def test_labelers_get_403_from_the_training_api(project, labeler, version, method, url):
    response = getattr(client_for(labeler), method)(url.format(p=project.pk, r=version.run_id))
    assert response.status_code == 403
    assert not version.is_current and TrainingRun.objects.count() == 1


@pytest.mark.parametrize("method, url", ENDPOINTS)
def test_anonymous_users_are_refused_by_the_training_api(project, version, method, url):
    response = getattr(client_for(None), method)(url.format(p=project.pk, r=version.run_id))
    assert response.status_code in (401, 403)


def test_the_dashboard_page_is_for_admins_only(client, project, labeler, admin_user):
    url = f"/projects/{project.pk}/dashboard/"
    anonymous = client.get(url)
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]

    client.force_login(labeler)
    assert client.get(url).status_code == 403

    client.force_login(admin_user)
    page = client.get(url)
    assert page.status_code == 200
    assert b"rewards/dashboard.js" in page.content
    assert "csrftoken" in page.cookies


def test_the_dashboard_escapes_the_project_name(client, project, admin_user):
    project.name = "<script>alert(1)</script>"
    project.save()
    client.force_login(admin_user)
    page = client.get(f"/projects/{project.pk}/dashboard/").content.decode()
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_the_labeler_task_api_never_shows_rewards(project, labeler, ready_prompt):
    ready_prompt.candidates.update(reward=1.5)
    task = client_for(labeler).post(f"/api/projects/{project.pk}/next/", {"kind": "rank"}, format="json").json()
    assert task["candidates"]
    assert all(set(candidate) == {"id", "text", "html"} for candidate in task["candidates"])
