"""Review: sampling into the queue, a reviewer's decision, the rejected ranking's slot going back to the
pool, what labelers and reviewers may see, and bad input."""
import re

import pytest

from labeling import workflow
from labeling.models import (
    Project, PromptState, Ranking, ReviewCause, ReviewStatus, Task, TaskKind, TaskState,
)
from labeling.roles import LABELER_GROUP, REVIEWER_GROUP
from tests.conftest import add_ready_prompt, client_for, make_user


@pytest.fixture
def reviewer(db):
    from labeling.roles import sync_roles

    sync_roles()
    return make_user("reviewer1", REVIEWER_GROUP)


def rank(labeler, project):
    """Lease the labeler's next rank task and submit a ranking (display order = tier order)."""
    task = workflow.lease_next(labeler, project, TaskKind.RANK)
    ratings = [{"candidate": c, "tier": i + 1, "likert": 4} for i, c in enumerate(task.display_order)]
    return workflow.submit_ranking(task.pk, labeler, ratings=ratings)


def pending_ranking(project, labeler):
    ranking = rank(labeler, project)
    assert workflow.queue_for_review(Ranking.objects.filter(pk=ranking.pk), ReviewCause.CONTENTIOUS) == 1
    ranking.refresh_from_db()
    return ranking


def test_submitted_rankings_are_sampled_at_the_project_rate(project, labeler):
    project.review_rate = 1.0
    project.save()
    for i in range(3):
        add_ready_prompt(project, f"Prompt {i}")
    sampled = [rank(labeler, project) for _ in range(2)]
    assert {(r.review_status, r.review_cause) for r in sampled} == {(ReviewStatus.PENDING, ReviewCause.SAMPLE)}
    project.review_rate = 0.0
    project.save()
    assert rank(labeler, project).review_status == ReviewStatus.UNREVIEWED


def test_sampling_adds_no_query_to_a_submit(project, labeler):
    def queries_of_a_submit(rate, text):
        Project.objects.filter(pk=project.pk).update(review_rate=rate)
        project.refresh_from_db()
        add_ready_prompt(project, text)
        task = workflow.lease_next(labeler, project, TaskKind.RANK)
        ratings = [{"candidate": c, "tier": i + 1, "likert": 4} for i, c in enumerate(task.display_order)]
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as captured:
            workflow.submit_ranking(task.pk, labeler, ratings=ratings)
        return len(captured)

    assert queries_of_a_submit(1.0, "sampled") == queries_of_a_submit(0.0, "not sampled")


def test_queueing_for_review_leaves_reviewed_rankings_alone(project, labeler, other_labeler, reviewer):
    project.overlap = 2
    project.agreement_threshold = 0  # not queued as contentious, however the two rank
    project.save()
    prompt = add_ready_prompt(project)
    first, second = rank(labeler, project), rank(other_labeler, project)
    workflow.queue_for_review(Ranking.objects.filter(pk=first.pk), ReviewCause.WATCHED)
    workflow.review_ranking(first.pk, reviewer, accept=True)

    assert workflow.queue_for_review(prompt.rankings.all(), ReviewCause.CONTENTIOUS) == 1
    first.refresh_from_db(), second.refresh_from_db()
    assert (first.review_status, first.review_cause) == (ReviewStatus.ACCEPTED, ReviewCause.WATCHED)
    assert (second.review_status, second.review_cause) == (ReviewStatus.PENDING, ReviewCause.CONTENTIOUS)


def test_a_rejected_rankings_slot_goes_back_to_the_pool(project, labeler, other_labeler, reviewer):
    prompt = add_ready_prompt(project)  # overlap 1: one ranking finishes the prompt
    ranking = pending_ranking(project, labeler)
    prompt.refresh_from_db()
    assert prompt.state == PromptState.DONE

    workflow.review_ranking(ranking.pk, reviewer, accept=False, reason="Ranked the off-topic answer first")

    ranking.refresh_from_db(), prompt.refresh_from_db()
    assert ranking.review_status == ReviewStatus.REJECTED and ranking.reviewed_by == reviewer
    assert prompt.state == PromptState.READY
    assert Task.objects.filter(prompt=prompt, kind=TaskKind.RANK, state=TaskState.OPEN).count() == 1
    # The rejected labeler never gets the prompt again; another labeler fills the slot and finishes it.
    assert workflow.lease_next(labeler, project, TaskKind.RANK) is None
    replacement = rank(other_labeler, project)
    prompt.refresh_from_db()
    assert replacement.prompt_id == prompt.pk and prompt.state == PromptState.DONE
    assert list(Ranking.objects.usable_for_training().filter(prompt=prompt)) == [replacement]


