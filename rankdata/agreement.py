"""Agreement between labelers who ranked the same candidates. Pure functions; the dashboard, the export
filter and the trainer's accuracy-by-agreement all use these definitions.

A ranking here is a mapping {candidate: tier} (1 = best, equal tiers are ties), or a sequence of tiers
indexed by candidate position. Two rankings compared must cover the same candidates.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from itertools import combinations

from .comparisons import dense_tiers


def _as_mapping(ranking) -> Mapping:
    return ranking if isinstance(ranking, Mapping) else dict(enumerate(ranking))


def _aligned(a, b) -> tuple[list, list]:
    a, b = _as_mapping(a), _as_mapping(b)
    if set(a) != set(b):
        raise ValueError(f"the two rankings cover different candidates: {sorted(a)} and {sorted(b)}")
    keys = sorted(a)
    return [a[key] for key in keys], [b[key] for key in keys]


def _sign(x: int) -> int:
    return (x > 0) - (x < 0)


def agreeing_pairs(a, b) -> tuple[int, int]:
    """(pairs ordered the same way, all C(K,2) pairs) between two rankings of the same K candidates: both
    prefer the same candidate, or both tie it."""
    tiers_a, tiers_b = _aligned(a, b)
    pairs = list(combinations(range(len(tiers_a)), 2))
    same = sum(_sign(tiers_a[i] - tiers_a[j]) == _sign(tiers_b[i] - tiers_b[j]) for i, j in pairs)
    return same, len(pairs)


def pairwise_agreement(a, b) -> float:
    """InstructGPT's inter-annotator agreement for one prompt: the share of the C(K,2) candidate pairs
    that two labelers order the same way (a tie agrees only with a tie)."""
    same, total = agreeing_pairs(a, b)
    if not total:
        raise ValueError("agreement needs at least two candidates")
    return same / total


def prompt_agreement(rankings: Sequence) -> float | None:
    """Mean pairwise agreement over every two labelers who ranked one prompt; None under two rankings.

    Every two labelers share the same C(K,2) pairs, so this is also the share of agreeing
    (labeler pair, candidate pair) combinations."""
    if len(rankings) < 2:
        return None
    scores = [pairwise_agreement(a, b) for a, b in combinations(rankings, 2)]
    return sum(scores) / len(scores)


def kendall_tau(a, b) -> float | None:
    """Kendall's tau-b between two rankings (ties handled); None where it is undefined (a ranking that
    ties every candidate). Counted over the C(K,2) pairs directly: K is at most a handful, and every
    submit computes this once per other labeler of the prompt, where scipy's call cost more than the rest."""
    tiers_a, tiers_b = _aligned(a, b)
    concordant_minus_discordant = untied_a = untied_b = 0
    for i, j in combinations(range(len(tiers_a)), 2):
        sign_a, sign_b = _sign(tiers_a[i] - tiers_a[j]), _sign(tiers_b[i] - tiers_b[j])
        concordant_minus_discordant += sign_a * sign_b
        untied_a += sign_a != 0
        untied_b += sign_b != 0
    if not untied_a or not untied_b:
        return None
    return concordant_minus_discordant / math.sqrt(untied_a * untied_b)


def krippendorff_alpha(prompts: Sequence[Mapping]) -> float | None:
    """Krippendorff's alpha (ordinal) over every ranking of a project.

    `prompts`: one {labeler: ranking} per prompt. Each (prompt, candidate) is a unit and its tier the
    value a labeler gave it, renumbered densely (1, 2, ... without gaps) so that the ordinal distances
    depend on the order alone; a candidate only one labeler ranked carries no information. None when
    alpha is undefined (no unit ranked twice, or one value in all the data)."""
    import numpy as np
    import krippendorff

    labelers = sorted({labeler for rankings in prompts for labeler in rankings}, key=str)
    row = {labeler: index for index, labeler in enumerate(labelers)}
    columns = []
    for rankings in prompts:
        dense = {}
        for labeler, ranking in rankings.items():
            ranking = _as_mapping(ranking)
            dense[labeler] = dict(zip(ranking, dense_tiers(list(ranking.values()))))
        for candidate in sorted({c for ranking in dense.values() for c in ranking}, key=str):
            column = [np.nan] * len(labelers)
            for labeler, ranking in dense.items():
                if candidate in ranking:
                    column[row[labeler]] = ranking[candidate]
            columns.append(column)
    if not columns:
        return None
    try:
        alpha = krippendorff.alpha(reliability_data=np.array(columns, dtype=float).T, level_of_measurement="ordinal")
    except ValueError:  # a single value in all the data: agreement is undefined
        return None
    return None if alpha != alpha else float(alpha)


def labeler_agreement(prompts: Sequence[Mapping]) -> dict:
    """Per labeler, their agreement with the others on the prompts they share: {labeler: (agreement,
    pairs)}, the share of candidate pairs ordered like each other labeler of the same prompt, over all
    such (other labeler, candidate pair) combinations. Labelers who share no prompt are absent."""
    same, total = {}, {}
    for rankings in prompts:
        for (one, a), (other, b) in combinations(rankings.items(), 2):
            agreeing, pairs = agreeing_pairs(a, b)
            for labeler in (one, other):
                same[labeler] = same.get(labeler, 0) + agreeing
                total[labeler] = total.get(labeler, 0) + pairs
    return {labeler: (same[labeler] / total[labeler], total[labeler]) for labeler in total if total[labeler]}
