"""Amending a ranking after submitting it (issue 12): own rankings only, for RANKWISE_AMEND_MINUTES, until a
reviewer decides; and every quality figure ends as if the amended ranking had been the one submitted.

The figures are compared between two projects with the same prompts, ranked by the same labelers in the
same display order: in one a labeler submits a ranking and amends it, in the other they submit the amended
ranking straight away."""
from datetime import timedelta

import pytest
from django.utils import timezone

from labeling import quality, workflow
from labeling.models import (
    GoldRanking, LabelerQuality, Project, ProjectAgreement, Prompt, PromptAgreement, PromptState, Qualification,
    Ranking, ReviewCause, Task, TaskKind, TaskState,
)
from labeling.roles import LABELER_GROUP
from labeling.models.quality import WINDOW_SUMS
from labeling.workflow import LABELER_COUNTERS, PROMPT_COUNTERS
from tests.conftest import add_ready_prompt, client_for, make_user

pytestmark = pytest.mark.django_db


def k3_project(name, **rules):
    fields = {"k": 3, "overlap": 3, "gold_rate": 0, "agreement_threshold": 0, "flag_min_ms_per_candidate": 0,
              "demonstrations_enabled": False, **rules}
    return Project.objects.create(name=name, **fields)


@pytest.fixture
def labelers(db):
    return [make_user(f"amender{i}", LABELER_GROUP) for i in range(3)]


def lease(user, project):
    """The user's next task, shown in candidate index order (so that two projects compare like for like)."""
    task = workflow.lease_next(user, project, TaskKind.RANK)
    assert task is not None, f"{user} got no task"
    by_index = list(task.prompt.candidates.order_by("index").values_list("id", flat=True))
    Task.objects.filter(pk=task.pk).update(display_order=by_index)
    return task.pk, by_index


def ratings_for(candidates, tiers, likerts=None):
    return [{"candidate": c, "tier": t, "likert": (likerts or [4] * len(tiers))[i], "flags": []}
            for i, (c, t) in enumerate(zip(candidates, tiers))]


def submit(user, project, tiers, time_spent_ms=6000, **extra):
    task_id, candidates = lease(user, project)
    workflow.submit_ranking(task_id, user, ratings=ratings_for(candidates, tiers), time_spent_ms=time_spent_ms,
                            **extra)
    return task_id, candidates


def figures(project):
    """Every counter the submits keep, per labeler (by name) and per prompt (by its text), with the recent
    windows as the rules read them (both buckets' sums)."""
    def windows(row):
        sums = {"recent": row._window("recent"), "recent_gold": row._window("recent_gold"), "earlier": row.earlier()}
        return {f"{window}_{name}": value for window, values in sums.items() for name, value in zip(WINDOW_SUMS, values)}

    labelers = {row.labeler.username: {**{name: getattr(row, name) for name in LABELER_COUNTERS}, **windows(row)}
                for row in LabelerQuality.objects.filter(project=project).select_related("labeler")}
    prompts = {row.prompt.text: {name: getattr(row, name) for name in PROMPT_COUNTERS}
               for row in PromptAgreement.objects.filter(project=project).select_related("prompt")}
    states = {row.labeler.username: (row.qualification, row.is_flagged)
              for row in LabelerQuality.objects.filter(project=project).select_related("labeler")}
    return labelers, prompts, states


def assert_same_figures(amended, direct):
    (labelers_a, prompts_a, states_a), (labelers_d, prompts_d, states_d) = figures(amended), figures(direct)
    assert labelers_a.keys() == labelers_d.keys() and prompts_a.keys() == prompts_d.keys()
    for name in labelers_a:
        assert labelers_a[name] == pytest.approx(labelers_d[name]), name
    for text in prompts_a:
        assert prompts_a[text] == pytest.approx(prompts_d[text]), text
    assert states_a == states_d


