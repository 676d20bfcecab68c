"""Quality control (issue 11): agreement stored on submit, contentious prompts, gold rankings and their
mix rate, qualification, labeler stats, flags and quarantine, and the bad input around them.

Hand-computed cases use K=3 and tiers given per candidate index (1 = best, equal tiers are ties)."""
import json

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from labeling import workflow
from labeling.models import (
    GoldRanking, LabelerQuality, Prompt, PromptAgreement, PromptState, Qualification, Ranking, ReviewCause,
    ReviewStatus, Task, TaskKind, TaskState,
)
from labeling.models.quality import quarantined
from tests.conftest import add_ready_prompt, client_for, make_user


@pytest.fixture
def k3(project):
    project.k, project.overlap, project.gold_rate = 3, 3, 0
    project.agreement_threshold, project.flag_min_ms_per_candidate = 0, 0
    project.save()
    return project


def rank(user, project, tiers_by_index, time_spent_ms=6000):
    """Lease `user` their next ranking task and rank its candidates with `tiers_by_index`."""
    task = workflow.lease_next(user, project, TaskKind.RANK)
    assert task is not None, f"{user} got no task"
    index = {c.id: c.index for c in task.prompt.candidates.all()}
    ratings = [{"candidate": c, "tier": tiers_by_index[index[c]], "likert": 4, "flags": []} for c in task.display_order]
    return workflow.submit_ranking(task.pk, user, ratings=ratings, time_spent_ms=time_spent_ms)


def in_display_order(user, project):
    """Rank the next task exactly in the order shown (what a position-biased labeler does)."""
    task = workflow.lease_next(user, project, TaskKind.RANK)
    ratings = [{"candidate": c, "tier": i + 1, "likert": 4, "flags": []} for i, c in enumerate(task.display_order)]
    return workflow.submit_ranking(task.pk, user, ratings=ratings, time_spent_ms=6000)


def standing(project, user):
    return LabelerQuality.objects.get(project=project, labeler=user)


@pytest.fixture
def three(db):
    return [make_user(f"rater{i}", "labeler") for i in range(3)]


# --- Agreement ---------------------------------------------------------------------------------

def test_agreement_per_prompt_and_per_labeler_with_ties(k3, three):
    a, b, c = three
    prompt = add_ready_prompt(k3)
    rank(a, k3, [1, 2, 3])  # pairs (0,1) (0,2) (1,2): +, +, +
    rank(b, k3, [1, 1, 2])  # tie, +, +   -> agrees with a on 2 of 3
    rank(c, k3, [3, 2, 1])  # -, -, -     -> agrees with a on 0, with b on 0 (a tie agrees only with a tie)
    agreement = PromptAgreement.objects.get(prompt=prompt)
    assert (agreement.rankings, agreement.agreeing_pairs, agreement.pairs) == (3, 2, 9)
    assert agreement.agreement == pytest.approx(2 / 9)
    # tau-b: a-b = 2/sqrt(3*2), a-c = -1, b-c = -2/sqrt(2*3)
    assert agreement.tau == pytest.approx((2 / 6 ** 0.5 - 1 - 2 / 6 ** 0.5) / 3)
    assert standing(k3, a).peer_agreement == pytest.approx(2 / 6)
    assert standing(k3, b).peer_agreement == pytest.approx(2 / 6)
    assert standing(k3, c).peer_agreement == 0
    assert standing(k3, c).peer_tau == pytest.approx((-1 - 2 / 6 ** 0.5) / 2)
    assert standing(k3, a).peer_comparisons == 2


def test_a_single_ranking_has_no_agreement_yet(k3, three):
    prompt = add_ready_prompt(k3)
    rank(three[0], k3, [1, 2, 3])
    assert PromptAgreement.objects.get(prompt=prompt).agreement is None
    assert standing(k3, three[0]).peer_agreement is None


def test_a_contentious_prompt_gets_one_more_labeler_at_a_time_then_is_marked(k3, three):
    k3.overlap, k3.agreement_threshold, k3.contentious_extra_slots = 2, 0.6, 1
    k3.save()
    prompt = add_ready_prompt(k3)
    a, b, c = three
    rank(a, k3, [1, 2, 3])
    rank(b, k3, [3, 2, 1])
    prompt.refresh_from_db()
    assert prompt.state == PromptState.READY
    assert Task.objects.filter(prompt=prompt, state=TaskState.OPEN).count() == 1
    assert PromptAgreement.objects.get(prompt=prompt).extra_slots == 1
    rank(c, k3, [2, 1, 3])  # still below 0.6: the cap is reached
    prompt.refresh_from_db()
    agreement = PromptAgreement.objects.get(prompt=prompt)
    assert prompt.state == PromptState.DONE and agreement.contentious
    assert not Task.objects.filter(prompt=prompt, state=TaskState.OPEN).exists()
    assert set(Ranking.objects.filter(prompt=prompt).values_list("review_status", "review_cause")) == {
        (ReviewStatus.PENDING, ReviewCause.CONTENTIOUS)}


