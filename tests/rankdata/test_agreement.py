"""Each metric against cases worked out by hand, ties included."""
import pytest

from rankdata.agreement import (
    agreeing_pairs, kendall_tau, krippendorff_alpha, labeler_agreement, pairwise_agreement, prompt_agreement,
)


def test_pairwise_agreement_counts_a_tie_as_agreeing_only_with_a_tie():
    # pairs (0,1): tie vs 0 better -> no; (0,2): 0 better in both -> yes; (1,2): 1 better vs tie -> no
    assert agreeing_pairs([1, 1, 2], [1, 2, 2]) == (1, 3)
    assert pairwise_agreement([1, 1, 2], [1, 2, 2]) == pytest.approx(1 / 3)
    assert pairwise_agreement([1, 1, 2], [2, 2, 3]) == 1.0  # tiers need not be dense
    # K=4, one adjacent swap: 5 of 6 pairs agree
    assert pairwise_agreement([1, 2, 3, 4], [2, 1, 3, 4]) == pytest.approx(5 / 6)


def test_rankings_are_matched_by_candidate_not_by_position():
    shown_one_way = {"a": 1, "b": 2, "c": 2}
    shown_another = {"c": 2, "b": 2, "a": 1}
    assert pairwise_agreement(shown_one_way, shown_another) == 1.0
    with pytest.raises(ValueError):
        pairwise_agreement({"a": 1, "b": 2}, {"a": 1, "c": 2})


def test_prompt_agreement_is_the_mean_over_labeler_pairs():
    # A-B 1/3, A-C 1 (same as A), B-C 1/3
    assert prompt_agreement([[1, 1, 2], [1, 2, 2], [1, 1, 2]]) == pytest.approx((1 / 3 + 1 + 1 / 3) / 3)
    assert prompt_agreement([[1, 2]]) is None


def test_kendall_tau_b_with_ties():
    # concordant 1, discordant 0, one pair tied only in each ranking: 1 / sqrt(2 * 2)
    assert kendall_tau([1, 1, 2], [1, 2, 2]) == pytest.approx(0.5)
    assert kendall_tau([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert kendall_tau([1, 1, 1], [1, 2, 3]) is None


def test_krippendorff_alpha_ordinal_by_hand():
    # Units (prompt, candidate) with values from two labelers: (1,1) (2,3) (3,2); n1 = n2 = n3 = 2.
    # Ordinal distances: d(1,2)^2 = d(2,3)^2 = 4, d(1,3)^2 = 16. Do = (2*4 + 2*4)/6, De = 2*(4*4 + 4*16 + 4*4)/30.
    assert krippendorff_alpha([{"A": [1, 2, 3], "B": [1, 3, 2]}]) == pytest.approx(1 - (16 / 6) / 6.4)  # 7/12
    # With ties: (1,1) (1,2) (2,2); n1 = n2 = 3; d(1,2)^2 = 9. Do = 18/6, De = 2*9*9/30: alpha = 4/9.
    assert krippendorff_alpha([{"A": [1, 1, 2], "B": [1, 2, 2]}]) == pytest.approx(4 / 9)
    assert krippendorff_alpha([{"A": [1, 1, 5], "B": {0: 2, 1: 7, 2: 7}}]) == pytest.approx(4 / 9)  # order, not numbers
    # Two prompts, perfect agreement; a third labeler who ranked alone adds nothing pairable.
    assert krippendorff_alpha([{"A": [1, 2], "B": [1, 2]}, {"A": [2, 1], "B": [2, 1], }]) == pytest.approx(1.0)
    assert krippendorff_alpha([{"A": [1, 2]}]) is None


def test_labeler_agreement_against_the_others_on_shared_prompts():
    prompts = [
        {"ann": [1, 2, 3], "bob": [1, 2, 3], "cyd": [3, 2, 1]},  # ann-bob 3/3, ann-cyd 0/3, bob-cyd 0/3
        {"ann": [1, 1], "bob": [1, 2]},  # 0/1
        {"dan": [1, 2]},  # ranked alone: nobody to agree with
    ]
    assert labeler_agreement(prompts) == {"ann": (3 / 7, 7), "bob": (3 / 7, 7), "cyd": (0.0, 6)}