def test_amending_gives_the_figures_of_submitting_the_new_ranking_first(labelers):
    first, second, third = labelers
    amended, direct = k3_project("amended"), k3_project("direct")
    for project in (amended, direct):
        add_ready_prompt(project, "Which is best?", ["short", "a middling answer", "the longest answer of all"])
    for project in (amended, direct):
        submit(first, project, [1, 2, 3])
    task_id, candidates = submit(second, amended, [3, 2, 1], time_spent_ms=5000)  # disagrees with first
    submit(second, direct, [1, 1, 2], time_spent_ms=7500)
    for project in (amended, direct):
        submit(third, project, [2, 1, 3])

    before = figures(amended)
    ranking = workflow.amend_ranking(task_id, second, ratings=ratings_for(candidates, [1, 1, 2], [6, 6, 3]),
                                     time_spent_ms=2500)

    assert_same_figures(amended, direct)
    # Not vacuous: the amendment moved the other labelers' figures and the prompt's.
    after = figures(amended)
    assert after[0]["amender0"]["peer_agreeing_pairs"] != before[0]["amender0"]["peer_agreeing_pairs"]
    assert after[1]["Which is best?"]["agreeing_pairs"] != before[1]["Which is best?"]["agreeing_pairs"]
    assert after[0]["amender1"]["recent_agreeing"] != before[0]["amender1"]["recent_agreeing"]
    stored = Ranking.objects.get(pk=ranking.pk)
    assert stored.amended_at is not None and stored.time_spent_ms == 7500
    assert Task.objects.get(pk=task_id).time_spent_ms == 7500
    assert sorted(stored.ratings.values_list("candidate_id", "tier", "likert")) == [
        (candidates[0], 1, 6), (candidates[1], 1, 6), (candidates[2], 2, 3)]


def test_amending_a_gold_ranking_moves_gold_accuracy_and_settles_the_qualification_again(labelers):
    labeler = labelers[0]
    amended, direct = (k3_project(name, overlap=1, qualification_tasks=1, qualification_min_agreement=0.7)
                       for name in ("amended", "direct"))
    for project in (amended, direct):
        workflow.mark_gold(add_ready_prompt(project, "gold", ["x", "yy", "zzz"]), [1, 2, 3])
    task_id, candidates = submit(labeler, amended, [3, 2, 1])
    assert LabelerQuality.objects.get(project=amended, labeler=labeler).qualification == Qualification.FAILED
    submit(labeler, direct, [1, 2, 3])

    workflow.amend_ranking(task_id, labeler, ratings=ratings_for(candidates, [1, 2, 3]))

    assert_same_figures(amended, direct)
    standing = LabelerQuality.objects.get(project=amended, labeler=labeler)
    assert standing.gold_accuracy == 1.0 and standing.qualification == Qualification.PASSED


def test_the_recent_window_counts_the_amended_ranking_after_its_bucket_rolled(labelers):
    """flag_window 5: the amended ranking's comparisons are in the bucket before the one filling now by the
    time it is amended; the window the rules read is still the one of submitting the new ranking first."""
    first, second = labelers[:2]
    amended, direct = (k3_project(name, overlap=2, flag_window=5) for name in ("amended", "direct"))
    for project in (amended, direct):
        for n in range(7):
            add_ready_prompt(project, f"Prompt {n}", ["a", "bb", "ccc"])
    for project in (amended, direct):
        submit(first, project, [1, 2, 3])
    task_id, candidates = submit(second, amended, [3, 2, 1])
    submit(second, direct, [1, 2, 3])
    for project in (amended, direct):
        for tiers in ([1, 2, 3], [2, 1, 3], [1, 3, 2], [3, 1, 2], [1, 1, 2], [2, 1, 1]):
            submit(first, project, tiers)
            submit(second, project, [1, 2, 3])
    standing = LabelerQuality.objects.get(project=amended, labeler=second)
    assert (standing.recent_prev_count, standing.recent_count) == (5, 2)  # rolled since the first comparison

    workflow.amend_ranking(task_id, second, ratings=ratings_for(candidates, [1, 2, 3]))

    assert_same_figures(amended, direct)