def test_an_agreeing_prompt_is_done_at_its_overlap(k3, three):
    k3.overlap, k3.agreement_threshold = 2, 0.6
    k3.save()
    prompt = add_ready_prompt(k3)
    rank(three[0], k3, [1, 2, 3])
    rank(three[1], k3, [1, 2, 2])
    prompt.refresh_from_db()
    assert prompt.state == PromptState.DONE and not PromptAgreement.objects.get(prompt=prompt).contentious


# --- Labeler stats -------------------------------------------------------------------------------

def test_position_and_length_bias_and_speed(k3, three):
    k3.overlap = 1
    k3.save()
    for i in range(6):
        add_ready_prompt(k3, f"p{i}", candidates=["a" * 30, "b" * 20, "c" * 10])
    shown, longest_first = three[0], three[1]
    for _ in range(3):
        in_display_order(shown, k3)
        rank(longest_first, k3, [1, 2, 3], time_spent_ms=3000)
    assert standing(k3, shown).position_bias == pytest.approx(1.0)
    assert standing(k3, longest_first).length_bias == pytest.approx(1.0)
    figures = standing(k3, longest_first)
    assert figures.rankings == 3 and figures.mean_ms_per_candidate == pytest.approx(1000)
    assert figures.rankings_per_hour == pytest.approx(3 * 3_600_000 / 9000)


def test_skips_count_in_the_skip_rate(k3, three):
    add_ready_prompt(k3, "one")
    add_ready_prompt(k3, "two")
    task = workflow.lease_next(three[0], k3, TaskKind.RANK)
    workflow.skip_task(task.pk, three[0], reason="other")
    rank(three[0], k3, [1, 2, 3])
    assert standing(k3, three[0]).skip_rate == pytest.approx(0.5)


# --- Gold ----------------------------------------------------------------------------------------

def test_gold_accuracy_is_agreement_with_the_reference(k3, three):
    gold = add_ready_prompt(k3, "gold")
    workflow.mark_gold(gold, [1, 2, 2])
    assert not Task.objects.filter(prompt=gold, state=TaskState.OPEN).exists()
    k3.gold_rate = 1
    k3.save()
    ranking = rank(three[0], k3, [1, 3, 2])  # +,+ agree; (1,2) tie in the reference, ordered here
    assert ranking.prompt == gold
    figures = standing(k3, three[0])
    assert (figures.gold_rankings, figures.gold_accuracy) == (1, pytest.approx(2 / 3))
    assert not PromptAgreement.objects.filter(prompt=gold).exists()
    assert not Ranking.objects.usable_for_training().exists()  # gold rankings are not training data...
    assert Ranking.objects.usable_for_training(include_gold=True).get() == ranking  # ...unless asked


@pytest.mark.parametrize("reference, reason", [
    ([1, 2], "must be a list of 3 tiers"), ([1, 2, 4], "candidate 2"), ("1,2,3", "must be a list"),
    ([1, True, 2], "candidate 1"),
])
def test_a_reference_that_is_not_a_ranking_of_the_candidates_is_refused(k3, reference, reason):
    prompt = add_ready_prompt(k3)
    with pytest.raises(ValidationError) as error:
        workflow.mark_gold(prompt, reference)
    assert reason in str(error.value.message_dict["reference"])
    assert not GoldRanking.objects.exists()


def test_gold_tasks_are_mixed_in_at_the_rate_and_never_twice(k3, three, monkeypatch):
    k3.overlap, k3.gold_rate = 1, 0.25
    k3.save()
    golds = [add_ready_prompt(k3, f"gold {i}") for i in range(3)]
    for prompt in golds:
        workflow.mark_gold(prompt, [1, 2, 3])
    for i in range(20):
        add_ready_prompt(k3, f"real {i}")
    values = iter([0.1, 0.5, 0.9, 0.6] * 10)  # one draw in four falls under the rate
    monkeypatch.setattr(workflow.draws, "random", lambda: next(values))
    prompts = [rank(three[0], k3, [1, 2, 3]).prompt_id for _ in range(16)]
    gold_ids = {p.pk for p in golds}
    served = [p for p in prompts if p in gold_ids]
    # Draws 1, 5 and 9 take gold; draw 13 finds none left and takes a real task instead.
    assert [i for i, p in enumerate(prompts) if p in gold_ids] == [0, 4, 8]
    assert sorted(served) == sorted(gold_ids)


