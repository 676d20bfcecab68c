"""The rules on a labeler's recent work (issue 11 item 5): the rolling window of their latest comparisons and
gold rankings since the qualification, the flags it raises (recent agreement, recent gold accuracy, a drop from
their earlier level), quarantine of what they ranked before the flag, rejected rankings leaving the stored
agreement, and the server's random draws replaying under a seed.

Tiers are given per candidate index (1 = best); K=3, so each comparison is 3 candidate pairs."""
import itertools

import pytest
from django.db import transaction

from labeling import quality, workflow
from labeling.draws import draws, shuffled
from labeling.models import (
    Candidate, LabelerQuality, PromptAgreement, Qualification, Ranking, ReviewCause, ReviewStatus, TaskKind,
)
from labeling.models.quality import FLAG_CONFIDENCE, PEER_CONFIDENCE, add_to_counters
from labeling.roles import REVIEWER_GROUP, sync_roles
from rankdata.intervals import wilson_interval
from tests.conftest import add_ready_prompt, make_user
from tests.labeling.test_quality import rank, standing

AGREE, ONE_PAIR_OFF, REVERSED = [1, 2, 3], [2, 1, 3], [3, 2, 1]  # vs [1, 2, 3]: 3/3, 2/3, 0/3 pairs alike


@pytest.fixture
def k3(project):
    project.k, project.gold_rate, project.agreement_threshold, project.flag_min_ms_per_candidate = 3, 0, 0, 0
    project.flag_window, project.flag_after_comparisons, project.flag_after_gold = 5, 5, 5
    project.flag_max_position_bias = 1  # the display order is random: a short run could correlate with it
    project.save()
    return project


@pytest.fixture
def team(db):
    return [make_user(name, "labeler") for name in ("drifter", "steady1", "steady2")]


def rank_prompts(project, team, drifter_tiers, count):
    """`count` prompts, each ranked by the two steady labelers as [1, 2, 3] and by the drifter as given, for as
    long as the drifter gets tasks (a flag stops them)."""
    drifter, *steady = team
    for i in range(count):
        add_ready_prompt(project, f"prompt {Ranking.objects.count()} {i}")
        for user in steady:
            rank(user, project, AGREE)
        figures = LabelerQuality.objects.filter(project=project, labeler=drifter).first()
        if figures is not None and figures.is_flagged:
            assert workflow.lease_next(drifter, project, TaskKind.RANK) is None
        else:
            rank(drifter, project, drifter_tiers)


def test_the_window_keeps_the_latest_size_to_twice_size_observations(k3, labeler):
    def add(agreeing):
        row = {"project": k3.pk, "labeler": labeler.pk, "recent_count": 1, "recent_agreeing": agreeing,
               "recent_pairs": 3}
        return add_to_counters(LabelerQuality, ("project", "labeler"), [row], {"recent": 5})[0]

    for _ in range(5):
        figures = add(3)
    assert (figures.recent_count, figures.recent_prev_count, figures.recent_agreement) == (5, 0, 1.0)
    figures = add(0)  # a sixth would overfill the bucket: the five become the previous bucket
    assert (figures.recent_count, figures.recent_prev_count, figures.recent_prev_agreeing) == (1, 5, 15)
    assert figures.recent_observations == 6 and figures.recent_agreement == pytest.approx(15 / 18)
    for _ in range(5):
        figures = add(0)
    # The five agreeing observations have left the window; the last six disagreeing ones are in it.
    assert (figures.recent_observations, figures.recent_agreement) == (6, 0.0)


