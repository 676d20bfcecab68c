"""Errors a generation backend raises, kept free of torch so the OpenAI backend and callers need not import it."""


class GenerationError(Exception):
    """Base class for failures of a generation backend."""


class GenerationOutOfMemory(GenerationError, MemoryError):
    """The device ran out of memory. The same prompts may fit when sent in smaller batches."""


class PromptTooLong(GenerationError):
    """A prompt leaves no room for `max_new_tokens` in the model's context window.

    `prompt_index` is the prompt's position in the list given to `generate`; the others may well fit."""

    def __init__(self, prompt_index, reason):
        super().__init__(f"prompt {prompt_index} is too long: {reason}")
        self.prompt_index = prompt_index


class BackendRequestError(GenerationError):
    """A generation server refused or failed a request, or could not be reached.

    `status` is the HTTP status code, or None when no response came back."""

    def __init__(self, message, status=None):
        super().__init__(message)
        self.status = status
