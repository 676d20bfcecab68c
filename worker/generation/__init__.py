"""Candidate generation backends: K sampled responses per prompt, with no Django set up.

    backend = get_backend(settings)          # loads the model (once per process) or checks the server config
    texts = backend.generate(prompts, k, settings)   # list of K strings per prompt
    backend.model_name, backend.revision     # what to record on each candidate

A prompt is a string (raw text to continue) or a conversation: a list of {"role", "content"} messages.
`settings` is a labeling.generator_settings.SamplingSettings: what a project's settings mean is defined
there, beside the check that runs when the project is saved.
"""
from worker.generation.bundled import default_model_settings
from worker.generation.errors import BackendRequestError, GenerationError, GenerationOutOfMemory, PromptTooLong


def get_backend(settings):
    """The backend `settings.backend` names, ready for `generate(prompts, k, settings)`.

    Backends are imported here so the OpenAI backend never imports torch."""
    if settings.backend == "transformers":
        from worker.generation.transformers_backend import TransformersBackend

        return TransformersBackend(settings)
    if settings.backend == "openai":
        from worker.generation.openai_backend import OpenAIBackend

        return OpenAIBackend(settings)
    raise ValueError(f"unknown backend {settings.backend!r}")


def generate(prompts, k, settings):
    """K texts per prompt (a list of lists), sampled as `settings` says."""
    return get_backend(settings).generate(prompts, k, settings)


__all__ = [
    "BackendRequestError",
    "GenerationError",
    "GenerationOutOfMemory",
    "PromptTooLong",
    "default_model_settings",
    "generate",
    "get_backend",
]
