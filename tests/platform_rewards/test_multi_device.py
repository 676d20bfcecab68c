"""A training worker with several devices runs the training under torchrun (two gloo processes here)."""
from rewards import pipeline
from rewards.models import RewardModel, RunStatus, TrainingRun, Trigger
from rewards.training import load_checkpoint
from tests.platform_rewards.conftest import TINY, ranked_project
from tests.worker.conftest import tiny_model_dir  # noqa: F401


def test_a_run_on_a_two_device_worker_trains_in_two_processes(project, labeler, model_dir, settings, tiny_model_dir):
    settings.RANKWISE_TRAINING_DEVICES = 2
    settings.RANKWISE_RM_BACKBONE = str(tiny_model_dir)
    ranked_project(project, [labeler], prompts=6)
    run = TrainingRun.objects.request(project, trigger=Trigger.MANUAL, hyperparameters=TINY, enqueue=False)

    version = pipeline.execute(run)

    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED and run.step == run.total_steps == 2
    assert len(run.loss_history) == 2  # rank 0's progress lines reached the run row
    assert version.metrics["training"]["processes"] == 2 and len(version.metrics["loss_history"]) == 2
    assert RewardModel.objects.get(project=project) == version
    _, _, metadata = load_checkpoint(version.checkpoint_path)
    assert metadata["backbone"] == str(tiny_model_dir) and metadata["precision"] == "fp32"
