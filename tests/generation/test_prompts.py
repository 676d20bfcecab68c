"""Prompts as the backends take them: a malformed one is named, and stop strings cut the text."""
import pytest

from worker.generation.prompts import check_prompts, cut_at_stop


def test_malformed_prompts_are_named():
    with pytest.raises(ValueError, match="prompt 1"):
        check_prompts(["fine", [{"role": "user"}]])
    with pytest.raises(ValueError, match="prompt 0"):
        check_prompts([[]])


def test_cut_at_stop_cuts_at_the_earliest_stop_string():
    assert cut_at_stop("a. b\n c", ("\n", ".")) == "a"
    assert cut_at_stop("abc", ()) == "abc"
