"""The task queue: leases, overlap, expiry, skips and reports."""
from datetime import timedelta

import pytest
from django.utils import timezone

from labeling import workflow
from labeling.models import PromptState, Task, TaskKind, TaskState
from tests.conftest import add_ready_prompt, make_user


def rank_all(task, labeler, tiers=None):
    ids = task.display_order
    tiers = tiers or list(range(1, len(ids) + 1))
    return workflow.submit_ranking(task.pk, labeler, ratings=[
        {"candidate": c, "tier": t, "likert": 4, "flags": []} for c, t in zip(ids, tiers)])


def test_it_leases_the_oldest_slot_and_gives_it_back_on_reload(project, labeler):
    first, second = add_ready_prompt(project, "one"), add_ready_prompt(project, "two")
    task = workflow.lease_next(labeler, project, TaskKind.RANK)
    assert task.prompt == first and task.state == TaskState.LEASED
    assert sorted(task.display_order) == sorted(first.candidates.values_list("id", flat=True))
    assert workflow.lease_next(labeler, project, TaskKind.RANK).pk == task.pk
    rank_all(task, labeler)
    assert workflow.lease_next(labeler, project, TaskKind.RANK).prompt == second


def test_it_never_gives_a_labeler_the_same_prompt_twice(project, labeler):
    project.overlap = 3
    project.save()
    add_ready_prompt(project)
    rank_all(workflow.lease_next(labeler, project, TaskKind.RANK), labeler)
    assert workflow.lease_next(labeler, project, TaskKind.RANK) is None


def test_a_prompt_is_done_after_overlap_rankings(project, labeler, other_labeler):
    project.overlap = 2
    project.agreement_threshold = 0  # however the two disagree (contentious prompts: tests/labeling/test_quality.py)
    project.save()
    prompt = add_ready_prompt(project)
    for user in (labeler, other_labeler):
        rank_all(workflow.lease_next(user, project, TaskKind.RANK), user)
    prompt.refresh_from_db()
    assert prompt.state == PromptState.DONE and prompt.rankings.count() == 2
    third = make_user("labeler3", "labeler")
    assert workflow.lease_next(third, project, TaskKind.RANK) is None


def test_an_expired_lease_returns_to_the_pool_and_its_submit_is_refused(project, labeler, other_labeler):
    add_ready_prompt(project)
    task = workflow.lease_next(labeler, project, TaskKind.RANK)
    Task.objects.filter(pk=task.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    taken = workflow.lease_next(other_labeler, project, TaskKind.RANK)
    assert taken.pk == task.pk and taken.labeler == other_labeler
    from labeling.workflow import LeaseError
    with pytest.raises(LeaseError):
        rank_all(task, labeler)


def test_skips_return_the_slot_and_reports_take_the_prompt_out(project, labeler, other_labeler):
    project.report_threshold = 2
    project.save()
    prompt = add_ready_prompt(project)
    workflow.skip_task(workflow.lease_next(labeler, project, TaskKind.RANK).pk, labeler, reason="harmful")
    prompt.refresh_from_db()
    assert prompt.state == PromptState.READY
    assert workflow.lease_next(labeler, project, TaskKind.RANK) is None
    workflow.skip_task(workflow.lease_next(other_labeler, project, TaskKind.RANK).pk, other_labeler, reason="unclear")
    prompt.refresh_from_db()
    assert prompt.state == PromptState.REPORTED
    assert not Task.objects.filter(prompt=prompt, state__in=[TaskState.OPEN, TaskState.LEASED]).exists()


def test_a_demonstration_moves_the_prompt_on_to_generation(project, labeler, django_capture_on_commit_callbacks):
    from labeling.models import Prompt

    prompt = Prompt.objects.create(project=project, messages=[{"role": "user", "content": "Write a poem"}])
    workflow.start_prompt(prompt)
    assert prompt.state == PromptState.AWAITING_DEMONSTRATION
    task = workflow.lease_next(labeler, project, TaskKind.WRITE_DEMONSTRATION)
    with django_capture_on_commit_callbacks() as callbacks:
        workflow.submit_demonstration(task.pk, labeler, text="Roses are red")
    prompt.refresh_from_db()
    assert prompt.state == PromptState.AWAITING_CANDIDATES
    assert len(callbacks) == 1  # the generation task is queued only once the transaction commits


def test_an_admin_can_retry_failed_generation(project, admin_user, django_capture_on_commit_callbacks):
    from django.test import Client

    from labeling.models import Prompt

    project.demonstrations_enabled = False
    project.save()
    with django_capture_on_commit_callbacks(execute=False):
        prompt = Prompt.objects.create(project=project, messages=[{"role": "user", "content": "Hi"}])
        workflow.start_prompt(prompt)
    prompt.record_generation_failure("OSError: no model at /models/missing")
    client = Client()
    client.force_login(admin_user)
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post("/admin/labeling/prompt/", {"action": "retry_generation", "_selected_action": [prompt.pk]})
    assert response.status_code == 302
    prompt.refresh_from_db()
    assert prompt.generation_error == "" and len(callbacks) == 1


def test_nobody_is_offered_the_demonstration_of_their_own_prompt(project, labeler, other_labeler):
    from labeling.stats import queue_counts

    writing = workflow.lease_next(labeler, project, TaskKind.WRITE_PROMPT)
    prompt = workflow.submit_prompt(writing.pk, labeler, messages=[{"role": "user", "content": "My own prompt"}])
    assert prompt.state == PromptState.AWAITING_DEMONSTRATION
    assert workflow.lease_next(labeler, project, TaskKind.WRITE_DEMONSTRATION) is None
    assert queue_counts(project, labeler)[TaskKind.WRITE_DEMONSTRATION] == 0
    assert queue_counts(project, other_labeler)[TaskKind.WRITE_DEMONSTRATION] == 1
    assert workflow.lease_next(other_labeler, project, TaskKind.WRITE_DEMONSTRATION).prompt_id == prompt.pk
