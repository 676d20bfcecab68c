"""Promotion rules: a new version replaces the current one only if its validation set is large enough and
it is not worse on the current one's validation set beyond that set's noise (a Wilson interval); admins
promote and roll back by hand."""
import pytest
from datetime import timedelta

from django.utils import timezone

from rewards.models import RewardModel
from rewards.promotion import decide_promotion, wilson_interval
from tests.conftest import client_for
from tests.platform_rewards.conftest import fake_version


def challenger(project, version, new_accuracy, current_accuracy, against, comparisons=1000):
    model = fake_version(project, version, new_accuracy)
    model.metrics["on_current_validation"] = {"against_version": against.version, "new_accuracy": new_accuracy,
                                              "current_accuracy": current_accuracy, "comparisons": comparisons}
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
    new.refresh_from_db()
    assert new.promotion["promote"] is False and "worse than v1's 0.700 beyond the noise" in new.promotion["reason"]


# Wilson score interval, z = 1.96, by hand: centre (p + z²/2n) / (1 + z²/n),
# half-width z / (1 + z²/n) * sqrt(p(1-p)/n + z²/4n²).
# 60/100: centre 0.619208 / 1.038416 = 0.596300, half-width 1.887490 * 0.049960 = 0.094300.
# 13/20:  centre 0.746040 / 1.192080 = 0.625831, half-width 1.644185 * 0.117371 = 0.192978.
@pytest.mark.parametrize("accuracy, n, low, high", [(0.6, 100, 0.5020, 0.6906), (0.65, 20, 0.4329, 0.8188)])
def test_the_wilson_interval_matches_the_hand_computed_one(accuracy, n, low, high):
    assert wilson_interval(accuracy, n) == pytest.approx((low, high), abs=2e-4)


def test_a_slightly_worse_version_within_the_noise_is_promoted_and_says_why(project):
    # 0.60 on 100 comparisons: interval 0.502-0.691, which holds the current 0.65.
    current = fake_version(project, 1, 0.65, current=True, promoted_at=timezone.now())
    new = challenger(project, 2, 0.60, 0.65, against=current, comparisons=100)

    assert new.promote_if_not_worse(current)

    new.refresh_from_db()
    assert new.promotion["interval"] == pytest.approx([0.5020, 0.6906], abs=2e-4)
    assert new.promotion["baseline"] == "v1" and "not worse" in new.promotion["reason"]


def test_a_version_worse_beyond_the_noise_is_not_promoted(project):
    # 0.60 on 100 comparisons: the current 0.70 is above the interval's top, 0.691.
    current = fake_version(project, 1, 0.70, current=True, promoted_at=timezone.now())
    new = challenger(project, 2, 0.60, 0.70, against=current, comparisons=100)
    assert not new.promote_if_not_worse(current)
    assert RewardModel.objects.current(project) == current


def test_a_version_measured_on_too_few_comparisons_stays_a_candidate(project):
    project.min_validation_comparisons = 50
    project.save()
    # The case: 0.36 on the comparisons of 2 validation rankings, promoted silently before.
    first = fake_version(project, 1, 0.36, comparisons=12)

    assert not first.promote_if_not_worse(None)

    first.refresh_from_db()
    assert RewardModel.objects.current(project) is None
    assert first.promotion["promote"] is False
    assert "12 comparisons" in first.promotion["reason"] and "at least 50" in first.promotion["reason"]


def test_a_first_version_worse_than_chance_beyond_the_noise_is_not_promoted(project):
    decision = decide_promotion(0.36, 400, baseline_accuracy=0.5, baseline="chance", min_comparisons=100)
    assert not decision.promote and decision.interval[1] < 0.5
    assert not fake_version(project, 1, 0.36, comparisons=400).promote_if_not_worse(None)


def test_the_decision_is_shown_in_the_versions_api(project, admin_user):
    current = fake_version(project, 1, 0.70, current=True, promoted_at=timezone.now())
    challenger(project, 2, 0.60, 0.70, against=current, comparisons=100).promote_if_not_worse(current)
    listed = client_for(admin_user).get(f"/api/projects/{project.pk}/reward-models/").json()
    assert listed[0]["version"] == 2 and not listed[0]["is_current"]
    assert "beyond the noise" in listed[0]["promotion"]["reason"]


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
