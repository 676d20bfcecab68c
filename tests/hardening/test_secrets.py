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


LISTED_KEYS = {"good": "sk-good-key-0123456789", "fast": "sk-fast-key-9876543210"}
LISTED = {"generators": [
    {"name": "good", "backend": "openai", "base_url": "https://good.internal.example/v1", "model": "good-7b",
     "api_key": LISTED_KEYS["good"], "candidates": 2},
    {"name": "fast", "backend": "openai", "base_url": "https://fast.internal.example/v1", "model": "fast-1b",
     "api_key": LISTED_KEYS["fast"], "candidates": 2},
]}


@pytest.fixture
def listed(project):
    project.generation = LISTED
    project.save()
    add_ready_prompt(project)
    return project


def test_keys_inside_a_generators_list_reach_neither_labelers_nor_admins(listed, labeler, admin_user):
    api = client_for(labeler)
    for response in (api.get("/api/projects/"), api.get(f"/api/projects/{listed.pk}/"),
                     api.post(f"/api/projects/{listed.pk}/next/", {"kind": TaskKind.RANK}, format="json")):
        text = response.content.decode()
        assert response.status_code == 200 and "generation" not in text and "good-7b" not in text
        assert not any(key in text for key in LISTED_KEYS.values())
    admin_api = client_for(admin_user)
    data = admin_api.get(f"/api/projects/{listed.pk}/").json()
    assert [g["model"] for g in data["generation"]["generators"]] == ["good-7b", "fast-1b"]
    assert all("api_key" not in g for g in data["generation"]["generators"]) and data["generation_api_key_set"]
    assert not any(key in admin_api.get("/api/projects/").content.decode() for key in LISTED_KEYS.values())
    client = Client()
    client.force_login(admin_user)
    page = client.get(f"/admin/labeling/project/{listed.pk}/change/").content.decode()
    assert "fast-1b" in page and "a key is stored for: good, fast" in page
    assert not any(key in page for key in LISTED_KEYS.values())


def test_a_listed_generators_key_is_kept_by_name_and_removed_by_an_empty_value(listed, admin_user):
    api = client_for(admin_user)
    shown = api.get(f"/api/projects/{listed.pk}/").json()["generation"]
    shown["generators"].reverse()  # order does not matter: names do
    shown["generators"][0]["temperature"] = 0.5
    shown["generators"][1]["api_key"] = ""  # "good" loses its key
    response = api.patch(f"/api/projects/{listed.pk}/", {"generation": shown}, format="json")
    assert response.status_code == 200, response.json()
    assert not any(key in response.content.decode() for key in LISTED_KEYS.values())
    listed.refresh_from_db()
    fast, good = listed.generation["generators"]
    assert fast["api_key"] == LISTED_KEYS["fast"] and fast["temperature"] == 0.5 and "api_key" not in good


@pytest.mark.parametrize("generation, k, words", [
    ({"temperature": -1}, 4, ["temperature", ">= 0"]),
    ({"temperature": "hot"}, 4, ["temperature", "a number"]),
    ({"max_new_tokens": 2.5}, 4, ["max_new_tokens", "whole number"]),
    ({"backend": "openai", "model": "m"}, 4, ["base_url"]),
    ({"modle": "typo"}, 4, ["unknown", "modle"]),
    ({"generators": [{"name": "a", "top_p": 0}, {"name": "b"}]}, 4, ["generator 'a'", "top_p"]),
    ({"generators": [{"name": "a", "candidates": 3}, {"name": "b", "candidates": 3}]}, 4, ["candidates", "K=4"]),
    ({"generators": [{"name": "a"}, {"name": "a"}]}, 4, ["names must differ"]),
    ({"generators": [{"name": "a", "api_key": 12345678}, {"name": "b"}]}, 4, ["api_key", "a string"]),
])
def test_the_api_refuses_unusable_settings_naming_the_field_and_stores_nothing(project, admin_user, generation, k, words):
    response = client_for(admin_user).patch(f"/api/projects/{project.pk}/", {"generation": generation, "k": k},
                                            format="json")
    assert response.status_code == 400, response.content
    message = response.json()["generation"][0]
    assert all(word in message for word in words), message
    assert "12345678" not in message  # a key's value is never echoed, even a wrong one
    project.refresh_from_db()
    assert project.generation == {}


def test_a_change_of_k_is_checked_against_the_generators_shares(listed, admin_user):
    response = client_for(admin_user).patch(f"/api/projects/{listed.pk}/", {"k": 3}, format="json")
    assert response.status_code == 400 and "K=3" in response.json()["generation"][0]
    listed.refresh_from_db()
    assert listed.k == 4


def test_the_admin_form_refuses_unusable_settings_naming_the_field(configured, admin_user):
    client = Client()
    client.force_login(admin_user)
    form = admin_form_data(configured)
    form["generation"] = json.dumps({"backend": "openai", "base_url": "https://x.example/v1", "model": "m",
                                     "top_p": 7})
    response = client.post(f"/admin/labeling/project/{configured.pk}/change/", form)
    assert response.status_code == 200 and "top_p must be in (0, 1], got 7" in response.content.decode()
    assert KEY not in response.content.decode()
    assert Project.objects.get().generation == GENERATION
    form["generation"] = json.dumps(LISTED)
    response = client.post(f"/admin/labeling/project/{configured.pk}/change/", {**form, "api_key": "sk-top"})
    assert response.status_code == 200 and "each generator&#x27;s key goes in its entry" in response.content.decode()
    assert Project.objects.get().generation == GENERATION