def test_an_amendment_that_makes_a_prompt_unanimous_promotes_it_to_gold(labelers):
    first, second = labelers[:2]
    project = k3_project("unanimous", overlap=2, gold_after_unanimous=2)
    add_ready_prompt(project, "Agree?")
    submit(first, project, [1, 2, 3])
    task_id, candidates = submit(second, project, [1, 3, 2])
    assert not GoldRanking.objects.filter(prompt__project=project).exists()
    workflow.amend_ranking(task_id, second, ratings=ratings_for(candidates, [1, 2, 3]))
    assert GoldRanking.objects.get(prompt__project=project).reference == {
        str(c): tier for c, tier in zip(candidates, [1, 2, 3])}
    # The ranking is a reference now: amending it again would change what others are scored against.
    with pytest.raises(workflow.AmendRefused, match="reference"):
        workflow.amend_ranking(task_id, second, ratings=ratings_for(candidates, [3, 2, 1]))


def test_a_done_prompt_whose_agreement_an_amendment_lowers_gets_its_extra_slot(labelers):
    first, second, third = labelers
    amended, direct = (k3_project(name, overlap=2, agreement_threshold=0.5, contentious_extra_slots=1)
                       for name in ("amended", "direct"))
    for project in (amended, direct):
        add_ready_prompt(project, "Split")
        submit(first, project, [1, 2, 3])
    task_id, candidates = submit(second, amended, [1, 2, 3])
    assert Prompt.objects.get(project=amended).state == PromptState.DONE
    submit(second, direct, [3, 2, 1])

    workflow.amend_ranking(task_id, second, ratings=ratings_for(candidates, [3, 2, 1]))

    assert_same_figures(amended, direct)
    for project in (amended, direct):
        prompt = Prompt.objects.get(project=project)
        assert prompt.state == PromptState.READY and prompt.agreement.extra_slots == 1
        assert Task.objects.filter(prompt=prompt, state=TaskState.OPEN).count() == 1
    # The third labeler takes the extra slot.
    submit(third, amended, [1, 2, 3])


def test_alpha_is_refreshed_after_an_amendment_though_the_count_is_the_same(labelers):
    project = k3_project("alpha", overlap=2)
    add_ready_prompt(project, "Alpha")
    submit(labelers[0], project, [1, 2, 3])
    task_id, candidates = submit(labelers[1], project, [1, 2, 3])
    quality.refresh_alpha(project)
    assert quality.refresh_stale_alphas() == 0
    workflow.amend_ranking(task_id, labelers[1], ratings=ratings_for(candidates, [3, 2, 1]))
    assert quality.refresh_stale_alphas() == 1
    assert ProjectAgreement.objects.get(project=project).alpha < 0


@pytest.fixture
def submitted(labelers):
    project = k3_project("refusals", overlap=1)
    add_ready_prompt(project, "One")
    task_id, candidates = submit(labelers[0], project, [1, 2, 3])
    return project, task_id, candidates


def stored_ratings(task_id):
    return sorted(Ranking.objects.get(task_id=task_id).ratings.values_list("candidate_id", "tier", "likert"))


def test_the_api_gives_the_stored_ranking_and_amends_it(submitted, labelers):
    project, task_id, candidates = submitted
    api = client_for(labelers[0])
    shown = api.get(f"/api/tasks/{task_id}/amend/").json()
    assert shown["task"]["id"] == task_id and [c["id"] for c in shown["task"]["candidates"]] == candidates
    assert sorted((r["candidate"], r["tier"]) for r in shown["ratings"]) == list(zip(candidates, [1, 2, 3]))
    assert shown["strength"] == "" and shown["amendable_until"]
    response = api.post(f"/api/tasks/{task_id}/amend/", {"ratings": ratings_for(candidates, [2, 1, 3], [5, 6, 2]),
                                                         "time_spent_ms": 900}, format="json")
    assert response.status_code == 200, response.json()
    assert stored_ratings(task_id) == [(candidates[0], 2, 5), (candidates[1], 1, 6), (candidates[2], 3, 2)]


def test_another_labelers_ranking_is_not_found(submitted, labelers):
    project, task_id, candidates = submitted
    api = client_for(labelers[1])
    assert api.get(f"/api/tasks/{task_id}/amend/").status_code == 404
    response = api.post(f"/api/tasks/{task_id}/amend/", {"ratings": ratings_for(candidates, [3, 2, 1])}, format="json")
    assert response.status_code == 404
    assert stored_ratings(task_id) == sorted(zip(candidates, [1, 2, 3], [4, 4, 4]))


