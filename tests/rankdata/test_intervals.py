"""Intervals of measured shares and correlations (rankdata.intervals)."""
import math

import pytest

from rankdata.intervals import correlation_interval, wilson_interval


def test_fishers_interval_of_a_correlation():
    low, high = correlation_interval(0.8, 30, 0.90)  # tanh(atanh(0.8) -+ 1.6449 / sqrt(27))
    assert (low, high) == (pytest.approx(0.6539, abs=1e-4), pytest.approx(0.8886, abs=1e-4))
    assert correlation_interval(1.0, 30) == (1.0, 1.0)  # an exact order has no noise
    assert correlation_interval(0.9, 3) == (-1.0, 1.0)


@pytest.mark.parametrize("successes,trials,confidence", [
    (0, 1, 0.95), (1, 1, 0.95), (7, 10, 0.95), (130, 200, 0.9), (3, 40, 0.99), (999, 1000, 0.95), (50, 100, 0.5)])
def test_wilson_interval_equals_scipys(successes, trials, confidence):
    from scipy.stats import binomtest

    expected = binomtest(successes, trials).proportion_ci(confidence_level=confidence, method="wilson")
    assert wilson_interval(successes / trials, trials, confidence) == (
        pytest.approx(expected.low, abs=1e-12), pytest.approx(expected.high, abs=1e-12))
    assert wilson_interval(0.5, 0) == (0.0, 1.0)


def test_fishers_interval_uses_the_normal_quantile_scipy_gives():
    from scipy.stats import norm

    low, _ = correlation_interval(0.5, 50, 0.95)
    assert low == pytest.approx(math.tanh(math.atanh(0.5) - norm.ppf(0.975) / math.sqrt(47)), abs=1e-12)
