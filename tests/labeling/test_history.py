"""The labeler's history page: their own finished work only, newest first, with a place for review results."""
import pytest
from django.test import Client

from labeling import workflow
from labeling.models import Ranking, ReviewCause
from tests.conftest import add_ready_prompt, client_for

pytestmark = pytest.mark.django_db


def rank(api, project, tiers):
    task = api.post(f"/api/projects/{project.pk}/next/", {"kind": "rank"}, format="json").json()
    ratings = [{"candidate": c["id"], "tier": tier, "likert": 4, "flags": []}
               for c, tier in zip(task["candidates"], tiers)]
    assert api.post(f"/api/tasks/{task['id']}/ranking/", {"ratings": ratings, "time_spent_ms": 12_400},
                    format="json").status_code == 200
    return task["id"]


def test_history_lists_own_work_newest_first_with_review_outcomes(project, labeler, other_labeler, admin_user):
    for n in range(8):  # a submit also leases the labeler's next task: enough for both labelers
        add_ready_prompt(project, f"Question {n}")
    api = client_for(labeler)
    first = rank(api, project, [2, 1, 2, 3])
    skipped = api.post(f"/api/projects/{project.pk}/next/", {"kind": "rank"}, format="json").json()["id"]
    api.post(f"/api/tasks/{skipped}/skip/", {"reason": "unclear"}, format="json")
    theirs = rank(client_for(other_labeler), project, [1, 2, 3, 4])
    rejected, pending = rank(api, project, [1, 1, 1, 1]), rank(api, project, [4, 3, 2, 1])
    workflow.queue_for_review(Ranking.objects.filter(task_id__in=[rejected, pending]), ReviewCause.WATCHED)
    workflow.review_ranking(Ranking.objects.get(task_id=rejected).pk, admin_user, accept=False,
                            reason="Read the <b>guidelines</b>")

    browser = Client()
    browser.force_login(labeler)
    page = browser.get("/history/").content.decode()
    assert f'data-task="{first}"' in page and f'data-task="{skipped}"' in page
    assert f'data-task="{theirs}"' not in page
    assert page.index(f'data-task="{skipped}"') < page.index(f'data-task="{first}"')
    assert "B &gt; A = C &gt; D" in page
    assert "Skipped: Unclear" in page and "12 s" in page
    # A pending review reads as not reviewed (nobody learns they are watched); a decision shows its reason.
    assert page.count('data-review="unreviewed"') == 2 and "Waiting for review" not in page
    assert 'data-review="rejected"' in page and "Rejected: <span class=\"reason\">Read the &lt;b&gt;guidelines" in page
    assert page.index(f'data-task="{pending}"') < page.index(f'data-task="{rejected}"')


def test_history_needs_a_login(db):
    response = Client().get("/history/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
