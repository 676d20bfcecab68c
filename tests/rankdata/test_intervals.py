"""Intervals of measured shares and correlations (rankdata.intervals)."""
import pytest

from rankdata.intervals import correlation_interval


def test_fishers_interval_of_a_correlation():
    low, high = correlation_interval(0.8, 30, 0.90)  # tanh(atanh(0.8) -+ 1.6449 / sqrt(27))
    assert (low, high) == (pytest.approx(0.6539, abs=1e-4), pytest.approx(0.8886, abs=1e-4))
    assert correlation_interval(1.0, 30) == (1.0, 1.0)  # an exact order has no noise
    assert correlation_interval(0.9, 3) == (-1.0, 1.0)
