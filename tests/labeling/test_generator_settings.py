"""What a project's generator settings mean: sampling settings as stored JSON, and the mix of generators
that writes a prompt's K candidates."""
import json

import pytest

from labeling.generator_settings import SamplingSettings, generator_mix


def test_settings_round_trip_through_json_without_the_api_key():
    settings = SamplingSettings(backend="openai", model="served-model", base_url="http://127.0.0.1:8000/v1",
                                api_key="secret", temperature=0.7, top_p=0.9, max_new_tokens=64, seed=3,
                                stop=["\n\nUser:"])

    stored = json.loads(json.dumps(settings.to_dict()))

    assert "api_key" not in stored and "secret" not in json.dumps(stored)
    assert stored["stop"] == ["\n\nUser:"]
    assert SamplingSettings.from_dict(stored) == SamplingSettings(**{**stored, "api_key": None})
    assert "secret" not in repr(settings)


def test_missing_keys_take_defaults_and_unknown_keys_are_refused():
    assert SamplingSettings.from_dict({}) == SamplingSettings()
    with pytest.raises(ValueError, match="temprature"):
        SamplingSettings.from_dict({"temprature": 0.5})


@pytest.mark.parametrize("bad", [
    {"backend": "ollama"},
    {"temperature": -0.1},
    {"top_p": 0},
    {"top_p": 1.5},
    {"max_new_tokens": 0},
    {"stop": [""]},
    {"backend": "openai", "model": "m"},  # no base_url
])
def test_bad_settings_are_refused(bad):
    with pytest.raises(ValueError):
        SamplingSettings(**bad)


def test_one_settings_object_is_one_default_generator_writing_all_k():
    (generator,) = generator_mix({"temperature": 0.5}, 4)
    assert (generator.name, generator.candidates, generator.sampling.temperature) == ("default", 4, 0.5)


def test_generators_without_counts_share_k_in_turn():
    mix = generator_mix({"generators": [{"name": "a"}, {"name": "b", "temperature": 0}, {"name": "c"}]}, 4)
    assert [(g.name, g.candidates) for g in mix] == [("a", 2), ("b", 1), ("c", 1)]
    assert mix[1].sampling.temperature == 0


def test_explicit_counts_must_add_up_to_k_and_a_zero_share_is_left_out():
    mix = generator_mix({"generators": [{"name": "a", "candidates": 4}, {"name": "b", "candidates": 0}]}, 4)
    assert [(g.name, g.candidates) for g in mix] == [("a", 4)]
    with pytest.raises(ValueError, match="adding up to K=4"):
        generator_mix({"generators": [{"name": "a", "candidates": 3}, {"name": "b", "candidates": 2}]}, 4)


@pytest.mark.parametrize("generation, message", [
    ({"generators": []}, "non-empty list"),
    ({"generators": [{"name": "a"}, {"name": "a"}]}, "names must differ"),
    ({"generators": [{"candidates": 4}]}, "needs a name"),
    ({"generators": [{"name": "a"}], "temperature": 1}, "inside each generator"),
    ({"generators": [{"name": "a", "temprature": 1}]}, "generator 'a': unknown sampling settings: temprature"),
])
def test_bad_mixes_name_the_problem(generation, message):
    with pytest.raises(ValueError, match=message):
        generator_mix(generation, 4)