def test_too_late_is_refused_with_the_reason_and_nothing_changes(submitted, labelers, settings):
    project, task_id, candidates = submitted
    Ranking.objects.filter(task_id=task_id).update(created_at=timezone.now() - timedelta(minutes=5, seconds=1))
    api = client_for(labelers[0])
    response = api.post(f"/api/tasks/{task_id}/amend/", {"ratings": ratings_for(candidates, [3, 2, 1])}, format="json")
    assert response.status_code == 409 and "5 minutes" in response.json()["detail"]
    assert api.get(f"/api/tasks/{task_id}/amend/").status_code == 409
    assert stored_ratings(task_id) == sorted(zip(candidates, [1, 2, 3], [4, 4, 4]))
    settings.RANKWISE_AMEND_MINUTES = 10
    assert api.get(f"/api/tasks/{task_id}/amend/").status_code == 200


def test_a_reviewed_ranking_is_refused_and_a_pending_one_is_not(submitted, labelers, admin_user):
    project, task_id, candidates = submitted
    ranking = Ranking.objects.get(task_id=task_id)
    workflow.queue_for_review(Ranking.objects.filter(pk=ranking.pk), ReviewCause.SAMPLE)
    api = client_for(labelers[0])
    # Pending reads as not reviewed to its labeler, so it may still be amended (refusing would tell them).
    assert api.post(f"/api/tasks/{task_id}/amend/", {"ratings": ratings_for(candidates, [2, 1, 3])},
                    format="json").status_code == 200
    workflow.review_ranking(ranking.pk, admin_user, accept=True)
    response = api.post(f"/api/tasks/{task_id}/amend/", {"ratings": ratings_for(candidates, [3, 2, 1])}, format="json")
    assert response.status_code == 409 and "reviewer" in response.json()["detail"]
    assert stored_ratings(task_id) == sorted(zip(candidates, [2, 1, 3], [4, 4, 4]))


def test_bad_ratings_name_the_field_and_change_nothing(submitted, labelers):
    project, task_id, candidates = submitted
    before = figures(project)
    api = client_for(labelers[0])
    bad = ratings_for(candidates, [1, 3, 4])  # a gap in the tiers
    response = api.post(f"/api/tasks/{task_id}/amend/", {"ratings": bad}, format="json")
    assert response.status_code == 400 and "ratings" in response.json()
    response = api.post(f"/api/tasks/{task_id}/amend/", {"ratings": ratings_for(candidates, [1, 2, 3]),
                                                         "strength": "much"}, format="json")
    assert response.status_code == 400 and "strength" in response.json()
    assert stored_ratings(task_id) == sorted(zip(candidates, [1, 2, 3], [4, 4, 4]))
    assert figures(project) == before


def test_an_unsubmitted_task_cannot_be_amended(labelers):
    project = k3_project("leased", overlap=1)
    add_ready_prompt(project, "Open")
    task_id, candidates = lease(labelers[0], project)
    response = client_for(labelers[0]).post(f"/api/tasks/{task_id}/amend/",
                                            {"ratings": ratings_for(candidates, [1, 2, 3])}, format="json")
    assert response.status_code == 409 and "not been submitted" in response.json()["detail"]


def test_the_submit_says_until_when_it_may_be_amended(labelers, settings):
    project = k3_project("until", overlap=1)
    add_ready_prompt(project, "When")
    api = client_for(labelers[0])
    task = api.post(f"/api/projects/{project.pk}/next/", {"kind": "rank"}, format="json").json()
    ratings = [{"candidate": c["id"], "tier": i + 1, "likert": 4} for i, c in enumerate(task["candidates"])]
    body = api.post(f"/api/tasks/{task['id']}/ranking/", {"ratings": ratings}, format="json").json()
    created = Ranking.objects.get(task_id=task["id"]).created_at
    assert body["amendable_until"].startswith((created + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M"))
    settings.RANKWISE_AMEND_MINUTES = 0
    assert client_for(labelers[0]).get(f"/api/tasks/{task['id']}/amend/").status_code == 409
