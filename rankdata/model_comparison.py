"""Which model do people prefer? Win rates, a Bradley–Terry leaderboard (as Chatbot Arena computes it), a
length-controlled variant (response length as a covariate, as AlpacaEval's length-controlled win rate), the
reward model's agreement with people, and Likert and flag rates, per model. Pure functions over rankings.

A ranking is a sequence of `Rated` candidates (one labeler's tiers over one prompt's K candidates). Every
pair of candidates from two different models in one ranking is a battle: the better tier wins, a tie counts
half to each. Pairs of one model's own candidates say nothing about models and are left out.

Intervals are 95% percentile bootstraps that resample whole rankings, not battles: the C(K,2) battles of one
ranking come from one labeler on one prompt and are not independent.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.special import expit, log_expit

from rankdata.comparisons import comparisons, ties

# Chatbot Arena's display scale: 400 Elo points per factor of 10 in odds, 1000 for the average model.
ELO_SCALE, ELO_BASE = 400 / math.log(10), 1000.0
# A small ridge keeps the strengths finite when one model wins every battle it had (about ±5 then, with a
# few battles); with real data it moves them by far less than their bootstrap interval.
RIDGE = 1e-4
CONFIDENCE = 0.95
# A bootstrap round of the length-controlled fit costs about one pass over every battle per Newton step: a
# project with many battles gets fewer rounds (never under MIN_ROUNDS), so that the page stays a few seconds.
BATTLES_TIMES_ROUNDS, MIN_ROUNDS = 5_000_000, 30


@dataclass(frozen=True)
class Rated:
    """One candidate as one labeler judged it: its model, tier (1 = best), length in characters, and the
    labeler's Likert score, flags, and the current reward model's score, where there are any."""

    model: str
    tier: int
    length: int = 0
    likert: int | None = None
    flags: Sequence[str] = field(default=())
    reward: float | None = None


@dataclass
class Battles:
    """Every battle of a list of rankings, as arrays: the ranking it came from, models a and b (indices in
    `models`), a's score (1 win, 0.5 tie, 0 loss) and a's length minus b's."""

    models: list[str]
    ranking: np.ndarray
    a: np.ndarray
    b: np.ndarray
    score: np.ndarray
    length_gap: np.ndarray
    rankings: int

    def win_matrix(self, weights=None) -> np.ndarray:
        """wins[a, b]: battles a won against b, ties counting half, each ranking counted `weights[r]` times."""
        per_battle = np.ones(len(self.a)) if weights is None else weights[self.ranking]
        m = len(self.models)
        wins = np.bincount(self.a * m + self.b, per_battle * self.score, minlength=m * m)
        wins += np.bincount(self.b * m + self.a, per_battle * (1 - self.score), minlength=m * m)
        return wins.reshape(m, m)


def battles(rankings: Sequence[Sequence[Rated]]) -> Battles:
    models = sorted({c.model for ranking in rankings for c in ranking})
    index = {model: i for i, model in enumerate(models)}
    rows = []
    for r, ranking in enumerate(rankings):
        tiers = [c.tier for c in ranking]
        outcomes = [(w, l, 1.0) for w, l in comparisons(tiers)] + [(i, j, 0.5) for i, j in ties(tiers)]
        for i, j, score in outcomes:
            one, other = ranking[i], ranking[j]
            if one.model != other.model:
                rows.append((r, index[one.model], index[other.model], score, one.length - other.length))
    columns = np.array(rows, dtype=float).reshape(-1, 5).T
    return Battles(models, columns[0].astype(int), columns[1].astype(int), columns[2].astype(int), columns[3],
                   columns[4], len(rankings))


def bootstrap_weights(rankings: int, rounds: int, seed: int):
    """`rounds` resamples of the rankings with replacement, each as how often every ranking was drawn."""
    rng = np.random.default_rng(seed)
    for _ in range(rounds):
        yield np.bincount(rng.integers(rankings, size=rankings), minlength=rankings).astype(float)


def interval(samples, point):
    """The central 95% of bootstrap `samples` (one row per round), element-wise; `point` without samples."""
    if not len(samples):
        return point, point
    tail = 100 * (1 - CONFIDENCE) / 2
    low, high = np.nanpercentile(np.asarray(samples, dtype=float), [tail, 100 - tail], axis=0)
    return low, high


