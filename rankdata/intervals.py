"""How far a measured share (an accuracy, an agreement) or correlation can be from the true one: the Wilson
score interval, used by the reward model's promotion rule and by the rules that flag a labeler, and Fisher's
z interval of a correlation (the position bias rule)."""
import math


def wilson_interval(share, trials, confidence=0.95):
    """(low, high): the Wilson score interval of a share measured on `trials` (comparisons, pairs)."""
    from scipy.stats import binomtest

    if not trials:
        return 0.0, 1.0
    interval = binomtest(round(share * trials), trials).proportion_ci(confidence_level=confidence, method="wilson")
    return float(interval.low), float(interval.high)


def correlation_interval(r, n, confidence=0.95):
    """(low, high): Fisher's z interval of Pearson's r measured on `n` points; the whole range below 4."""
    from scipy.stats import norm

    if n < 4:
        return -1.0, 1.0
    if abs(r) >= 1:
        return float(r), float(r)
    z, spread = math.atanh(r), norm.ppf(0.5 + confidence / 2) / math.sqrt(n - 3)
    return math.tanh(z - spread), math.tanh(z + spread)