def test_a_labeler_who_stops_caring_is_flagged_on_recent_agreement_though_lifetime_looks_fine(k3, team):
    k3.overlap, k3.flag_min_peer_agreement, k3.flag_max_drop = 3, 0.5, 1  # the floor alone, no drop rule
    k3.save()
    drifter = team[0]
    rank_prompts(k3, team, AGREE, 10)  # 20 agreeing comparisons
    rank_prompts(k3, team, REVERSED, 5)  # then disagreeing ones, until the flag
    figures = standing(k3, drifter)
    assert figures.rankings == 13 and figures.peer_agreement == pytest.approx(60 / 78)  # lifetime: above 0.5
    assert figures.flag_reasons == ["recent agreement 0.00 < 0.50 (last 6 comparisons and gold rankings)"]
    shown = quality.labeler_figures(k3, drifter)  # what admins read on the quality page and API
    assert (shown["recent_agreement"], shown["recent_observations"]) == (0.0, 6)
    # The steady labelers each agreed with one of the two others on every prompt: 0.5 in their window.
    assert not standing(k3, team[1]).is_flagged and not standing(k3, team[2]).is_flagged
    # Quarantined: every ranking of the drifter, the careful ones from before the flag too.
    assert not Ranking.objects.usable_for_training().filter(labeler=drifter).exists()
    assert Ranking.objects.usable_for_training().count() == 30


def test_an_unlucky_ranking_or_two_does_not_flag_a_careful_labeler(k3, team):
    k3.overlap, k3.flag_min_peer_agreement = 3, 0.5
    k3.save()
    rank_prompts(k3, team, AGREE, 6)
    rank_prompts(k3, team, ONE_PAIR_OFF, 3)
    figures = standing(k3, team[0])
    _, agreeing, pairs = figures.earlier()
    # Below the level the drop rule allows (1.00 - 0.20), but not beyond the noise of so few observations.
    assert figures.recent_agreement < agreeing / pairs - k3.flag_max_drop
    assert not figures.is_flagged


def test_a_drop_from_the_earlier_level_flags_above_the_floor(k3, team):
    k3.overlap, k3.flag_min_peer_agreement, k3.flag_max_drop = 3, 0.3, 0.1
    k3.save()
    rank_prompts(k3, team, AGREE, 10)
    rank_prompts(k3, team, ONE_PAIR_OFF, 2)
    assert not standing(k3, team[0]).is_flagged  # two off: within the noise of a 5-to-10 window
    rank_prompts(k3, team, ONE_PAIR_OFF, 6)
    figures = standing(k3, team[0])
    assert figures.recent_agreement == pytest.approx(2 / 3)  # above the 0.3 floor
    assert figures.flag_reasons == [f"recent agreement 0.67, down from 1.00 (last {figures.recent_observations} "
                                    "observations)"]


def test_without_a_drop_rule_the_same_labeler_stays(k3, team):
    """The test above can fail: the drop rule is what flags there."""
    k3.overlap, k3.flag_min_peer_agreement, k3.flag_max_drop = 3, 0.3, 1.0
    k3.save()
    rank_prompts(k3, team, AGREE, 10)
    rank_prompts(k3, team, ONE_PAIR_OFF, 8)
    assert not standing(k3, team[0]).is_flagged


@pytest.fixture
def qualifying_with_gold(k3):
    """Qualification on 5 gold prompts, then every lease gold (14 gold prompts in all, reference [1, 2, 3]).
    The recent agreement and drop rules (gold rankings count there too) are set aside: a floor of 0.2, no drop
    limit."""
    k3.overlap, k3.qualification_tasks, k3.qualification_min_agreement, k3.gold_rate = 1, 5, 0.7, 1
    k3.flag_min_peer_agreement, k3.flag_max_drop = 0.2, 1
    k3.save()
    for i in range(14):
        workflow.mark_gold(add_ready_prompt(k3, f"gold {i}"), AGREE)
    return k3


# After the qualification: 6 of 15 pairs like the reference, the top of whose interval is above 0.6; then 6 of 18.
AFTER_QUALIFYING = [ONE_PAIR_OFF, REVERSED, ONE_PAIR_OFF, REVERSED, ONE_PAIR_OFF]


