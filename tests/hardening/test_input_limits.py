"""Bodies, lists, strings, integers, nesting and NUL characters: every oversized or odd input is a 400 (or a
413 for the body) that names what was wrong, and nothing is stored."""
import json

import pytest
from django.test import Client

from labeling.limits import MAX_INT32
from labeling.models import Prompt, Ranking, Task
from tests.conftest import client_for
from tests.hardening.test_secrets import admin_form_data


def next_task(api, project, kind):
    return api.post(f"/api/projects/{project.pk}/next/", {"kind": kind}, format="json").json()


def ratings_for(task):
    return [{"candidate": c["id"], "tier": i + 1, "likert": 4, "flags": []} for i, c in enumerate(task["candidates"])]


@pytest.fixture
def api(labeler):
    return client_for(labeler)


def test_an_oversized_body_is_refused_before_it_is_read(api, project, ready_prompt, settings):
    task = next_task(api, project, "rank")
    ratings = ratings_for(task) * 20_000  # ~1.5 MB of ratings
    response = api.post(f"/api/tasks/{task['id']}/ranking/", {"ratings": ratings}, format="json")
    assert response.status_code == 413 and "body" in response.json()
    assert Ranking.objects.count() == 0


@pytest.mark.parametrize("make_body, field", [
    (lambda r: {"ratings": r * 3}, "ratings"),  # longer than any project's K
    (lambda r: {"ratings": [{**r[0], "flags": ["hallucination"] * 50}] + r[1:]}, "ratings"),
    (lambda r: {"ratings": r, "time_spent_ms": 2**31}, "time_spent_ms"),
    (lambda r: {"ratings": r, "time_spent_ms": 2**70}, "time_spent_ms"),
    (lambda r: {"ratings": [{**r[0], "candidate": 2**64}] + r[1:]}, "ratings"),
    (lambda r: {"ratings": [{**r[0], "tier": 2**40}] + r[1:]}, "ratings"),
])
def test_ranking_lists_and_numbers_are_capped(api, project, ready_prompt, make_body, field):
    task = next_task(api, project, "rank")
    response = api.post(f"/api/tasks/{task['id']}/ranking/", make_body(ratings_for(task)), format="json")
    assert response.status_code == 400 and field in response.json(), response.content
    assert Ranking.objects.count() == 0


def test_the_largest_time_spent_that_fits_is_stored(api, project, ready_prompt):
    task = next_task(api, project, "rank")
    response = api.post(f"/api/tasks/{task['id']}/ranking/", {"ratings": ratings_for(task),
                                                              "time_spent_ms": MAX_INT32}, format="json")
    assert response.status_code == 200 and Ranking.objects.get().time_spent_ms == MAX_INT32


@pytest.mark.parametrize("body, field", [
    ({"text": "x" * 30_000}, "text"),
    ({"messages": [{"role": "user", "content": "hi"}] * 500}, "messages"),
    ({"kind": "few_shot", "instruction": "Do it", "examples": [{"query": "q", "response": "r"}] * 500}, "examples"),
    ({"text": "hello", "time_spent_ms": 2**31}, "time_spent_ms"),
    ({"text": "nul \x00 inside"}, "text"),
])
def test_prompt_writing_is_capped(api, project, body, field):
    task = next_task(api, project, "write_prompt")
    response = api.post(f"/api/tasks/{task['id']}/prompt/", body, format="json")
    assert response.status_code == 400 and field in response.json(), response.content
    assert Prompt.objects.count() == 0


def test_a_long_use_case_is_refused_when_the_project_is_saved(admin_user, project, labeler):
    admin = client_for(admin_user)
    response = admin.patch(f"/api/projects/{project.pk}/", {"use_cases": ["u" * 501]}, format="json")
    assert response.status_code == 400 and "use_cases" in response.json()
    response = admin.patch(f"/api/projects/{project.pk}/", {"use_cases": ["fine", "nul\x00"]}, format="json")
    assert response.status_code == 400 and "use_cases" in response.json()
    response = admin.patch(f"/api/projects/{project.pk}/", {"generation": {"model": "m\x00"}}, format="json")
    assert response.status_code == 400 and "generation" in response.json()


def test_a_skip_note_is_capped(api, project, ready_prompt):
    task = next_task(api, project, "rank")
    response = api.post(f"/api/tasks/{task['id']}/skip/", {"reason": "other", "note": "n" * 5000}, format="json")
    assert response.status_code == 400 and "note" in response.json()
    assert Task.objects.get(pk=task["id"]).state == "leased"


@pytest.mark.parametrize("query, parameter", [
    ("limit=9223372036854775808", "limit"), ("limit=0", "limit"), ("limit=abc", "limit"),
    ("offset=9223372036854775808", "offset"), ("offset=-1", "offset"), ("limit=1" + "0" * 5000, "limit"),
])
def test_pagination_parameters_out_of_range_are_refused(api, project, query, parameter):
    response = api.get(f"/api/tasks/?{query}")
    assert response.status_code == 400 and parameter in response.json()


def test_a_huge_offset_within_a_bigint_is_an_empty_page(api, project):
    response = api.get("/api/tasks/?offset=9223372036854775807&limit=10")
    assert response.status_code == 200 and response.json()["results"] == []


def test_json_nested_deeper_than_the_recursion_limit_is_a_400(api, project, ready_prompt):
    task = next_task(api, project, "rank")
    body = '{"ratings": ' + "[" * 5000 + "]" * 5000 + "}"
    response = api.post(f"/api/tasks/{task['id']}/ranking/", body, content_type="application/json")
    assert response.status_code == 400 and "nested too deeply" in response.json()["detail"]


def test_nul_characters_in_admin_fields_are_a_form_error(admin_user, project):
    client = Client()
    client.force_login(admin_user)
    form = {**admin_form_data(project), "use_cases": json.dumps(["bad\x00"]),
            "generation": json.dumps({"model": "m\x00"})}
    response = client.post(f"/admin/labeling/project/{project.pk}/change/", form)
    assert response.status_code == 200  # the form again, with its errors
    assert "NUL" in response.content.decode()
    assert client.get("/admin/labeling/prompt/?q=%00").status_code in (200, 400)
