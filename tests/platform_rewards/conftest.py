"""Fixtures of the reward-model platform tests: rankings stored through the REST API, and a tiny
training configuration that finishes in seconds on a CPU."""
import pytest

from labeling.models import TaskKind
from rewards.models import RewardModel, RunStatus, TrainingRun
from tests.conftest import add_ready_prompt, client_for

# A few optimizer steps on short sequences: enough to exercise every stage, not to learn much.
TINY = {"max_steps": 2, "max_length": 48, "groups_per_step": 4, "eval_every": 100, "validation_fraction": 0.3}


@pytest.fixture
def model_dir(settings, tmp_path):
    settings.RANKWISE_MODEL_DIR = tmp_path / "models"
    return settings.RANKWISE_MODEL_DIR


def rank_through_api(project, labeler, order=None):
    """Lease the labeler's next rank task and submit a ranking of its candidates through the API.

    `order(candidates)` returns the candidates best first (default: by their text, so that every labeler
    agrees). Returns the submitted task id, or None when the labeler has no task left."""
    client = client_for(labeler)
    response = client.post(f"/api/projects/{project.pk}/next/", {"kind": TaskKind.RANK}, format="json")
    if response.status_code == 204:
        return None
    assert response.status_code == 200, response.content
    task = response.json()
    candidates = sorted(task["candidates"], key=lambda c: c["text"]) if order is None else order(task["candidates"])
    ratings = [{"candidate": c["id"], "tier": tier, "likert": 7 - tier} for tier, c in enumerate(candidates, 1)]
    response = client.post(f"/api/tasks/{task['id']}/ranking/", {"ratings": ratings}, format="json")
    assert response.status_code == 200, response.content
    return task["id"]


def ranked_project(project, labelers, prompts=6):
    for i in range(prompts):
        add_ready_prompt(project, f"Question number {i}: how do I {['cook', 'sleep', 'read'][i % 3]} well?")
    for labeler in labelers:
        while rank_through_api(project, labeler):
            pass
    return project


def fake_version(project, version, accuracy, *, current=False, validation_prompt_ids=(), promoted_at=None,
                 comparisons=1000):
    """A version row without weights, for rules that only read metrics."""
    run = TrainingRun.objects.create(project=project, status=RunStatus.SUCCEEDED)
    return RewardModel.objects.create(
        project=project, run=run, version=version, checkpoint_path=f"/nonexistent/v{version}", backbone="test",
        metrics={"validation": {"pairwise_accuracy": accuracy, "comparisons": comparisons}}, data_fingerprint="x" * 64,
        validation_prompt_ids=list(validation_prompt_ids), is_current=current, promoted_at=promoted_at,
    )