def test_gold_tasks_look_like_other_tasks(k3, labeler):
    gold = add_ready_prompt(k3, "gold")
    workflow.mark_gold(gold, [1, 2, 3])
    k3.gold_rate = 1
    k3.save()
    add_ready_prompt(k3, "real")
    api = client_for(labeler)
    gold_task = api.post(f"/api/projects/{k3.pk}/next/", {"kind": "rank"}, format="json").json()
    assert gold_task["prompt"]["id"] == gold.pk
    k3.gold_rate = 0
    k3.save()
    workflow.skip_task(gold_task["id"], labeler, reason="other")
    real_task = api.post(f"/api/projects/{k3.pk}/next/", {"kind": "rank"}, format="json").json()
    assert real_task["prompt"]["id"] != gold.pk
    assert set(gold_task) == set(real_task) and set(gold_task["prompt"]) == set(real_task["prompt"])
    assert set(gold_task["candidates"][0]) == set(real_task["candidates"][0])
    # A skipped gold draw gives no slot back to the pool.
    assert not Task.objects.filter(prompt=gold, state=TaskState.OPEN).exists()


def test_unanimous_labelers_make_a_prompt_gold(k3, three):
    k3.gold_after_unanimous = 3
    k3.save()
    prompt = add_ready_prompt(k3)
    for user in three:
        rank(user, k3, [2, 1, 1])
    gold = GoldRanking.objects.get(prompt=prompt)
    assert gold.source == "unanimous"
    assert sorted(gold.tiers.values()) == [1, 1, 2]


def test_admins_set_gold_through_the_api_and_bad_input_names_the_field(k3, admin_user, labeler):
    prompt = add_ready_prompt(k3)
    other_project_prompt = Prompt.objects.create(project=type(k3).objects.create(name="other", k=3),
                                                 messages=[{"role": "user", "content": "x"}])
    api = client_for(admin_user)
    url = f"/api/projects/{k3.pk}/gold/"
    bad = api.post(url, {"prompt": prompt.pk, "reference": [1, 2]}, format="json")
    assert bad.status_code == 400 and "reference" in bad.json()
    bad = api.post(url, {"prompt": other_project_prompt.pk, "reference": [1, 2, 3]}, format="json")
    assert bad.status_code == 400 and "prompt" in bad.json()
    assert not GoldRanking.objects.exists()
    assert client_for(labeler).post(url, {"prompt": prompt.pk, "reference": [1, 2, 3]},
                                    format="json").status_code == 403
    good = api.post(url, {"prompt": prompt.pk, "reference": [2, 1, 3]}, format="json")
    assert good.status_code == 201
    assert GoldRanking.objects.get(prompt=prompt).tiers == dict(zip(
        prompt.candidates.order_by("index").values_list("id", flat=True), [2, 1, 3]))


@pytest.mark.parametrize("field, value", [("gold_rate", 1.5), ("gold_rate", -0.1), ("agreement_threshold", 2),
                                          ("qualification_min_agreement", -1), ("flag_max_position_bias", 1.2),
                                          ("doubt_gold_rate", 1.1), ("flag_max_drop", -0.2), ("flag_window", 2)])
def test_a_rate_outside_0_to_1_is_a_400_naming_the_field(k3, admin_user, field, value):
    response = client_for(admin_user).patch(f"/api/projects/{k3.pk}/", {field: value}, format="json")
    assert response.status_code == 400 and field in response.json()
    k3.refresh_from_db()
    assert getattr(k3, field) != value


# --- Qualification -------------------------------------------------------------------------------

@pytest.fixture
def qualifying(k3):
    k3.overlap, k3.qualification_tasks, k3.qualification_min_agreement = 1, 2, 0.7
    k3.save()
    golds = [add_ready_prompt(k3, f"gold {i}") for i in range(4)]
    for prompt in golds:
        workflow.mark_gold(prompt, [1, 2, 3])
    add_ready_prompt(k3, "real")
    return {p.pk for p in golds}


