"""Celery tasks of the reward model (routed to the "training" queue by CELERY_TASK_ROUTES "rewards.*").

They take ids, re-read the rows and return early when the work is gone or done; the work itself is
in rewards.pipeline and on the models."""
from celery import shared_task

from labeling.models import Project
from rewards import data
from rewards.models import RewardModel, RunStatus, TrainingAlreadyActive, TrainingRun, Trigger


@shared_task(bind=True, name="rewards.train_reward_model")
def train_reward_model(self, run_id):
    from rewards.pipeline import execute  # torch and transformers load only in the process that trains

    run = TrainingRun.objects.select_related("project").filter(pk=run_id).first()
    if run is None:
        return None
    if run.status == RunStatus.RUNNING and run.celery_task_id == self.request.id:
        # Late acks put the message back when the process running it died; this is that message again.
        run.fail("the worker process died during training")
        return None
    if run.status != RunStatus.QUEUED:
        return None
    version = execute(run)
    return version.pk if version else None


@shared_task(name="rewards.score_candidates")
def score_candidates(reward_model_id):
    from rewards.pipeline import score_candidates as score_all

    version = RewardModel.objects.filter(pk=reward_model_id, is_current=True).first()
    if version is None:  # rolled back or replaced before this ran: the newer promotion rescores
        return 0
    return score_all(version)


def due_trigger(project, scheduled):
    """The trigger for retraining `project` now, or None when nothing new arrived since the last run.

    The last run (whatever its outcome) is the baseline: a run that failed on some data is not retried
    every few minutes, only once more comparisons arrive or an admin asks."""
    last = (TrainingRun.objects.filter(project=project).exclude(status=RunStatus.QUEUED)
            .exclude(last_ranking_id=None).order_by("-created_at").first())
    new = data.comparison_counts(project, after_ranking_id=last.last_ranking_id if last else None)["comparisons"]
    if scheduled and new > 0:
        return Trigger.SCHEDULE
    if project.retrain_after_comparisons and new >= project.retrain_after_comparisons:
        return Trigger.THRESHOLD
    return None


def _retrain_due_projects(scheduled):
    TrainingRun.objects.fail_stale()
    started = []
    for project in Project.objects.exclude(pk__in=TrainingRun.objects.active().values("project_id")):
        trigger = due_trigger(project, scheduled)
        if trigger is None:
            continue
        try:
            started.append(TrainingRun.objects.request(project, trigger=trigger).pk)
        except TrainingAlreadyActive:
            continue  # someone requested one a moment ago: it will read the same new data
    return started


@shared_task(name="rewards.scheduled_retraining")
def scheduled_retraining():
    """The nightly retraining (schedule editable in the admin's Periodic tasks)."""
    return _retrain_due_projects(scheduled=True)


@shared_task(name="rewards.check_retraining")
def check_retraining():
    """Frequent, cheap check: retrain projects with `retrain_after_comparisons` new comparisons."""
    return _retrain_due_projects(scheduled=False)