def test_recent_gold_accuracy_after_a_perfect_qualification_flags(qualifying_with_gold, labeler):
    project = qualifying_with_gold
    for _ in range(5):
        rank(labeler, project, AGREE)
    figures = standing(project, labeler)
    assert figures.qualification == Qualification.PASSED
    assert figures.recent_observations == 0  # the window starts after the qualification
    for tiers in AFTER_QUALIFYING:
        rank(labeler, project, tiers)
    assert not standing(project, labeler).is_flagged  # 0.40 on 15 pairs: not beyond the noise
    rank(labeler, project, REVERSED)
    figures = standing(project, labeler)
    # Lifetime gold accuracy (the qualification included) is above 0.6; the work since is not.
    assert figures.gold_accuracy == pytest.approx(21 / 33)
    assert figures.recent_gold_accuracy == pytest.approx(6 / 18)
    assert figures.is_flagged and figures.flag_reasons == ["recent gold accuracy 0.33 < 0.60 (last 6 gold rankings)"]
    assert workflow.lease_next(labeler, project, TaskKind.RANK) is None


def test_a_drop_from_the_qualification_level_flags(qualifying_with_gold, labeler):
    project = qualifying_with_gold
    project.flag_max_drop = 0.2
    project.save()
    for tiers in [AGREE] * 5 + AFTER_QUALIFYING[:4]:
        rank(labeler, project, tiers)
    assert not standing(project, labeler).is_flagged  # the window needs flag_window (5) observations
    rank(labeler, project, AFTER_QUALIFYING[4])
    # Perfect on the qualification, 0.40 since, with the top of its interval 0.61: below 1.00 - 0.20.
    assert standing(project, labeler).flag_reasons == ["recent agreement 0.40, down from 1.00 (last 5 observations)"]


def test_recent_gold_accuracy_needs_its_minimum_of_gold_rankings(qualifying_with_gold, labeler):
    project = qualifying_with_gold
    project.flag_after_gold = 7
    project.save()
    for tiers in [AGREE] * 5 + AFTER_QUALIFYING + [REVERSED]:
        rank(labeler, project, tiers)
    assert not standing(project, labeler).is_flagged
    rank(labeler, project, REVERSED)
    assert standing(project, labeler).flag_reasons == ["recent gold accuracy 0.29 < 0.60 (last 7 gold rankings)"]


# --- A rejected ranking leaves the stored agreement ----------------------------------------------------------

def test_a_rejected_ranking_leaves_its_prompts_agreement_and_its_peers_figures(k3, team):
    k3.overlap = 3
    k3.save()
    drifter, steady1, steady2 = team
    prompt = add_ready_prompt(k3, "one")
    rank(steady1, k3, AGREE)
    rank(steady2, k3, ONE_PAIR_OFF)
    rejected = rank(drifter, k3, REVERSED)
    agreement = PromptAgreement.objects.get(prompt=prompt)
    assert (agreement.rankings, agreement.agreeing_pairs, agreement.pairs) == (3, 2 + 0 + 1, 9)
    sync_roles()
    reviewer = make_user("reviewer", REVIEWER_GROUP)
    workflow.queue_for_review(Ranking.objects.filter(pk=rejected.pk), ReviewCause.SAMPLE)
    workflow.review_ranking(rejected.pk, reviewer, accept=False, reason="Reversed")
    agreement = PromptAgreement.objects.get(prompt=prompt)
    assert (agreement.rankings, agreement.agreeing_pairs, agreement.pairs) == (2, 2, 3)
    assert (standing(k3, steady1).peer_agreeing_pairs, standing(k3, steady1).peer_pairs) == (2, 3)
    assert standing(k3, steady2).peer_comparisons == 1
    # Its own labeler's figures keep it: it is evidence about them.
    assert (standing(k3, drifter).peer_agreeing_pairs, standing(k3, drifter).peer_pairs) == (1, 6)
    # The slot went back to the pool; whoever takes it is compared with the two standing rankings only.
    newcomer = make_user("newcomer", "labeler")
    rank(newcomer, k3, AGREE)
    agreement = PromptAgreement.objects.get(prompt=prompt)
    assert (agreement.rankings, agreement.agreeing_pairs, agreement.pairs) == (3, 2 + 3 + 2, 9)
    assert standing(k3, newcomer).peer_comparisons == 2
    assert Ranking.objects.get(pk=rejected.pk).review_status == ReviewStatus.REJECTED


