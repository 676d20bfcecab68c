"""Training runs end to end in this process with MiniLM and a few steps: versions, the comparison on the
current version's validation set, and a run killed while saving its checkpoint."""
from pathlib import Path

import pytest

from rewards import pipeline
from rewards.models import RewardModel, RunStatus, TrainingRun, Trigger
from rewards.training import load_checkpoint, score
from tests.platform_rewards.conftest import TINY, ranked_project


def new_run(project):
    return TrainingRun.objects.request(project, trigger=Trigger.MANUAL, hyperparameters=TINY, enqueue=False)


def hidden_leftovers(model_dir):
    return sorted(p.name for p in Path(model_dir).rglob(".*"))


@pytest.mark.slow
def test_versions_are_trained_measured_on_the_current_validation_set_and_survive_a_killed_save(
        project, labeler, model_dir, monkeypatch):
    project.min_validation_comparisons = 1  # a tiny validation set may promote here
    project.save()
    ranked_project(project, [labeler], prompts=8)

    # Version 1: trained, saved, recorded, promoted.
    first_run = new_run(project)
    first = pipeline.execute(first_run)
    first_run.refresh_from_db()
    assert first_run.status == RunStatus.SUCCEEDED and first_run.percent == 100.0
    assert first_run.step == first_run.total_steps == 2 and len(first_run.loss_history) == 2
    assert "saved version 1" in first_run.log
    assert first.is_current and first.version == 1
    assert first.metrics["validation"]["pairwise_accuracy"] is not None
    assert set(first.metrics["validation"]["accuracy_by_agreement"]) == {"agreed", "disagreed", "unknown"}
    assert len(first.metrics["loss_history"]) == 2
    assert first.validation_prompt_ids and first.comparisons == 6 * first.prompts
    assert Path(first.checkpoint_path).parent == model_dir / f"project-{project.pk}"

    # Version 2 holds version 1's validation prompts out of training and is measured on them, with v1.
    second = pipeline.execute(new_run(project))
    duel = second.metrics["on_current_validation"]
    assert duel["against_version"] == 1 and duel["comparisons"] > 0
    assert duel["new_accuracy"] is not None and duel["current_accuracy"] is not None
    assert set(first.validation_prompt_ids) <= set(second.validation_prompt_ids)
    assert second.promotion["comparisons"] == duel["comparisons"] and second.promotion["baseline"] == "v1"
    low, high = second.promotion["interval"]
    assert second.is_current == second.promotion["promote"] == (duel["current_accuracy"] <= high)
    current = RewardModel.objects.current(project)

    # Version 3 is killed while its checkpoint is being written: the save stops half way and, like a
    # killed process, cleans nothing up.
    def killed(*args, **kwargs):
        raise KeyboardInterrupt("SIGINT during save")

    killed_run = new_run(project)
    with monkeypatch.context() as patch:
        patch.setattr("rewards.training.checkpoint._fsync_tree", killed)
        patch.setattr("rewards.training.checkpoint.shutil.rmtree", lambda *a, **k: None)
        with pytest.raises(KeyboardInterrupt):
            pipeline.execute(killed_run)

    killed_run.refresh_from_db()
    assert killed_run.status == RunStatus.FAILED and "SIGINT during save" in killed_run.error
    assert RewardModel.objects.filter(project=project).count() == 2
    assert RewardModel.objects.current(project) == current
    assert not (model_dir / f"project-{project.pk}" / f"run-{killed_run.pk}").exists()
    assert [name for name in hidden_leftovers(model_dir) if ".partial-" in name]
    model, tokenizer, metadata = load_checkpoint(current.checkpoint_path)
    assert len(score(model, tokenizer, ["Say hi"], ["Hi!"])) == 1

    # The next run clears the unfinished directory before anything else (here it then fails early).
    def no_training(*args, **kwargs):
        raise ValueError("stopped by the test")

    monkeypatch.setattr("rewards.pipeline.train_reward_model", no_training)
    with pytest.raises(ValueError):
        pipeline.execute(new_run(project))
    assert hidden_leftovers(model_dir) == []
    assert RewardModel.objects.current(project) == current


@pytest.mark.slow
def test_a_run_failed_by_the_sweep_while_training_records_and_promotes_nothing(project, labeler, model_dir,
                                                                             monkeypatch):
    ranked_project(project, [labeler], prompts=4)
    run = new_run(project)
    real_train = pipeline.train_reward_model

    def train_then_get_swept(*args, **kwargs):
        result = real_train(*args, **kwargs)
        TrainingRun.objects.get(pk=run.pk).fail("no progress report for a long time: the worker was probably killed")
        return result

    monkeypatch.setattr(pipeline, "train_reward_model", train_then_get_swept)
    assert pipeline.execute(run) is None
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED and "killed" in run.error
    assert not RewardModel.objects.exists()
    assert not list((model_dir / f"project-{project.pk}").glob("run-*"))
