"""Requesting a training run: one active run per project, even under concurrent requests."""

import pytest

from labeling.models import Project
from labeling.transitions import InvalidTransition
from rewards.models import RunStatus, TrainingAlreadyActive, TrainingRun, Trigger
from tests.conftest import at_the_same_moment, client_for


@pytest.mark.django_db(transaction=True)
def test_it_starts_exactly_one_run_for_two_concurrent_requests(postgres, admin_user):
    project = Project.objects.create(name="Concurrent")

    def request():
        try:
            return TrainingRun.objects.request(project, trigger=Trigger.MANUAL, enqueue=False).pk
        except TrainingAlreadyActive as exc:
            return exc

    outcomes = at_the_same_moment([request, request])

    started = [o for o in outcomes if isinstance(o, int)]
    refused = [o for o in outcomes if isinstance(o, TrainingAlreadyActive)]
    assert len(started) == 1 and len(refused) == 1
    assert refused[0].run.pk == started[0]
    assert TrainingRun.objects.filter(project=project).count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_api_requests_answer_202_and_409(postgres, admin_user):
    project = Project.objects.create(name="Concurrent API")

    def post():
        return client_for(admin_user).post(f"/api/projects/{project.pk}/training-runs/", {"max_steps": 1},
                                           format="json").status_code

    codes = at_the_same_moment([post, post])

    assert sorted(codes) == [202, 409]
    assert TrainingRun.objects.filter(project=project).count() == 1


def test_a_request_queues_the_task_after_commit(project, admin_user, django_capture_on_commit_callbacks, monkeypatch):
    sent = []
    monkeypatch.setattr("rewards.tasks.train_reward_model.apply_async",
                        lambda args, kwargs=None, **options: sent.append((*args, options["task_id"])))

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client_for(admin_user).post(f"/api/projects/{project.pk}/training-runs/",
                                               {"max_steps": 5, "max_length": 64}, format="json")
    assert response.status_code == 202
    assert sent == []  # nothing is sent before the run row is committed
    for callback in callbacks:
        callback()

    run = TrainingRun.objects.get()
    # The message carries the task id the run recorded in the same transaction.
    assert sent == [(run.pk, run.celery_task_id)] and run.celery_task_id
    assert run.status == RunStatus.QUEUED and run.trigger == Trigger.MANUAL
    assert run.hyperparameters == {"max_steps": 5, "max_length": 64}
    assert run.requested_by == admin_user


def test_a_second_request_while_one_is_queued_answers_409(project, admin_user):
    client = client_for(admin_user)
    first = client.post(f"/api/projects/{project.pk}/training-runs/", {}, format="json")
    second = client.post(f"/api/projects/{project.pk}/training-runs/", {}, format="json")

    assert first.status_code == 202
    assert second.status_code == 409
    assert second.json()["run"]["id"] == first.json()["id"]
    assert "already queued" in second.json()["detail"]


@pytest.mark.parametrize("body, field", [
    ({"max_steps": 0}, "max_steps"),
    ({"learning_rate": "fast"}, "learning_rate"),
    ({"validation_fraction": 0.99}, "validation_fraction"),
    ({"backbone": "/etc"}, "backbone"),
])
def test_bad_settings_answer_400_naming_the_field_and_store_nothing(project, admin_user, body, field):
    response = client_for(admin_user).post(f"/api/projects/{project.pk}/training-runs/", body, format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert not TrainingRun.objects.exists()


def test_a_finished_run_cannot_move_again_and_a_new_one_may_start(project):
    run = TrainingRun.objects.request(project, trigger=Trigger.SCHEDULE, enqueue=False)
    seen_by_a_second_worker = TrainingRun.objects.get(pk=run.pk)
    assert run.start()
    assert not seen_by_a_second_worker.start()  # its conditional UPDATE finds the run no longer queued
    with pytest.raises(InvalidTransition):
        TrainingRun.objects.get(pk=run.pk).move_to(RunStatus.QUEUED)
    run.fail("boom")

    run.refresh_from_db()
    assert run.status == RunStatus.FAILED and run.error == "boom" and run.finished_at
    assert not run.fail("again")
    assert TrainingRun.objects.request(project, trigger=Trigger.MANUAL, enqueue=False).status == RunStatus.QUEUED