def test_a_rejection_while_other_slots_are_open_adds_one_slot(project, labeler, reviewer):
    project.overlap = 3
    project.save()
    prompt = add_ready_prompt(project)
    ranking = pending_ranking(project, labeler)
    workflow.review_ranking(ranking.pk, reviewer, accept=False, reason="Random order")
    prompt.refresh_from_db()
    assert prompt.state == PromptState.READY
    assert Task.objects.filter(prompt=prompt, kind=TaskKind.RANK, state=TaskState.OPEN).count() == 3


def test_rejected_rankings_leave_training_and_accepted_only_keeps_accepted(project, labeler, other_labeler,
                                                                          reviewer):
    add_ready_prompt(project, "one"), add_ready_prompt(project, "two"), add_ready_prompt(project, "three")
    rejected, accepted = pending_ranking(project, labeler), pending_ranking(project, labeler)
    unreviewed = rank(labeler, project)
    workflow.review_ranking(rejected.pk, reviewer, accept=False, reason="Copied the display order")
    workflow.review_ranking(accepted.pk, reviewer, accept=True)

    assert set(Ranking.objects.usable_for_training()) == {accepted, unreviewed}
    assert list(Ranking.objects.usable_for_training(accepted_only=True)) == [accepted]


def test_reviewers_work_through_the_queue_over_the_api(project, labeler, reviewer):
    add_ready_prompt(project)
    ranking = pending_ranking(project, labeler)
    client = client_for(reviewer)

    queue = client.get(f"/api/reviews/?project={project.pk}").json()
    assert [item["id"] for item in queue] == [ranking.pk]
    item = queue[0]
    assert item["review_cause"] == ReviewCause.CONTENTIOUS and item["messages"][0]["content"] == "Say hello"
    assert [r["candidate"] for r in item["ratings"]] == ranking.display_order
    assert {"text", "tier", "likert", "flags"} <= set(item["ratings"][0])

    response = client.post(f"/api/reviews/{ranking.pk}/decision/", {"decision": "reject", "reason": "Off"},
                           format="json")
    assert response.status_code == 200 and response.json()["review_status"] == ReviewStatus.REJECTED
    assert client.get(f"/api/reviews/?project={project.pk}").json() == []
    again = client.post(f"/api/reviews/{ranking.pk}/decision/", {"decision": "accept"}, format="json")
    assert again.status_code == 404


@pytest.mark.parametrize("body, field", [
    ({"decision": "reject"}, "reason"),
    ({"decision": "reject", "reason": "   "}, "reason"),
    ({"decision": "maybe", "reason": "x"}, "decision"),
    ({}, "decision"),
])
def test_a_bad_decision_is_a_400_naming_the_field_and_stores_nothing(project, labeler, reviewer, body, field):
    add_ready_prompt(project)
    ranking = pending_ranking(project, labeler)
    response = client_for(reviewer).post(f"/api/reviews/{ranking.pk}/decision/", body, format="json")
    assert response.status_code == 400 and field in response.json()
    ranking.refresh_from_db()
    assert ranking.review_status == ReviewStatus.PENDING and ranking.review_reason == ""
    assert Task.objects.filter(state=TaskState.OPEN).count() == 0


def test_an_unknown_project_is_a_400_naming_it(reviewer):
    response = client_for(reviewer).get("/api/reviews/?project=999999")
    assert response.status_code == 400 and "project" in response.json()


def test_a_review_rate_outside_0_to_1_is_a_400_and_stores_nothing(project, admin_user):
    for rate in (1.5, -0.1, "lots"):
        response = client_for(admin_user).patch(f"/api/projects/{project.pk}/", {"review_rate": rate}, format="json")
        assert response.status_code == 400 and "review_rate" in response.json()
    project.refresh_from_db()
    assert project.review_rate == 0.0


def test_reviewers_do_not_review_their_own_rankings(project, reviewer):
    reviewer.groups.add(*make_user("x", LABELER_GROUP).groups.all())
    add_ready_prompt(project)
    ranking = pending_ranking(project, reviewer)
    response = client_for(reviewer).post(f"/api/reviews/{ranking.pk}/decision/", {"decision": "accept"},
                                         format="json")
    assert response.status_code == 400 and "ranking" in response.json()