# --- The server's draws replay under a seed --------------------------------------------------------------------

def test_the_sql_shuffle_replays_under_a_seed_and_reaches_every_order(k3):
    add_ready_prompt(k3, "one")
    candidates = Candidate.objects.all()

    def shuffle():
        return list(candidates.order_by(shuffled("id")).values_list("id", flat=True))

    draws.seed(11)
    first = [shuffle() for _ in range(60)]
    draws.seed(11)
    assert [shuffle() for _ in range(60)] == first
    assert {tuple(order) for order in first} == set(itertools.permutations(sorted(first[0])))


def test_display_orders_and_gold_draws_replay_under_a_seed(k3, team):
    k3.overlap, k3.gold_rate = 3, 0.5
    k3.save()
    for i in range(4):
        workflow.mark_gold(add_ready_prompt(k3, f"gold {i}"), AGREE)
    for i in range(6):
        add_ready_prompt(k3, f"real {i}")

    def leases():
        """Each labeler's first lease (the prompt and the candidates' indexes in display order), undone after."""
        seen, undo = [], transaction.savepoint()
        for user in team:
            task = workflow.lease_next(user, k3, TaskKind.RANK)
            seen.append((task.prompt_id, [Candidate.objects.get(pk=c).index for c in task.display_order]))
        transaction.savepoint_rollback(undo)
        return seen

    draws.seed(5)
    first = leases()
    draws.seed(5)
    assert leases() == first
    draws.seed(6)
    assert leases() != first  # (six orders of three candidates, three leases, and gold or not: 1 in 1728 alike)


# --- A labeler in doubt draws more gold ----------------------------------------------------------------------

def test_a_labeler_in_doubt_draws_gold_at_the_doubt_rate_until_it_settles(k3, team, monkeypatch):
    k3.overlap, k3.flag_min_peer_agreement, k3.flag_max_drop, k3.doubt_gold_rate = 3, 0.5, 1, 0.5
    k3.flag_after_comparisons = 20  # the doubt comes long before the evidence to flag
    k3.save()
    gold = {workflow.mark_gold(add_ready_prompt(k3, f"gold {i}"), AGREE).prompt_id for i in range(3)}
    drifter, steady = team[0], team[1]
    rank_prompts(k3, team, AGREE, 1)
    rank_prompts(k3, team, REVERSED, 2)  # 6 of 18 pairs alike in the window: 0.33
    figures = standing(k3, drifter)
    assert figures.recent_agreement == pytest.approx(6 / 18) and figures.in_doubt and not figures.is_flagged
    assert not standing(k3, steady).in_doubt  # 12 of 18 with the two others
    values = [0.4, 0.6, 0.4, 0.4]  # under the doubt rate (0.5) or not; none under the gold rate (0)
    monkeypatch.setattr(workflow.draws, "random", lambda: values.pop(0))
    add_ready_prompt(k3, "real")
    served = [rank(drifter, k3, AGREE).prompt_id for _ in range(3)]
    assert [prompt in gold for prompt in served] == [True, False, True]
    # Careful again on gold: the recent agreement is back at the limit, and the odds of gold back to normal.
    figures = standing(k3, drifter)
    assert figures.recent_agreement == pytest.approx(12 / 24) and not figures.in_doubt
    add_ready_prompt(k3, "another")
    assert rank(drifter, k3, AGREE).prompt_id not in gold and not values  # a draw under the doubt rate


