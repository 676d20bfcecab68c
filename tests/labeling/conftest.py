"""Shared fixtures of the labeling tests."""
import pytest
from django.utils import timezone

from labeling import workflow
from labeling.models import LabelerQuality, Ranking, ReviewCause, TaskKind
from labeling.roles import REVIEWER_GROUP, sync_roles
from tests.conftest import add_ready_prompt, make_user


def rank_in_order(labeler, project, order):
    """Lease the labeler's next task and rank its candidates by `order(candidate ids by index)`."""
    task = workflow.lease_next(labeler, project, TaskKind.RANK)
    by_index = list(task.prompt.candidates.order_by("index").values_list("id", flat=True))
    ranked = order(by_index)
    ratings = [{"candidate": c, "tier": ranked.index(c) + 1, "likert": 4} for c in by_index]
    return workflow.submit_ranking(task.pk, labeler, ratings=ratings, time_spent_ms=8000)


@pytest.fixture
def rated_project(project, labeler, other_labeler):
    """Three prompts ranked by two labelers: labeler1 ranks by index, labeler2 reverses the last two of the
    first prompt (5/6 agreement), then agrees fully. labeler2 is flagged; one ranking is rejected."""
    project.overlap, project.agreement_threshold, project.review_rate = 2, 0.0, 0.0
    project.save()
    for i in range(3):
        add_ready_prompt(project, f"Prompt {i}")
    first = rank_in_order(labeler, project, lambda ids: ids)
    rank_in_order(other_labeler, project, lambda ids: ids[:2] + ids[:1:-1])
    for _ in range(2):
        rank_in_order(labeler, project, lambda ids: ids)
        rank_in_order(other_labeler, project, lambda ids: ids)
    LabelerQuality.objects.filter(project=project, labeler=other_labeler).update(
        flagged_at=timezone.now(), flag_reasons=["peer agreement 0.42 < 0.60"])
    sync_roles()
    reviewer = make_user("reviewer1", REVIEWER_GROUP)
    workflow.queue_for_review(Ranking.objects.filter(pk=first.pk), ReviewCause.SAMPLE)
    workflow.review_ranking(first.pk, reviewer, accept=False, reason="Off")
    return project
