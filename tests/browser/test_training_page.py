"""The reward-model page says what a training run is doing as it is (queued, running, done, failed) and why
a version was or was not promoted."""
import pytest
from django.utils import timezone
from playwright.sync_api import expect

from rewards.models import RunStatus, TrainingRun
from tests.browser.conftest import log_in
from tests.platform_rewards.conftest import fake_version

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_requested_run_reads_queued_until_a_worker_moves_it(page, project, admin_user):
    log_in(page, admin_user)
    page.goto(f"/projects/{project.pk}/dashboard/")
    page.get_by_role("button", name="Train a new version").click()

    expect(page.locator("#train-message")).to_contain_text("queued")
    run = TrainingRun.objects.get(project=project)
    expect(page.locator("#train-message")).to_have_text(f"Run {run.pk} is queued, waiting for a training worker.")
    expect(page.locator("#run-title")).to_contain_text("queued, waiting for a training worker")
    expect(page.locator("#run-title")).not_to_contain_text("step")

    # The page polls every 2 s while the run is active.
    run.start()
    expect(page.locator("#run-title")).to_contain_text("running, step 0 of ?", timeout=8_000)
    run.fail("out of memory")
    expect(page.locator("#run-title")).to_contain_text("failed", timeout=8_000)
    expect(page.locator("#run-error")).to_have_text("out of memory")


def test_a_version_kept_as_a_candidate_shows_why(page, project, admin_user):
    current = fake_version(project, 1, 0.70, current=True, promoted_at=timezone.now())
    candidate = fake_version(project, 2, 0.60, comparisons=100)
    candidate.metrics["on_current_validation"] = {"against_version": 1, "new_accuracy": 0.60,
                                                  "current_accuracy": 0.70, "comparisons": 100}
    candidate.save()
    assert not candidate.promote_if_not_worse(current)

    log_in(page, admin_user)
    page.goto(f"/projects/{project.pk}/dashboard/")
    row = page.locator("#versions tr").first
    expect(row).to_contain_text("kept as a candidate: accuracy 0.600 on 100 comparisons (95% interval 0.502-0.691)")
    expect(row).to_contain_text("worse than v1's 0.700 beyond the noise of the set")
    assert TrainingRun.objects.filter(status=RunStatus.SUCCEEDED).count() == 2