def test_a_new_labeler_qualifies_on_gold_then_gets_real_tasks(k3, qualifying, labeler):
    assert rank(labeler, k3, [1, 2, 3]).prompt_id in qualifying
    assert rank(labeler, k3, [1, 3, 2]).prompt_id in qualifying  # 5 of 6 pairs: passes 0.7
    assert standing(k3, labeler).qualification == Qualification.PASSED
    assert rank(labeler, k3, [1, 2, 3]).prompt_id not in qualifying


def test_failing_stops_real_tasks_and_shows_reference_beside_own_ranking(k3, qualifying, labeler):
    rank(labeler, k3, [3, 2, 1])
    rank(labeler, k3, [1, 3, 2])  # 2 of 6 pairs
    assert standing(k3, labeler).qualification == Qualification.FAILED
    assert workflow.lease_next(labeler, k3, TaskKind.RANK) is None
    page = Client()
    page.force_login(labeler)
    html = page.get(f"/projects/{k3.pk}/qualification/").content.decode()
    assert 'data-qualification="failed"' in html
    assert html.count('data-tier="reference"') == 6 and html.count('data-tier="own"') == 6
    assert "33%" in html  # 2 of 6 pairs


def test_the_qualification_page_shows_no_reference_before_a_failure(k3, qualifying, labeler):
    rank(labeler, k3, [3, 2, 1])
    page = Client()
    page.force_login(labeler)
    html = page.get(f"/projects/{k3.pk}/qualification/").content.decode()
    assert 'data-qualification="pending"' in html and 'data-tier="reference"' not in html
    assert f'href="/projects/{k3.pk}/qualification/"' in page.get("/").content.decode()


def test_an_admin_resets_or_overrides_a_failed_qualification(k3, qualifying, labeler, other_labeler):
    for user in (labeler, other_labeler):
        rank(user, k3, [3, 2, 1])
        rank(user, k3, [3, 2, 1])
    workflow.reset_qualification(standing(k3, labeler))
    assert standing(k3, labeler).qualification == Qualification.PENDING
    assert standing(k3, labeler).qualification_done == 0
    assert rank(labeler, k3, [1, 2, 3]).prompt_id in qualifying  # a gold prompt not had before
    rank(labeler, k3, [1, 2, 3])
    assert standing(k3, labeler).qualification == Qualification.PASSED
    workflow.override_qualification(k3, other_labeler)
    assert rank(other_labeler, k3, [1, 2, 3]).prompt_id not in qualifying


# --- Flags and quarantine ------------------------------------------------------------------------

def test_a_position_biased_labeler_is_flagged_stops_getting_tasks_and_is_quarantined(k3, three, admin_user):
    k3.overlap, k3.flag_after_rankings = 1, 3
    k3.save()
    for i in range(5):
        add_ready_prompt(k3, f"p{i}")
    biased = three[0]
    for _ in range(3):
        in_display_order(biased, k3)
    figures = standing(k3, biased)
    assert figures.is_flagged and "position bias" in figures.flag_reasons[0]
    assert workflow.lease_next(biased, k3, TaskKind.RANK) is None
    assert Ranking.objects.filter(quarantined(), labeler=biased).count() == 3
    assert not Ranking.objects.usable_for_training().exists()
    accepted = Ranking.objects.filter(labeler=biased).first()
    Ranking.objects.filter(pk=accepted.pk).update(review_status=ReviewStatus.ACCEPTED)
    assert list(Ranking.objects.usable_for_training()) == [accepted]  # a reviewer vouched for this one
    workflow.clear_flag(figures, admin_user)
    assert not Ranking.objects.filter(quarantined()).exists()
    assert Ranking.objects.usable_for_training().count() == 3
    in_display_order(biased, k3)  # cleared by an admin: tasks again, and no automatic flag
    assert not standing(k3, biased).is_flagged


def test_flagged_labelers_keep_tasks_where_the_project_says_so(k3, three):
    k3.overlap, k3.flag_after_rankings, k3.flagged_get_no_tasks = 1, 2, False
    k3.save()
    for i in range(3):
        add_ready_prompt(k3, f"p{i}")
    for _ in range(3):
        in_display_order(three[0], k3)
    assert standing(k3, three[0]).is_flagged


