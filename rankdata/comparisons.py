"""Rankings to comparisons. A ranking gives each of K candidates a tier: 1 is best, equal tiers are ties.

Tiers are dense (1, 2, 3, ... with no gap), so two rankings that order every pair the same way have equal
tiers. Training uses the winner/loser pairs; agreement also counts ties, since two labelers who both tie a
pair agree on it.
"""
from __future__ import annotations

from collections.abc import Sequence


def dense_tiers(tiers: Sequence[int]) -> list[int]:
    """The same order with tiers renumbered 1, 2, ... without gaps: [1, 3, 3, 7] -> [1, 2, 2, 3]."""
    distinct = sorted(set(tiers))
    position = {tier: index + 1 for index, tier in enumerate(distinct)}
    return [position[tier] for tier in tiers]


def comparisons(tiers: Sequence[int]) -> list[tuple[int, int]]:
    """(winner index, loser index) for every pair of candidates in different tiers; ties give none.

    Ordered by winner index, then loser index (the order of the pairwise export)."""
    return [(winner, loser) for winner, tier in enumerate(tiers) for loser, other in enumerate(tiers)
            if tier < other]


def ties(tiers: Sequence[int]) -> list[tuple[int, int]]:
    """(i, j), i < j, for every pair of candidates in the same tier."""
    return [(i, j) for i in range(len(tiers)) for j in range(i + 1, len(tiers)) if tiers[i] == tiers[j]]


def pair_orders(tiers: Sequence[int]) -> list[int]:
    """For each candidate pair (i, j), i < j, in order: 1 if i is better, -1 if j is, 0 if tied."""
    return [(tiers[j] > tiers[i]) - (tiers[j] < tiers[i]) for i in range(len(tiers)) for j in range(i + 1, len(tiers))]
