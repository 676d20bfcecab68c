"""Prompts: a plain string (text to continue) or a conversation (a list of {"role", "content"} messages)."""
from rankdata.text import ROLES


def is_conversation(prompt):
    return not isinstance(prompt, str)


def check_prompts(prompts):
    """Raise ValueError naming the first malformed prompt; return the prompts as a list."""
    prompts = list(prompts)
    for index, prompt in enumerate(prompts):
        if isinstance(prompt, str):
            continue
        if not isinstance(prompt, (list, tuple)) or not prompt:
            raise ValueError(f"prompt {index} must be a string or a non-empty list of messages, got {type(prompt).__name__}")
        for message in prompt:
            if not isinstance(message, dict) or message.get("role") not in ROLES or not isinstance(message.get("content"), str):
                raise ValueError(
                    f"prompt {index}: each message needs a role in {ROLES} and a string content, got {message!r}"
                )
    return prompts


def cut_at_stop(text, stop):
    """Text up to (not including) the earliest stop string, as OpenAI-compatible servers return it."""
    cut = len(text)
    for stop_string in stop:
        position = text.find(stop_string)
        if position != -1:
            cut = min(cut, position)
    return text[:cut]