def test_a_fast_labeler_is_flagged(k3, three):
    k3.overlap, k3.flag_after_rankings, k3.flag_min_ms_per_candidate = 1, 2, 1000
    k3.save()
    for i in range(2):
        add_ready_prompt(k3, f"p{i}")
        rank(three[0], k3, [1, 2, 3], time_spent_ms=900)
    assert any("ms per response" in reason for reason in standing(k3, three[0]).flag_reasons)


def test_low_peer_agreement_flags_both_sides_only_with_evidence(k3, three):
    k3.overlap, k3.flag_after_comparisons, k3.flag_min_peer_agreement = 2, 2, 0.6
    k3.save()
    a, b = three[0], three[1]
    add_ready_prompt(k3, "one")
    add_ready_prompt(k3, "two")
    rank(a, k3, [1, 2, 3])
    rank(b, k3, [3, 2, 1])
    assert not standing(k3, a).is_flagged  # one comparison is not enough evidence
    rank(a, k3, [1, 2, 3])
    rank(b, k3, [3, 2, 1])
    assert standing(k3, a).is_flagged and standing(k3, b).is_flagged


# --- Permissions and cost ------------------------------------------------------------------------

def test_labelers_never_see_figures_or_references_of_others(k3, labeler, other_labeler):
    prompt = add_ready_prompt(k3)
    workflow.mark_gold(prompt, [1, 2, 3])
    api = client_for(labeler)
    assert api.post(f"/api/projects/{k3.pk}/gold/", {"prompt": prompt.pk, "reference": [1, 2, 3]},
                    format="json").status_code == 403
    for path in ("/api/me/stats/", "/api/tasks/", f"/api/projects/{k3.pk}/"):
        body = api.get(path).content.decode()
        assert "reference" not in body and "peer_agreement" not in body


def test_next_and_submit_cost_a_fixed_number_of_queries_whatever_the_overlap(k3):
    def cost(overlap):
        k3.overlap = overlap
        k3.save()
        add_ready_prompt(k3, f"overlap {overlap}")
        users = [make_user(f"u{overlap}-{i}", "labeler") for i in range(overlap)]
        for user in users[:-1]:
            rank(user, k3, [1, 2, 3])
        with CaptureQueriesContext(connection) as queries:
            rank(users[-1], k3, [1, 2, 3])
        return len(queries)

    assert cost(2) == cost(5)


# --- What admins read (labeling.quality) ----------------------------------------------------------

def test_the_figures_admins_read(k3, three):
    from labeling import quality
    from rankdata.agreement import krippendorff_alpha

    a, b, c = three
    add_ready_prompt(k3, "one")
    add_ready_prompt(k3, "two")
    for user, tiers, ms in ((a, [1, 2, 3], 3000), (b, [1, 1, 2], 6000), (c, [3, 2, 1], 9000)):
        rank(user, k3, tiers, time_spent_ms=ms)
        rank(user, k3, tiers, time_spent_ms=ms * 3)
    figures = quality.project_figures(k3)
    assert figures["pairwise_agreement"] == pytest.approx(2 / 9)
    assert figures["prompts_compared"] == 2 and figures["labelers"] == 3
    table = {row["username"]: row for row in quality.labeler_table(k3)}
    assert table["rater0"]["median_ms_per_ranking"] == pytest.approx(6000)
    assert table["rater0"]["median_ms_per_candidate"] == pytest.approx(2000)
    assert table["rater2"]["peer_agreement"] == 0 and table["rater0"]["rankings"] == 2
    assert quality.labeler_figures(k3, b)["peer_agreement"] == pytest.approx(2 / 6)
    alpha = quality.refresh_alpha(k3)
    by_prompt = {}
    for ranking in Ranking.objects.prefetch_related("ratings"):
        by_prompt.setdefault(ranking.prompt_id, {})[ranking.labeler_id] = {
            r.candidate_id: r.tier for r in ranking.ratings.all()}
    assert alpha == pytest.approx(krippendorff_alpha(list(by_prompt.values())))
    assert quality.project_figures(k3)["krippendorff_alpha"] == pytest.approx(alpha)
    assert quality.refresh_stale_alphas() == 0  # nothing new since


def test_contentious_prompts_are_listed_lowest_agreement_first(k3, three):
    from labeling import quality

    k3.overlap, k3.agreement_threshold = 3, 0.9
    k3.save()
    worse, better = add_ready_prompt(k3, "worse"), add_ready_prompt(k3, "better")
    for user, tiers in zip(three, ([1, 2, 3], [3, 2, 1], [2, 1, 3])):
        rank(user, k3, tiers)  # "worse"
    for user, tiers in zip(three, ([1, 2, 3], [1, 2, 3], [2, 1, 3])):
        rank(user, k3, tiers)  # "better"
    assert [row.prompt_id for row in quality.contentious_prompts(k3)] == [worse.pk, better.pk]


