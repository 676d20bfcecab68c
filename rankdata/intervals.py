"""How far a measured share (an accuracy, an agreement) can be from the true one: the Wilson score
interval, used by the reward model's promotion rule and by the rules that flag a labeler."""


def wilson_interval(share, trials, confidence=0.95):
    """(low, high): the Wilson score interval of a share measured on `trials` (comparisons, pairs)."""
    from scipy.stats import binomtest

    if not trials:
        return 0.0, 1.0
    interval = binomtest(round(share * trials), trials).proportion_ci(confidence_level=confidence, method="wilson")
    return float(interval.low), float(interval.high)
