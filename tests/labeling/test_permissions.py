"""The permissions matrix: anonymous vs labeler vs admin on every endpoint and page.

The endpoint list is read from the OpenAPI schema, so an endpoint added later is covered too."""
import re

import pytest
from django.test import Client
from drf_spectacular.generators import SchemaGenerator

from labeling import workflow
from labeling.models import TaskKind
from tests.conftest import add_ready_prompt, client_for

# Endpoints any logged-in user may call (their own data only); everything else is admin-only.
LABELER_ENDPOINTS = {
    ("get", "/api/projects/"), ("get", "/api/projects/{id}/"), ("post", "/api/projects/{id}/next/"),
    ("get", "/api/projects/{id}/queue/"), ("get", "/api/projects/{id}/guidelines/"), ("get", "/api/tasks/"),
    ("get", "/api/tasks/{id}/"),
    ("post", "/api/tasks/{id}/prompt/"), ("post", "/api/tasks/{id}/demonstration/"),
    ("post", "/api/tasks/{id}/ranking/"), ("post", "/api/tasks/{id}/skip/"),
    ("get", "/api/tasks/{id}/amend/"), ("post", "/api/tasks/{id}/amend/"), ("get", "/api/me/stats/"), ("get", "/api/me/rankings/"),
    ("get", "/api/schema/"),
}


def all_endpoints():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return sorted((method, path) for path, methods in schema["paths"].items() for method in methods)


def concrete(path, ids):
    return re.sub(r"\{(\w+)\}", lambda m: str(ids.get(m.group(1), ids["id"])), path)


@pytest.fixture
def ids(project, labeler):
    add_ready_prompt(project)
    task = workflow.lease_next(labeler, project, TaskKind.RANK)
    return {"id": project.pk, "project_id": project.pk, "task": task.pk}


def call(client, method, path, ids):
    url = concrete(path, ids)
    if "/tasks/{id}/" in path:
        url = concrete(path, {**ids, "id": ids["task"]})
    return getattr(client, method)(url, {}, format="json") if method != "get" else client.get(url)


@pytest.mark.parametrize("method, path", all_endpoints())
def test_anonymous_gets_nothing(db, ids, method, path):
    response = call(client_for(None), method, path, ids)
    assert response.status_code in (401, 403), (method, path, response.status_code)


@pytest.mark.parametrize("method, path", all_endpoints())
def test_labelers_reach_only_labeler_endpoints(db, ids, labeler, method, path):
    response = call(client_for(labeler), method, path, ids)
    if (method, path) in LABELER_ENDPOINTS:
        assert response.status_code not in (401, 403), (method, path, response.status_code)
    else:
        assert response.status_code == 403, (method, path, response.status_code)


@pytest.mark.parametrize("method, path", all_endpoints())
def test_admins_reach_every_endpoint(db, ids, admin_user, method, path):
    response = call(client_for(admin_user), method, path, ids)
    assert response.status_code not in (401, 403), (method, path, response.status_code)


def test_labelers_see_only_their_own_tasks(ids, labeler, other_labeler):
    assert [t["id"] for t in client_for(labeler).get("/api/tasks/").json()["results"]] == [ids["task"]]
    assert client_for(other_labeler).get("/api/tasks/").json()["results"] == []


PAGES = ["/", "/projects/{id}/work/rank/", "/history/{task}/amend/", "/projects/{id}/review/", "/admin/", "/admin/labeling/ranking/",
         "/admin/exports/importjob/add/"]


@pytest.mark.parametrize("page", PAGES)
def test_every_page_needs_a_login(ids, page):
    response = Client().get(concrete(page, ids))
    assert response.status_code == 302 and "login" in response["Location"]


def test_the_api_docs_need_a_login(ids):
    assert Client().get("/api/docs/").status_code == 403


@pytest.mark.parametrize("page", ["/admin/", "/admin/labeling/ranking/", "/admin/exports/importjob/add/"])
def test_labelers_cannot_reach_admin_pages(ids, labeler, page):
    client = Client()
    client.force_login(labeler)
    response = client.get(concrete(page, ids))
    assert response.status_code == 302 and "login" in response["Location"]


def test_csrf_stays_on_for_session_logins(ids, labeler):
    client = Client(enforce_csrf_checks=True)
    client.force_login(labeler)
    response = client.post(f"/api/projects/{ids['id']}/next/", {"kind": "rank"}, content_type="application/json")
    assert response.status_code == 403 and "CSRF" in response.json()["detail"]


def test_only_admins_see_the_dashboard_link_on_home(ids, labeler, admin_user):
    for user, shown in ((labeler, False), (admin_user, True)):
        client = Client()
        client.force_login(user)
        assert (b"/dashboard/" in client.get("/").content) is shown
