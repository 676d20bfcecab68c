"""Fixtures for the export tests: a project with rankings by two labelers, made through the labelers' own
code path (lease a rank task, submit a ranking), so the exports read data exactly as the app writes it."""
import pytest

from labeling import workflow
from labeling.models import Demonstration, TaskKind
from tests.conftest import add_ready_prompt


def rank(prompt, labeler, tiers, likert=None, flags=None, time_spent_ms=1000, strength=""):
    """Submit `labeler`'s ranking of `prompt`: tiers and likert in candidate index order."""
    task = workflow.lease_next(labeler, prompt.project, TaskKind.RANK)
    assert task is not None and task.prompt_id == prompt.pk
    candidates = list(prompt.candidates.order_by("index"))
    likert = likert or [7 - t for t in tiers]
    flags = flags or [[] for _ in tiers]
    return workflow.submit_ranking(task.pk, labeler, ratings=[
        {"candidate": c.pk, "tier": t, "likert": lk, "flags": f}
        for c, t, lk, f in zip(candidates, tiers, likert, flags)], time_spent_ms=time_spent_ms, strength=strength)


@pytest.fixture
def ranked_project(project, labeler, other_labeler):
    """Two prompts ranked by both labelers (overlap 2), one with a tie, one flagged; plus a prompt that
    has a demonstration and one that has none."""
    project.overlap = 2
    project.save()
    first = add_ready_prompt(project, "Explain gravity")
    rank(first, labeler, [1, 2, 3, 4])
    rank(first, other_labeler, [1, 3, 2, 4])
    second = add_ready_prompt(project, "Write a haiku")
    rank(second, labeler, [2, 1, 1, 3], flags=[[], ["hallucination"], [], []])
    rank(second, other_labeler, [2, 1, 1, 3])
    demonstrated = add_ready_prompt(project, "Say thanks")
    Demonstration.objects.create(prompt=demonstrated, author=labeler, text="Thank you!")
    return project