def test_labelers_see_their_own_outcome_and_reason_but_no_one_elses_and_no_queue(project, labeler, other_labeler,
                                                                                 reviewer):
    project.overlap = 2
    project.agreement_threshold = 0.0  # no prompt is contentious: these tests queue rankings themselves
    project.save()
    add_ready_prompt(project, "one"), add_ready_prompt(project, "two")
    mine, theirs = pending_ranking(project, labeler), pending_ranking(project, other_labeler)
    watched = pending_ranking(project, labeler)
    workflow.review_ranking(mine.pk, reviewer, accept=False, reason="Ranked the refusal first")
    workflow.review_ranking(theirs.pk, reviewer, accept=False, reason="Secret note about labeler2")

    history = client_for(labeler).get("/api/me/rankings/").json()
    by_id = {item["id"]: item for item in history}
    assert set(by_id) == {mine.pk, watched.pk}
    assert (by_id[mine.pk]["review_status"], by_id[mine.pk]["review_reason"]) == ("rejected", "Ranked the refusal first")
    # Still in the queue: the labeler cannot tell, nor why it was queued.
    assert by_id[watched.pk]["review_status"] == "unreviewed" and "review_cause" not in by_id[watched.pk]
    assert "Secret note" not in str(history)
    for url in (f"/api/reviews/?project={project.pk}", f"/api/reviews/{theirs.pk}/"):
        assert client_for(labeler).get(url).status_code == 403
    assert client_for(labeler).post(f"/api/reviews/{watched.pk}/decision/", {"decision": "accept"},
                                    format="json").status_code == 403


@pytest.mark.parametrize("method, url", [
    ("get", "/api/projects/{p}/progress/"), ("patch", "/api/projects/{p}/"), ("get", "/api/exports/"),
    ("get", "/api/projects/{p}/dashboard/"), ("post", "/api/projects/{p}/training-runs/"),
])
def test_reviewers_only_review(project, reviewer, method, url):
    response = getattr(client_for(reviewer), method)(url.format(p=project.pk), {}, format="json")
    assert response.status_code == 403


def page_client(user):
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client


def test_the_review_page_shows_the_ranking_whole_and_escaped(project, labeler, reviewer):
    add_ready_prompt(project, "Write <script>alert(1)</script>",
                     candidates=[f"<b>answer</b> {i}" for i in range(project.k)])
    ranking = pending_ranking(project, labeler)
    response = page_client(reviewer).get(f"/projects/{project.pk}/review/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert" not in html
    assert "&lt;b&gt;answer&lt;/b&gt;" in html and "its prompt is contentious" in html
    shown = [int(c) for c in re.findall(r'data-candidate="(\d+)"', html)]
    assert shown == ranking.display_order
    assert "1 ranking waiting for review" in html


def test_rejecting_on_the_page_needs_a_reason_then_moves_on(project, labeler, reviewer):
    add_ready_prompt(project)
    ranking = pending_ranking(project, labeler)
    client = page_client(reviewer)

    refused = client.post(f"/projects/{project.pk}/review/", {"ranking": ranking.pk, "decision": "reject"})
    assert refused.status_code == 400 and 'data-field="reason"' in refused.content.decode()
    ranking.refresh_from_db()
    assert ranking.review_status == ReviewStatus.PENDING

    done = client.post(f"/projects/{project.pk}/review/", {"ranking": ranking.pk, "decision": "reject",
                                                           "reason": "Ranked the refusal first"})
    assert done.status_code == 302
    ranking.refresh_from_db()
    assert ranking.review_status == ReviewStatus.REJECTED and ranking.review_reason == "Ranked the refusal first"
    assert "Nothing to review" in client.get(f"/projects/{project.pk}/review/").content.decode()


def test_labelers_cannot_open_the_review_page(project, labeler):
    assert page_client(labeler).get(f"/projects/{project.pk}/review/").status_code == 403


def test_every_ranking_of_a_flagged_labeler_goes_to_review(project, labeler):
    # Submits that take no time break the speed rule once the labeler has 2 rankings.
    project.overlap, project.flag_after_rankings, project.flag_min_ms_per_candidate = 1, 2, 1000
    project.flagged_get_no_tasks = False
    project.save()
    for i in range(3):
        add_ready_prompt(project, f"Prompt {i}")
    first = rank(labeler, project)
    first.refresh_from_db()
    assert first.review_status == ReviewStatus.UNREVIEWED
    rank(labeler, project), rank(labeler, project)  # flagged at the second; the third comes after
    assert [(r.review_status, r.review_cause) for r in Ranking.objects.filter(labeler=labeler)] == [
        (ReviewStatus.PENDING, ReviewCause.WATCHED)] * 3


def test_a_rejected_ranking_of_a_gold_prompt_opens_no_pool_slot(project, labeler, reviewer):
    prompt = add_ready_prompt(project)
    ranking = pending_ranking(project, labeler)
    workflow.mark_gold(prompt, [1, 2, 3, 4])
    workflow.review_ranking(ranking.pk, reviewer, accept=False, reason="Wrong order")
    assert not Task.objects.filter(prompt=prompt, state=TaskState.OPEN).exists()
