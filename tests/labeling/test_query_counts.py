"""The labeler's hot requests run a fixed, small number of queries, however many prompts, candidates or
rankings there are: a change that adds one (or a query per candidate) fails here."""
import pytest
from django.test import Client

from labeling.models import TaskKind
from tests.conftest import add_ready_prompt

pytestmark = pytest.mark.usefixtures("postgres")


@pytest.fixture
def browser(labeler):
    client = Client()
    client.force_login(labeler)
    return client


def next_task(browser, project):
    return browser.post(f"/api/projects/{project.pk}/next/", {"kind": TaskKind.RANK},
                        content_type="application/json")


def submit(browser, task):
    ratings = [{"candidate": c["id"], "tier": i + 1, "likert": 4} for i, c in enumerate(task["candidates"])]
    return browser.post(f"/api/tasks/{task['id']}/ranking/", {"ratings": ratings}, content_type="application/json")


@pytest.mark.parametrize("k", [2, 9])
def test_next_and_submit_cost_a_fixed_number_of_queries(browser, project, k, django_assert_num_queries):
    # No gold draw: a lease that draws gold reads the labeler's standing and the gold prompts first (one
    # query more, at the project's gold rate).
    project.k, project.overlap, project.gold_rate = k, 3, 0
    project.save()
    for i in range(5):
        add_ready_prompt(project, f"Prompt {i}")
    # session, user, project, held lease (none), BEGIN, claim (unless flagged; with the display order, the
    # prompt and its candidates), COMMIT
    with django_assert_num_queries(7):
        task = next_task(browser, project).json()
    # session, user, BEGIN, task lock, ranking, ratings, task update, prompt lock (with its gold ranking),
    # the prompt's ratings, agreement upsert, labelers' figures upsert, open slots left, claim of the next
    # task, COMMIT
    with django_assert_num_queries(14):
        following = submit(browser, task).json()["next"]
    assert following is not None and len(following["candidates"]) == k
    # Holding a lease, asking again costs the lookup only: session, user, project, held lease, its candidates.
    with django_assert_num_queries(5):
        assert next_task(browser, project).json()["id"] == following["id"]
