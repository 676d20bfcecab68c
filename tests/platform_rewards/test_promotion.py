"""Promotion rules: a new version replaces the current one only if it is not worse on the current
one's validation set; admins promote and roll back by hand."""
from datetime import timedelta

from django.utils import timezone

from rewards.models import RewardModel
from tests.conftest import client_for
from tests.platform_rewards.conftest import fake_version


def challenger(project, version, new_accuracy, current_accuracy, against):
    model = fake_version(project, version, new_accuracy)
    model.metrics["on_current_validation"] = {"against_version": against.version, "new_accuracy": new_accuracy,
                                              "current_accuracy": current_accuracy}
    model.save()
    return model


def test_the_first_version_is_promoted(project, django_capture_on_commit_callbacks):
    first = fake_version(project, 1, 0.6)
    with django_capture_on_commit_callbacks() as callbacks:
        assert first.promote_if_not_worse(None)
    assert RewardModel.objects.current(project) == first
    assert len(callbacks) == 1  # rescoring the candidates is queued


def test_a_version_that_is_not_worse_is_promoted(project):
    current = fake_version(project, 1, 0.7, current=True, promoted_at=timezone.now())
    new = challenger(project, 2, 0.7, 0.7, against=current)

    assert new.promote_if_not_worse(current)

    assert RewardModel.objects.current(project) == new
    assert RewardModel.objects.filter(project=project, is_current=True).count() == 1


def test_a_worse_version_is_kept_but_not_promoted(project):
    current = fake_version(project, 1, 0.7, current=True, promoted_at=timezone.now())
    new = challenger(project, 2, 0.65, 0.7, against=current)

    assert not new.promote_if_not_worse(current)

    assert RewardModel.objects.current(project) == current
    assert RewardModel.objects.filter(project=project).count() == 2


def test_an_admins_choice_made_during_training_is_not_overridden(project):
    old = fake_version(project, 1, 0.6, current=True, promoted_at=timezone.now())
    chosen = fake_version(project, 2, 0.6)
    new = challenger(project, 3, 0.9, 0.6, against=old)
    chosen.promote()  # by hand, while version 3 trained against version 1

    assert not new.promote_if_not_worse(old)
    assert RewardModel.objects.current(project) == chosen


def test_admins_promote_and_roll_back_through_the_api(project, admin_user):
    now = timezone.now()
    fake_version(project, 1, 0.6, promoted_at=now - timedelta(days=2))
    fake_version(project, 2, 0.7, current=True, promoted_at=now - timedelta(days=1))
    fake_version(project, 3, 0.8)
    client = client_for(admin_user)

    promoted = client.post(f"/api/projects/{project.pk}/reward-models/3/promote/")
    assert promoted.status_code == 200 and promoted.json()["is_current"]
    assert RewardModel.objects.current(project).version == 3

    back = client.post(f"/api/projects/{project.pk}/reward-models/rollback/")
    assert back.status_code == 200 and back.json()["version"] == 2
    back = client.post(f"/api/projects/{project.pk}/reward-models/rollback/")
    assert back.status_code == 200 and back.json()["version"] == 1
    assert client.post(f"/api/projects/{project.pk}/reward-models/rollback/").status_code == 409
    assert RewardModel.objects.current(project).version == 1

    listed = client.get(f"/api/projects/{project.pk}/reward-models/").json()
    assert [v["version"] for v in listed] == [3, 2, 1]
    assert client.post(f"/api/projects/{project.pk}/reward-models/9/promote/").status_code == 404
