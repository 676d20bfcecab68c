"""How far a measured share (an accuracy, an agreement) or correlation can be from the true one: the Wilson
score interval, used by the reward model's promotion rule and by the rules that flag a labeler, and Fisher's
z interval of a correlation (the position bias rule)."""
import math
from statistics import NormalDist

# Closed forms with the standard library rather than scipy.stats: the flag rules run on a labeler's submit, and
# importing scipy.stats cost each web process 1.4 s on its first flag check (the labeler waited for it: a 1 s
# stall in bench/labeler_effort.py), while binomtest itself takes ~100 us a call for what is three lines of
# arithmetic. tests/rankdata/test_intervals.py holds both against scipy.


def _z(confidence):
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def wilson_interval(share, trials, confidence=0.95):
    """(low, high): the Wilson score interval of a share measured on `trials` (comparisons, pairs)."""
    if not trials:
        return 0.0, 1.0
    share = round(share * trials) / trials  # a share of whole trials, as the counters hold
    z2 = _z(confidence) ** 2 / trials
    centre = (share + z2 / 2) / (1 + z2)
    spread = math.sqrt(share * (1 - share) * z2 + z2 * z2 / 4) / (1 + z2)
    return max(0.0, centre - spread), min(1.0, centre + spread)


def correlation_interval(r, n, confidence=0.95):
    """(low, high): Fisher's z interval of Pearson's r measured on `n` points; the whole range below 4."""
    if n < 4:
        return -1.0, 1.0
    if abs(r) >= 1:
        return float(r), float(r)
    z, spread = math.atanh(r), _z(confidence) / math.sqrt(n - 3)
    return math.tanh(z - spread), math.tanh(z + spread)
