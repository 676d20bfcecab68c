"""The model comparison page and JSON: read from stored rankings, admins only, no model names to labelers."""
import re

import pytest
from django.test import Client

from labeling.models import Candidate, TaskKind
from tests.conftest import add_ready_prompt, client_for


def rank_through_the_api(client, project, prefer):
    """Lease the next rank task and rank its candidates by `prefer(candidate)` (lower is better)."""
    task = client.post(f"/api/projects/{project.pk}/next/", {"kind": TaskKind.RANK}, format="json").json()
    # Nothing tells which model wrote a candidate.
    assert all(not {"generator", "model_name", "reward"} & set(c) for c in task["candidates"])
    ratings = [{"candidate": c["id"], "tier": prefer(Candidate.objects.get(pk=c["id"])), "likert": 5,
                "flags": ["hallucination"] if "bad" in c["text"] else []} for c in task["candidates"]]
    response = client.post(f"/api/tasks/{task['id']}/ranking/", {"ratings": ratings}, format="json")
    assert response.status_code in (200, 201), response.content


@pytest.fixture
def compared(project, labeler):
    """Three prompts, each with two candidates of "good" and two of "bad"; the labeler always puts good first."""
    for n in range(3):
        prompt = add_ready_prompt(project, f"prompt {n}", [f"good {n}", f"bad {n}", f"good {n}!", f"bad {n}!"])
        for candidate in prompt.candidates.all():
            Candidate.objects.filter(pk=candidate.pk).update(
                generator="good" if candidate.text.startswith("good") else "bad",
                reward=1.0 if candidate.text.startswith("good") else 0.0)
    client = client_for(labeler)
    for _ in range(3):
        rank_through_the_api(client, project, lambda c: 1 if c.generator == "good" else 2)
    return project


def test_the_json_ranks_the_preferred_model_first(compared, admin_user):
    report = client_for(admin_user).get(f"/api/projects/{compared.pk}/model-comparison/").json()
    assert report["rankings"] == 3 and report["battles"] == 12
    assert [row["model"] for row in report["leaderboard"]] == ["good", "bad"]
    (pair,) = report["win_rates"]
    assert (pair["model"], pair["opponent"], pair["win_rate"], pair["ci"]) == ("bad", "good", 0, [0, 0])
    assert report["reward_agreement"]["good"]["agreement"] == 1
    assert report["ratings"]["bad"]["flag_rates"]["hallucination"] == 1
    assert report["ratings"]["good"]["mean_likert"] == 5


def test_the_page_draws_the_leaderboard_without_script(compared, admin_user):
    client = Client()
    client.force_login(admin_user)
    page = client.get(f"/projects/{compared.pk}/models/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "<svg" in html and html.count('class="mc-dot"') == 2
    assert not re.search(r"<script(?![^>]*\bsrc=)", html)  # no inline script: the CSP forbids it


def test_labelers_get_neither_page_nor_json(compared, labeler):
    assert client_for(labeler).get(f"/api/projects/{compared.pk}/model-comparison/").status_code == 403
    client = Client()
    client.force_login(labeler)
    assert client.get(f"/projects/{compared.pk}/models/").status_code == 403