def win_rates(fights: Battles, rounds: int = 1000, seed: int = 0) -> list[dict]:
    """For each pair of models a < b that met: a's win rate against b (ties half), the battles, and a
    bootstrap interval."""
    wins = fights.win_matrix()
    met = [(a, b) for a in range(len(fights.models)) for b in range(a + 1, len(fights.models))
           if wins[a, b] + wins[b, a] > 0]
    if not met:
        return []
    a, b = (np.array(side) for side in zip(*met))

    def rates(matrix):
        total = matrix[a, b] + matrix[b, a]
        return np.divide(matrix[a, b], total, out=np.full(len(met), np.nan), where=total > 0)

    point = rates(wins)
    low, high = interval([rates(fights.win_matrix(w)) for w in bootstrap_weights(fights.rankings, rounds, seed)],
                         point)
    return [{"model": fights.models[a[i]], "opponent": fights.models[b[i]], "win_rate": float(point[i]),
             "ci": [float(low[i]), float(high[i])], "battles": float(wins[a[i], b[i]] + wins[b[i], a[i]])}
            for i in range(len(met))]


def fit_logistic(design: np.ndarray, outcome: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Weighted logistic regression without intercept: β maximising Σ w·[y·log σ(xβ) + (1−y)·log σ(−xβ)]
    minus a small ridge, by Newton's method with step halving (a handful of iterations; scipy's general
    optimisers spend far longer on these few-parameter problems, which the bootstrap solves hundreds of
    times). `outcome` may be fractional: a tie is y = 0.5."""
    beta = np.zeros(design.shape[1])
    ridge = RIDGE * np.eye(len(beta))

    def loss(b):
        z = design @ b
        return -(weight * (outcome * log_expit(z) + (1 - outcome) * log_expit(-z))).sum() + RIDGE * b @ b

    current = loss(beta)
    for _ in range(100):
        p = expit(design @ beta)
        gradient = design.T @ (weight * (p - outcome)) + 2 * RIDGE * beta
        hessian = (design * (weight * p * (1 - p))[:, None]).T @ design + 2 * ridge
        step = np.linalg.solve(hessian, gradient)
        scale = 1.0
        while (candidate := loss(beta - scale * step)) > current and scale > 1e-6:
            scale /= 2
        beta, current = beta - scale * step, candidate
        if np.abs(scale * step).max() < 1e-9:
            break
    return beta


def _model_differences(first: np.ndarray, second: np.ndarray, models: int) -> np.ndarray:
    """Design rows e_first − e_second: the logit of "first beats second" is θfirst − θsecond."""
    rows = np.zeros((len(first), models))
    rows[np.arange(len(first)), first] += 1
    rows[np.arange(len(first)), second] -= 1
    return rows


def fit_strengths(wins: np.ndarray) -> np.ndarray:
    """Bradley–Terry strengths θ (log-odds, mean 0) maximising Σ wins[a,b]·log σ(θa − θb): logistic
    regression on model indicators, as Chatbot Arena fits it, here on the pair totals."""
    m = len(wins)
    a, b = np.triu_indices(m, 1)
    total = wins[a, b] + wins[b, a]
    met = total > 0
    share = np.divide(wins[a, b], total, out=np.zeros_like(total), where=met)
    theta = fit_logistic(_model_differences(a[met], b[met], m), share[met], total[met])
    return theta - theta.mean()


def fit_length_controlled(fights: Battles, weights=None) -> tuple[np.ndarray, float]:
    """Strengths with the length gap as a covariate: P(a beats b) = σ(θa − θb + γ·tanh(gap / sd(gap))).

    The θ are what each model would score if its responses were as long as its opponents' (AlpacaEval's
    length control); γ > 0 means people favour longer responses. Returns (θ with mean 0, γ)."""
    m = len(fights.models)
    weight = np.ones(len(fights.a)) if weights is None else weights[fights.ranking]
    spread = fights.length_gap.std() or 1.0
    design = np.column_stack([_model_differences(fights.a, fights.b, m), np.tanh(fights.length_gap / spread)])
    params = fit_logistic(design, fights.score, weight)
    return params[:m] - params[:m].mean(), float(params[m])


def leaderboard(fights: Battles, rounds: int = 1000, seed: int = 0, length_controlled: bool = False) -> dict:
    """Models best first, each with strength θ (log-odds, mean 0), an arena rating, a bootstrap interval of
    both, and its battles. The length-controlled board also gives γ (the length effect)."""
    def fit(weights=None):
        if length_controlled:
            return fit_length_controlled(fights, weights)[0]
        return fit_strengths(fights.win_matrix(weights))

    if not len(fights.models):
        return {"models": [], **({"length_coefficient": None} if length_controlled else {})}
    point = fit()
    low, high = interval([fit(w) for w in bootstrap_weights(fights.rankings, rounds, seed)], point)
    battles_of = np.bincount(fights.a, minlength=len(fights.models)) + np.bincount(fights.b, minlength=len(fights.models))
    rows = [{"model": model, "strength": float(point[i]), "ci": [float(low[i]), float(high[i])],
             "rating": rating(point[i]), "rating_ci": [rating(low[i]), rating(high[i])],
             "battles": int(battles_of[i])} for i, model in enumerate(fights.models)]
    rows.sort(key=lambda row: -row["strength"])
    for rank, row in enumerate(rows, 1):
        row["rank"] = rank
    board = {"models": rows}
    if length_controlled:
        board["length_coefficient"] = fit_length_controlled(fights)[1]
    return board


def rating(strength: float) -> float:
    return round(ELO_BASE + ELO_SCALE * float(strength), 1)


def per_model_ratings(rankings: Sequence[Sequence[Rated]], flag_names: Sequence[str]) -> dict:
    """Per model: candidates judged, mean Likert, and the share of judgements carrying each flag."""
    seen = {}
    for ranking in rankings:
        for c in ranking:
            entry = seen.setdefault(c.model, {"judged": 0, "likert": [], "flags": dict.fromkeys(flag_names, 0)})
            entry["judged"] += 1
            if c.likert is not None:
                entry["likert"].append(c.likert)
            for flag in c.flags:
                if flag in entry["flags"]:
                    entry["flags"][flag] += 1
    return {model: {"judged": entry["judged"],
                    "mean_likert": sum(entry["likert"]) / len(entry["likert"]) if entry["likert"] else None,
                    "flag_rates": {flag: n / entry["judged"] for flag, n in entry["flags"].items()}}
            for model, entry in sorted(seen.items())}


def reward_agreement(rankings: Sequence[Sequence[Rated]]) -> dict:
    """Per model: of the people's strict preferences involving one of its candidates (against any
    candidate, its own model's included) where both candidates carry a reward, the share the reward model
    orders the same way. {model: {"agreement": share or None, "comparisons": n}}."""
    agree, total = {}, {}
    for ranking in rankings:
        for w, l in comparisons([c.tier for c in ranking]):
            winner, loser = ranking[w], ranking[l]
            if winner.reward is None or loser.reward is None:
                continue
            for model in {winner.model, loser.model}:
                total[model] = total.get(model, 0) + 1
                agree[model] = agree.get(model, 0) + (winner.reward > loser.reward)
    models = sorted({c.model for ranking in rankings for c in ranking})
    return {model: {"agreement": agree[model] / total[model] if total.get(model) else None,
                    "comparisons": total.get(model, 0)} for model in models}


def compare_models(rankings: Sequence[Sequence[Rated]], flag_names: Sequence[str] = (), rounds: int = 1000,
                   seed: int = 0) -> dict:
    """Everything the model comparison page and its JSON show, from a project's rankings. `rounds` is the
    most bootstrap rounds; `bootstrap_rounds` in the answer says how many were run."""
    fights = battles(rankings)
    rounds = min(rounds, max(MIN_ROUNDS, BATTLES_TIMES_ROUNDS // max(len(fights.a), 1)))
    return {
        "rankings": len(rankings),
        "battles": len(fights.a),
        "bootstrap_rounds": rounds,
        "leaderboard": leaderboard(fights, rounds, seed)["models"],
        "length_controlled": leaderboard(fights, rounds, seed, length_controlled=True),
        "win_rates": win_rates(fights, rounds, seed),
        "reward_agreement": reward_agreement(rankings),
        "ratings": per_model_ratings(rankings, flag_names),
    }
