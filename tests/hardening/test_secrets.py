"""Generator settings are admin-only, and the API key in them is write-only everywhere."""
import json

import pytest
from django.forms.models import model_to_dict
from django.test import Client

from labeling.models import Project, TaskKind
from tests.conftest import add_ready_prompt, client_for

KEY = "sk-very-secret-0123456789"
GENERATION = {"backend": "openai", "base_url": "https://llm.internal.example/v1", "model": "house-model-7b",
              "api_key": KEY}


@pytest.fixture
def configured(project):
    project.generation = GENERATION
    project.save()
    add_ready_prompt(project)
    return project


def test_labelers_see_no_generator_settings(configured, labeler):
    api = client_for(labeler)
    for response in (api.get("/api/projects/"), api.get(f"/api/projects/{configured.pk}/"),
                     api.post(f"/api/projects/{configured.pk}/next/", {"kind": TaskKind.RANK}, format="json"),
                     api.get("/api/tasks/")):
        assert response.status_code == 200
        text = response.content.decode()
        assert "generation" not in text and KEY not in text and "house-model-7b" not in text
        assert "llm.internal.example" not in text


def test_admins_see_settings_but_never_the_key(configured, admin_user):
    api = client_for(admin_user)
    data = api.get(f"/api/projects/{configured.pk}/").json()
    assert data["generation"]["model"] == "house-model-7b" and "api_key" not in data["generation"]
    assert data["generation_api_key_set"] is True
    assert KEY not in api.get("/api/projects/").content.decode()


def test_an_edit_without_the_key_keeps_it_and_an_empty_one_removes_it(configured, admin_user):
    api = client_for(admin_user)
    edited = {k: v for k, v in GENERATION.items() if k != "api_key"} | {"temperature": 0.7}
    response = api.patch(f"/api/projects/{configured.pk}/", {"generation": edited}, format="json")
    assert response.status_code == 200, response.json()
    assert KEY not in response.content.decode()
    configured.refresh_from_db()
    assert configured.generation["api_key"] == KEY and configured.generation["temperature"] == 0.7
    response = api.patch(f"/api/projects/{configured.pk}/", {"generation": {**edited, "api_key": ""}}, format="json")
    configured.refresh_from_db()
    assert "api_key" not in configured.generation and response.json()["generation_api_key_set"] is False


def admin_form_data(project):
    """What the admin's change form posts for `project` as it is stored (checkboxes: present when on)."""
    data = {}
    for name, value in model_to_dict(project).items():
        if isinstance(value, bool):
            if value:
                data[name] = "on"
        elif isinstance(value, (dict, list)):
            data[name] = json.dumps(value)
        elif value is not None:
            data[name] = value
    return data


def test_the_django_admin_never_shows_the_key(configured, admin_user):
    client = Client()
    client.force_login(admin_user)
    page = client.get(f"/admin/labeling/project/{configured.pk}/change/")
    assert page.status_code == 200
    assert KEY not in page.content.decode() and "house-model-7b" in page.content.decode()
    form = admin_form_data(configured)
    form["generation"] = json.dumps({"backend": "openai", "base_url": "https://x.example/v1", "model": "m"})
    response = client.post(f"/admin/labeling/project/{configured.pk}/change/", form)
    assert response.status_code == 302, response.content.decode()[:3000]
    assert Project.objects.get().generation["api_key"] == KEY
    response = client.post(f"/admin/labeling/project/{configured.pk}/change/", {**form, "api_key": "sk-new"})
    assert Project.objects.get().generation["api_key"] == "sk-new"
    client.post(f"/admin/labeling/project/{configured.pk}/change/", {**form, "clear_api_key": "on"})
    assert "api_key" not in Project.objects.get().generation
