"""Training groups built from the database: one per ranking, labeler agreement, no N+1 queries."""
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from rewards.data import comparison_counts, ranking_groups
from tests.platform_rewards.conftest import rank_through_api, ranked_project


def test_it_builds_one_group_per_ranking_with_tiers(project, labeler, other_labeler):
    project.overlap = 2
    project.save()
    ranked_project(project, [labeler, other_labeler], prompts=3)

    groups = list(ranking_groups(project))

    assert len(groups) == 6
    for group in groups:
        assert sorted(group.tiers) == [1, 2, 3, 4]
        best = group.responses[group.tiers.index(1)]
        assert best == min(group.responses)  # rank_through_api ranks by text
        assert group.prompt[-1]["role"] == "user"
        assert group.labelers_agreed is True
    assert {g.prompt_id for g in groups} == {str(p.pk) for p in project.prompts.all()}
    assert comparison_counts(project)["comparisons"] == 6 * 6  # K=4: 6 pairs per ranking, no ties


def test_it_marks_disagreement_and_single_labelers(project, labeler, other_labeler):
    project.overlap = 2
    project.save()
    ranked_project(project, [labeler], prompts=2)
    # The second labeler ranks the first prompt in reverse order and leaves the second unranked.
    rank_through_api(project, other_labeler, order=lambda cands: sorted(cands, key=lambda c: c["text"], reverse=True))

    by_prompt = {}
    for group in ranking_groups(project):
        by_prompt.setdefault(group.prompt_id, []).append(group.labelers_agreed)

    assert sorted(map(tuple, by_prompt.values()), key=len) == [(None,), (False, False)]


def test_it_reads_many_rankings_in_a_constant_number_of_queries(project, labeler, other_labeler):
    project.overlap = 2
    project.save()
    ranked_project(project, [labeler, other_labeler], prompts=8)

    with CaptureQueriesContext(connection) as queries:
        groups = list(ranking_groups(project))

    assert len(groups) == 16
    assert len(queries) <= 3, [q["sql"] for q in queries]


def test_agreement_counts_comparisons_the_scores_get_right(project, labeler):
    ranked_project(project, [labeler], prompts=2)
    prompts = list(project.prompts.all())
    # Score the first prompt's candidates like the labeler (best text = highest reward), the second reversed.
    for candidate in prompts[0].candidates.all():
        candidate.reward = -ord(candidate.text[-1])
        candidate.save()
    for candidate in prompts[1].candidates.all():
        candidate.reward = ord(candidate.text[-1])
        candidate.save()

    counts = comparison_counts(project)

    assert counts == {"comparisons": 12, "scored": 12, "rm_agrees": 6, "rm_agreement": 0.5}


def test_a_rankings_stated_strength_reaches_the_trainer_as_its_top_pairs_margin(project, labeler):
    from labeling import workflow
    from labeling.models import TaskKind
    from tests.conftest import add_ready_prompt

    project.k = 2
    project.save()
    add_ready_prompt(project, "Which?", candidates=["first", "second"])
    task = workflow.lease_next(labeler, project, TaskKind.RANK)
    a, b = task.display_order
    workflow.submit_ranking(task.pk, labeler, strength="better", ratings=[
        {"candidate": a, "tier": 1, "likert": 6}, {"candidate": b, "tier": 2, "likert": 3}])
    [group] = ranking_groups(project)
    assert group.top_margin == pytest.approx(2 / 3) and group.pair_margins() == [pytest.approx(2 / 3)]
