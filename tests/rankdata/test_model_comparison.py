"""Model comparison statistics against hand-computed cases."""
import math

import numpy as np
import pytest

from rankdata.model_comparison import (Rated, battles, compare_models, fit_length_controlled, fit_strengths,
                                       leaderboard, reward_agreement, per_model_ratings, win_rates)


def duel(first, second, first_tier, second_tier, **extra):
    return [Rated(first, first_tier, **extra), Rated(second, second_tier, **extra)]


def test_win_rate_counts_ties_half_and_ignores_pairs_of_one_model():
    rankings = [duel("a", "b", 1, 2)] * 3 + [duel("a", "b", 2, 1), duel("a", "b", 1, 1),
                                             duel("a", "a", 1, 2)]
    (row,) = win_rates(battles(rankings), rounds=200)
    assert row["model"] == "a" and row["opponent"] == "b"
    assert row["win_rate"] == pytest.approx(3.5 / 5) and row["battles"] == 5
    low, high = row["ci"]
    assert 0 <= low < 0.7 < high <= 1


def test_a_four_way_ranking_gives_every_cross_model_pair():
    # a1 > b1 = a2 > b2: a vs b battles are a1>b1, a1>b2, b1=a2 (tie), a2>b2 -> 3.5 of 4 to a.
    ranking = [Rated("a", 1), Rated("b", 2), Rated("a", 2), Rated("b", 3)]
    (row,) = win_rates(battles([ranking]), rounds=0)
    assert row["win_rate"] == pytest.approx(3.5 / 4)


def test_unanimous_data_has_a_degenerate_interval():
    (row,) = win_rates(battles([duel("a", "b", 1, 2)] * 20), rounds=100)
    assert row["win_rate"] == 1 and row["ci"] == [1, 1]


def test_bradley_terry_two_models_is_the_log_odds_of_the_win_rate():
    wins = np.array([[0, 7.0], [3.0, 0]])
    theta = fit_strengths(wins)
    assert theta[0] - theta[1] == pytest.approx(math.log(7 / 3), abs=1e-4)
    assert theta.sum() == pytest.approx(0, abs=1e-9)


def test_bradley_terry_recovers_strengths_4_2_1_from_counts_that_fit_exactly():
    # P(a>b) = 4/6, P(b>c) = 2/3, P(a>c) = 4/5 with 30, 30 and 50 battles: the MLE is log(4, 2, 1), centred.
    wins = np.array([[0, 20, 40], [10, 0, 20], [10, 10, 0]], dtype=float)
    theta = fit_strengths(wins)
    expected = np.log([4, 2, 1]) - np.log([4, 2, 1]).mean()
    assert theta == pytest.approx(expected, abs=1e-4)


def test_leaderboard_orders_models_with_intervals_around_the_estimate():
    rankings = ([duel("good", "bad", 1, 2)] * 8 + [duel("good", "bad", 2, 1)] * 2
                + [duel("bad", "worst", 1, 2)] * 7 + [duel("bad", "worst", 2, 1)] * 3
                + [duel("good", "worst", 1, 2)] * 9 + [duel("good", "worst", 2, 1)])
    board = leaderboard(battles(rankings), rounds=300, seed=1)["models"]
    assert [row["model"] for row in board] == ["good", "bad", "worst"]
    for row in board:
        assert row["ci"][0] <= row["strength"] <= row["ci"][1]
        assert row["rating"] == pytest.approx(1000 + 400 / math.log(10) * row["strength"], abs=0.1)


def test_length_control_takes_out_a_preference_for_long_answers():
    # People always prefer the longer answer; model "long" writes longer ones half the time, and when its
    # answer is the shorter one it loses. Without control "long" wins; with control the models tie and
    # the length coefficient is large and positive.
    rankings = ([[Rated("long", 1, length=300), Rated("short", 2, length=100)]] * 30
                + [[Rated("long", 2, length=100), Rated("short", 1, length=300)]] * 10)
    fights = battles(rankings)
    plain = fit_strengths(fights.win_matrix())
    assert plain[fights.models.index("long")] > 0.5
    theta, gamma = fit_length_controlled(fights)
    assert gamma > 2
    assert abs(theta[0] - theta[1]) < abs(plain[0] - plain[1])


def test_reward_agreement_and_ratings_per_model():
    ranking = [Rated("a", 1, likert=6, flags=("hallucination",), reward=2.0),
               Rated("b", 2, likert=3, reward=3.0),
               Rated("b", 3, likert=2, flags=("hallucination", "unknown"), reward=1.0)]
    # People: a>b1, a>b2, b1>b2. RM: b1 > a > b2 -> agrees on a>b2 and b1>b2, not on a>b1.
    agreement = reward_agreement([ranking])
    assert agreement["a"] == {"agreement": 0.5, "comparisons": 2}
    assert agreement["b"] == {"agreement": pytest.approx(2 / 3), "comparisons": 3}
    rates = per_model_ratings([ranking], ["hallucination", "harmful_advice"])
    assert rates["b"] == {"judged": 2, "mean_likert": 2.5, "flag_rates": {"hallucination": 0.5, "harmful_advice": 0}}
    assert rates["a"]["flag_rates"]["hallucination"] == 1


def test_compare_models_without_any_ranking_is_empty_not_an_error():
    report = compare_models([], rounds=10)
    assert report["leaderboard"] == [] and report["win_rates"] == [] and report["battles"] == 0


def test_many_battles_get_fewer_bootstrap_rounds_and_say_so(monkeypatch):
    import rankdata.model_comparison as module

    monkeypatch.setattr(module, "BATTLES_TIMES_ROUNDS", 1000)
    rankings = [duel("a", "b", 1, 2)] * 15 + [duel("a", "b", 2, 1)] * 10  # 25 battles: 40 rounds
    assert compare_models(rankings, rounds=200)["bootstrap_rounds"] == 40
    assert compare_models(rankings * 10, rounds=200)["bootstrap_rounds"] == module.MIN_ROUNDS
    assert compare_models(rankings, rounds=10)["bootstrap_rounds"] == 10
