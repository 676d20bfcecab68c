"""When a newly trained reward-model version may replace the promoted one. Pure functions, no Django.

A version is measured on a validation set of comparisons; its pairwise accuracy there is a proportion, and
on a few dozen comparisons that proportion is mostly noise (a version with 0.36 on two rankings says
nothing). So a version is promoted automatically only when

- its validation set holds at least the project's minimum number of comparisons, and
- the accuracy it must beat (the promoted version's on the same set, or chance, 0.5, for a first version)
  is not above the upper end of the Wilson interval of its own accuracy: it may be lower than the promoted
  version's, but not by more than that set's noise.

Otherwise it stays a candidate, and the decision records why.
"""
from dataclasses import asdict, dataclass

from rankdata.intervals import wilson_interval

CONFIDENCE = 0.95
CHANCE = 0.5


@dataclass
class PromotionDecision:
    promote: bool
    reason: str
    accuracy: float | None
    comparisons: int
    interval: tuple | None
    baseline_accuracy: float
    baseline: str  # what it was measured against: "chance" or "v<N>"
    min_comparisons: int
    confidence: float = CONFIDENCE

    def as_dict(self):
        data = asdict(self)
        data["interval"] = list(self.interval) if self.interval else None
        return data


def decide_promotion(accuracy, comparisons, *, baseline_accuracy, baseline, min_comparisons):
    """Whether a version with `accuracy` on `comparisons` validation comparisons may replace `baseline`."""
    def decision(promote, reason, interval=None):
        return PromotionDecision(promote, reason, accuracy, comparisons, interval, baseline_accuracy, baseline,
                                 min_comparisons)

    if accuracy is None or comparisons < max(1, min_comparisons):
        return decision(False, f"its validation set has {comparisons} comparisons; the project requires at least "
                               f"{max(1, min_comparisons)} before a version is promoted automatically")
    low, high = wilson_interval(accuracy, comparisons)
    interval = (round(low, 4), round(high, 4))
    measured = f"accuracy {accuracy:.3f} on {comparisons} comparisons ({CONFIDENCE:.0%} interval {low:.3f}-{high:.3f})"
    if baseline_accuracy > high:
        return decision(False, f"{measured} is worse than {baseline}'s {baseline_accuracy:.3f} beyond the noise of "
                               "the set", interval)
    return decision(True, f"{measured} is not worse than {baseline}'s {baseline_accuracy:.3f} beyond the noise of "
                          "the set", interval)
