"""Retraining on the admin-editable schedule and after N new comparisons; both skip when nothing is new."""
from django_celery_beat.models import PeriodicTask

from rewards.data import last_ranking_id
from rewards.models import RunStatus, TrainingRun, Trigger
from rewards.tasks import check_retraining, due_trigger, scheduled_retraining
from tests.platform_rewards.conftest import rank_through_api, ranked_project


def test_the_schedule_is_in_the_database_for_the_admin_to_edit(db):
    tasks = {t.task: t for t in PeriodicTask.objects.filter(task__startswith="rewards.")}
    assert tasks["rewards.scheduled_retraining"].crontab.hour == "3"
    assert tasks["rewards.check_retraining"].interval.every == 5
    # Light checks: on `default`, where they never wait behind an hours-long training run (see the README).
    assert all(t.queue == "default" and t.expire_seconds for t in tasks.values())


def test_the_nightly_run_trains_only_when_new_comparisons_arrived(project, labeler):
    assert scheduled_retraining() == []  # no rankings at all

    ranked_project(project, [labeler], prompts=2)
    started = scheduled_retraining()
    assert len(started) == 1
    run = TrainingRun.objects.get(pk=started[0])
    assert run.trigger == Trigger.SCHEDULE
    assert scheduled_retraining() == []  # still queued: one active run per project

    # The run read everything there is; afterwards the schedule finds nothing new.
    run.start()
    run.record_data(last_ranking_id=last_ranking_id(project), comparisons=12, data_fingerprint="f")
    run.fail("test")
    assert due_trigger(project, scheduled=True) is None
    assert scheduled_retraining() == []


def test_the_threshold_trains_as_soon_as_enough_comparisons_arrived(project, labeler, other_labeler):
    project.retrain_after_comparisons = 12  # two rankings of K=4
    project.overlap = 2
    project.save()
    ranked_project(project, [labeler], prompts=1)
    assert due_trigger(project, scheduled=False) is None
    assert check_retraining() == []

    rank_through_api(project, other_labeler)
    started = check_retraining()
    assert [TrainingRun.objects.get(pk=pk).trigger for pk in started] == [Trigger.THRESHOLD]


def test_the_check_fails_runs_whose_worker_died(project, settings):
    settings.RANKWISE_TRAINING_STALE_MINUTES = 1
    run = TrainingRun.objects.request(project, trigger=Trigger.MANUAL, enqueue=False)
    run.start()
    TrainingRun.objects.filter(pk=run.pk).update(updated_at=run.updated_at.replace(year=2000))

    check_retraining()

    run.refresh_from_db()
    assert run.status == RunStatus.FAILED and "killed" in run.error
