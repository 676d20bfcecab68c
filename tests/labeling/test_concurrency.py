"""32 labelers ask for the next task at the same moment, on PostgreSQL (SQLite ignores row locks)."""
from collections import Counter

import pytest

from labeling import workflow
from labeling.models import Task, TaskKind, TaskState
from tests.conftest import add_ready_prompt, at_the_same_moment, make_user
from tests.labeling.test_amend import assert_same_figures, k3_project, lease, ratings_for, submit

pytestmark = pytest.mark.postgres


@pytest.fixture
def crowd(transactional_db, postgres):
    return [make_user(f"crowd{i}", "labeler") for i in range(32)]


def test_no_prompt_is_leased_to_more_labelers_than_overlap(crowd, project):
    project.overlap = 2
    project.save()
    prompts = [add_ready_prompt(project, f"prompt {i}") for i in range(12)]  # 24 slots for 32 labelers
    tasks = at_the_same_moment([lambda u=u: workflow.lease_next(u, project, TaskKind.RANK) for u in crowd])
    leased = [t for t in tasks if t is not None]
    assert len(leased) == 24  # every slot went to someone; 8 labelers found the pool empty
    per_prompt = Counter(t.prompt_id for t in leased)
    assert set(per_prompt) == {p.pk for p in prompts} and max(per_prompt.values()) == 2
    assert len({t.labeler_id for t in leased}) == 24  # nobody holds two slots
    for prompt_id in per_prompt:
        holders = Task.objects.filter(prompt_id=prompt_id, state=TaskState.LEASED).values_list("labeler", flat=True)
        assert len(set(holders)) == 2


def test_one_labeler_asking_many_times_at_once_gets_one_lease(crowd, project):
    project.overlap = 3
    project.save()
    for i in range(4):
        add_ready_prompt(project, f"prompt {i}")
    labeler = crowd[0]
    tasks = at_the_same_moment([lambda: workflow.lease_next(labeler, project, TaskKind.RANK)] * 8)
    assert len({t.pk for t in tasks}) == 1
    assert Task.objects.filter(labeler=labeler, state=TaskState.LEASED).count() == 1


def test_concurrent_submits_of_one_task_store_one_ranking(crowd, project):
    add_ready_prompt(project)
    labeler = crowd[0]
    task = workflow.lease_next(labeler, project, TaskKind.RANK)
    ratings = [{"candidate": c, "tier": 1, "likert": 4, "flags": []} for c in task.display_order]
    rankings = at_the_same_moment([lambda: workflow.submit_ranking(task.pk, labeler, ratings=ratings)] * 6)
    assert len({r.pk for r in rankings}) == 1
    assert task.prompt.rankings.count() == 1


def test_an_amendment_and_submits_at_the_same_moment_add_up_as_if_in_turn(crowd):
    """The amendment and the other labelers' submits each read the prompt's rankings under its row lock, so
    every comparison is counted once, with the amended ranking, whichever commits first."""
    amended, direct = (k3_project(name, overlap=8) for name in ("amended", "direct"))
    for project in (amended, direct):
        add_ready_prompt(project, "Race", ["a", "bb", "ccc"])
    first, others = crowd[0], crowd[1:7]
    rankings = dict(zip(others, [[1, 2, 3], [2, 1, 3], [3, 2, 1], [1, 1, 1], [1, 2, 2], [2, 2, 1]]))
    task_id, candidates = submit(first, amended, [3, 2, 1])
    submit(first, direct, [1, 1, 2])
    leases = {user: lease(user, amended) for user in others}
    at_the_same_moment(
        [lambda: workflow.amend_ranking(task_id, first, ratings=ratings_for(candidates, [1, 1, 2]))]
        + [lambda u=u, tiers=tiers: workflow.submit_ranking(leases[u][0], u, ratings=ratings_for(leases[u][1], tiers),
                                                            time_spent_ms=6000)
           for u, tiers in rankings.items()])
    for u, tiers in rankings.items():
        submit(u, direct, tiers)
    assert_same_figures(amended, direct)
