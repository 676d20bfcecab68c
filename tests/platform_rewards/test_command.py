"""manage.py train_reward_model, on a project's rankings and on a shared JSONL file."""
import json
import os

import pytest
from django.core.management import CommandError, call_command

from rewards.models import RewardModel, RunStatus, TrainingRun
from tests.platform_rewards.conftest import ranked_project


def test_it_names_a_missing_project(db):
    with pytest.raises(CommandError, match="no project named 'Nope'"):
        call_command("train_reward_model", "--project", "Nope")


@pytest.mark.slow
def test_it_trains_a_project_version_and_prints_metrics(project, labeler, model_dir, capsys):
    project.min_validation_comparisons = 1  # a tiny validation set may promote here
    project.save()
    ranked_project(project, [labeler], prompts=5)

    call_command("train_reward_model", "--project", project.name, "--max-steps", "2", "--max-length", "48",
                 "--validation-fraction", "0.3")

    out, err = capsys.readouterr()
    metrics = json.loads(out)
    assert metrics["validation"]["pairwise_accuracy"] is not None
    assert "training" in err and "2/2" in err  # the tqdm bar
    run = TrainingRun.objects.get()
    assert run.status == RunStatus.SUCCEEDED
    assert RewardModel.objects.current(project).run == run
    assert "is now current" in err


@pytest.mark.slow
def test_it_says_why_a_version_was_not_promoted(project, labeler, model_dir, capsys):
    ranked_project(project, [labeler], prompts=5)  # a few validation comparisons, fewer than the default minimum

    call_command("train_reward_model", "--project", project.name, "--max-steps", "1", "--max-length", "32",
                 "--validation-fraction", "0.3")

    assert "was not promoted (its validation set has" in capsys.readouterr().err
    assert RewardModel.objects.current(project) is None


@pytest.mark.slow
def test_it_trains_from_a_jsonl_of_pairs(shared_data, tmp_path, db, capsys):
    output = tmp_path / "hh"
    call_command("train_reward_model", "--from-jsonl", os.path.join(shared_data, "hh_harmless_pairs.jsonl"),
                 "--max-steps", "2", "--max-length", "32", "--validation-fraction", "0.02", "--output", str(output))

    metrics = json.loads(capsys.readouterr().out)
    assert metrics["validation"]["comparisons"] > 0
    assert (output / "rankwise_reward_model.json").is_file()
    assert not TrainingRun.objects.exists()