def test_imported_gold_prompts_and_a_bad_gold_line(k3, admin_user, settings, tmp_path):
    from exports.tasks import run_import_job

    settings.MEDIA_ROOT = tmp_path
    api = client_for(admin_user)
    url = f"/api/projects/{k3.pk}/import/"

    def upload(lines):
        from django.core.files.uploadedfile import SimpleUploadedFile

        body = "\n".join(json.dumps(line) for line in lines).encode()
        return api.post(url, {"file": SimpleUploadedFile("gold.jsonl", body)}, format="multipart")

    candidates = ["a", "b", "c"]
    bad = upload([{"prompt": "fine", "candidates": candidates, "gold": [1, 2, 3]},
                  {"prompt": "bad", "candidates": candidates, "gold": [1, 2]},
                  {"prompt": "no candidates", "gold": [1, 2, 3]}])
    assert bad.status_code == 400
    assert "line 2: gold:" in str(bad.json()["file"]) and "line 3: gold:" in str(bad.json()["file"])
    assert not Prompt.objects.exists() and not GoldRanking.objects.exists()
    accepted = upload([{"prompt": "fine", "candidates": candidates, "gold": [2, 1, 2]}])
    assert accepted.status_code == 202  # checked; its job stores it (run here in-process)
    run_import_job(accepted.json()["id"])
    gold = GoldRanking.objects.get()
    assert gold.source == "import"
    by_index = dict(gold.prompt.candidates.values_list("index", "id"))
    assert gold.tiers == {by_index[0]: 2, by_index[1]: 1, by_index[2]: 2}


def test_admins_mark_gold_and_clear_flags_in_the_admin(k3, admin_user, labeler):
    prompt = add_ready_prompt(k3)
    site = Client()
    site.force_login(admin_user)
    bad = site.post("/admin/labeling/goldranking/add/", {"prompt": prompt.pk, "tiers": "1, 2"})
    assert bad.status_code == 200 and "must be a list of 3 tiers" in bad.content.decode()
    assert not GoldRanking.objects.exists()
    good = site.post("/admin/labeling/goldranking/add/", {"prompt": prompt.pk, "tiers": "1, 2, 2"})
    assert good.status_code == 302 and sorted(GoldRanking.objects.get().tiers.values()) == [1, 2, 2]
    standing = LabelerQuality.objects.create(project=k3, labeler=labeler, flagged_at="2026-01-01T00:00Z",
                                             flag_reasons=["peer agreement 0.30 < 0.60"])
    assert "peer agreement 0.30" in site.get("/admin/labeling/labelerquality/").content.decode()
    site.post("/admin/labeling/labelerquality/", {"action": "clear_flags", "_selected_action": [standing.pk]})
    standing.refresh_from_db()
    assert not standing.is_flagged and standing.flag_cleared_by == admin_user


def test_a_reviewed_ranking_becomes_the_gold_reference(k3, three):
    k3.overlap = 1
    k3.save()
    prompt = add_ready_prompt(k3)
    ranking = rank(three[0], k3, [2, 1, 2])
    gold = workflow.gold_from_ranking(ranking)
    assert gold.source == "review" and gold.prompt == prompt
    assert gold.tiers == dict(ranking.ratings.values_list("candidate_id", "tier"))


def test_an_admin_makes_an_accepted_ranking_the_gold_reference(k3, three, admin_user):
    k3.overlap = 2
    k3.save()
    add_ready_prompt(k3, "one")
    add_ready_prompt(k3, "two")
    accepted = rank(three[0], k3, [2, 1, 3])
    unreviewed = rank(three[0], k3, [1, 2, 3])
    Ranking.objects.filter(pk=accepted.pk).update(review_status=ReviewStatus.ACCEPTED)
    site = Client()
    site.force_login(admin_user)
    site.post("/admin/labeling/ranking/", {"action": "make_gold", "_selected_action": [accepted.pk, unreviewed.pk]})
    gold = GoldRanking.objects.get()  # the unreviewed ranking's prompt stays as it was
    assert (gold.prompt, gold.source) == (accepted.prompt, "review")
    assert gold.tiers == dict(accepted.ratings.values_list("candidate_id", "tier"))
