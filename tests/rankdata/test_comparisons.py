from rankdata.comparisons import comparisons, dense_tiers, pair_orders, ties


def test_dense_tiers_close_gaps_and_keep_ties():
    assert dense_tiers([1, 3, 3, 7]) == [1, 2, 2, 3]
    assert dense_tiers([2, 2]) == [1, 1]


def test_comparisons_are_every_pair_in_different_tiers_winner_first():
    # candidate 1 best, 0 and 2 tied second, 3 last
    assert comparisons([2, 1, 2, 3]) == [(0, 3), (1, 0), (1, 2), (1, 3), (2, 3)]
    assert comparisons([1, 1, 1]) == []


def test_ties_and_pair_orders_cover_all_k_choose_2_pairs():
    tiers = [2, 1, 2, 3]
    assert ties(tiers) == [(0, 2)]
    # pairs (0,1) (0,2) (0,3) (1,2) (1,3) (2,3)
    assert pair_orders(tiers) == [-1, 0, 1, 1, 1, 1]
    assert len(comparisons(tiers)) + len(ties(tiers)) == len(pair_orders(tiers)) == 6