def test_without_doubt_the_same_draws_give_pool_tasks(k3, team, monkeypatch):
    k3.overlap, k3.doubt_gold_rate = 3, 0.5
    k3.save()
    for i in range(3):
        workflow.mark_gold(add_ready_prompt(k3, f"gold {i}"), AGREE)
    values = iter([0.4] * 20)
    monkeypatch.setattr(workflow.draws, "random", lambda: next(values))
    rank_prompts(k3, team, AGREE, 3)
    assert not Ranking.objects.filter(prompt__gold__isnull=False).exists()


def test_good_recent_gold_accuracy_vouches_against_disagreeing_peers(k3, team):
    """Against one who reverses every prompt, both sides' peer agreement is 0 (test_quality's
    test_low_peer_agreement_flags_both_sides_only_with_evidence); references tell which one is careful."""
    careful, careless = team[1], team[0]
    k3.overlap, k3.flag_after_gold, k3.flag_max_drop, k3.gold_rate = 2, 3, 1, 1
    k3.save()
    for i in range(3):
        workflow.mark_gold(add_ready_prompt(k3, f"gold {i}"), AGREE)
        rank(careful, k3, AGREE)
    k3.gold_rate = k3.doubt_gold_rate = 0
    k3.save()
    for i in range(5):
        add_ready_prompt(k3, f"real {i}")
        rank(careful, k3, AGREE)
        rank(careless, k3, REVERSED)
    assert standing(k3, careless).flag_reasons == [
        "peer agreement 0.00 < 0.60", "recent agreement 0.00 < 0.60 (last 5 comparisons and gold rankings)"]
    figures = standing(k3, careful)
    assert figures.peer_agreement == 0 and figures.recent_gold_accuracy == 1 and not figures.is_flagged


def test_position_bias_is_flagged_beyond_its_noise(k3):
    """Ten rankings that follow a random display order as closely as 0.8 by chance are not enough; the same
    bias on many rankings is, and keeping the order shown exactly is at once."""
    k3.flag_after_rankings, k3.flag_max_position_bias = 10, 0.8

    def bias(rankings, r):  # sums of (position, tier) pairs over K=3 whose correlation is r
        n = 3 * rankings
        return LabelerQuality(project=k3, rankings=rankings, position_n=n, position_sx=2 * n, position_sy=2 * n,
                              position_sxx=14 / 3 * n, position_syy=14 / 3 * n, position_sxy=(4 + 2 / 3 * r) * n)

    assert bias(10, 0.8).position_bias == pytest.approx(0.8)
    assert bias(10, 0.8).rule_breaches(k3) == []
    assert bias(200, 0.9).rule_breaches(k3) == ["position bias 0.90 (limit 0.80)"]
    assert bias(10, 1.0).rule_breaches(k3) == ["position bias 1.00 (limit 0.80)"]


def test_peer_agreement_is_judged_on_a_wider_interval_than_gold(k3):
    """A careful labeler's unlucky run (0.60 on the 60 pairs of 20 comparisons, limit 0.7) is not beyond the
    noise of correlated pairs; a labeler at chance over the same comparisons is. Gold keeps the 90% interval."""
    k3.flag_min_peer_agreement, k3.flag_after_comparisons, k3.flag_min_gold_accuracy = 0.7, 20, 0.7
    k3.flag_after_gold = 20

    def peers(agreeing):
        return LabelerQuality(project=k3, peer_comparisons=20, peer_agreeing_pairs=agreeing, peer_pairs=60)

    assert peers(36).rule_breaches(k3) == []
    assert peers(27).rule_breaches(k3) == ["peer agreement 0.45 < 0.70"]
    # At 90% the unlucky run would have been flagged: it is the interval, not the limit, that spares it.
    assert wilson_interval(0.6, 60, FLAG_CONFIDENCE)[1] < 0.7 < wilson_interval(0.6, 60, PEER_CONFIDENCE)[1]
    gold = LabelerQuality(project=k3, gold_rankings=20, gold_agreeing_pairs=36, gold_pairs=60)
    assert gold.rule_breaches(k3) == ["gold accuracy 0.60 < 0.70"]
