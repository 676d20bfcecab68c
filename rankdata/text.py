"""A conversation as text: one plain rendering for every consumer, and the chat-template rendering that
generation uses where the model has a template.

A prompt is either a string (text to continue, used as it is) or a conversation: a list of
``{"role", "content"}`` messages ending with the turn to answer.

Which rendering the reward model scores: always the plain one, ``prompt_text(prompt) + response``, even
when its tokenizer has a chat template. That string is exactly what the pairwise and SFT exports hold
(``prompt`` + ``chosen``) and what TRL's RewardTrainer and SFTTrainer build from them, so a reward model
trained in the platform and one trained on the export see the same text for the same comparison. The
chat template is for generation, where a chat model must see its own format to answer well.
"""
from __future__ import annotations

from typing import Union

Message = dict[str, str]
Prompt = Union[str, list[Message]]

# Ends a conversation's rendering, so that prompt + response (what trainers build from the exported
# ``prompt`` and ``chosen``) reads as two paragraphs instead of running the response into the last word.
PROMPT_END = "\n\n"


def conversation_text(messages: list[Message]) -> str:
    """A conversation as readers see it: a single user message is its bare text (a plain prompt stays
    plain), a longer conversation one ``Role: content`` paragraph per message."""
    if len(messages) == 1 and messages[0]["role"] == "user":
        return messages[0]["content"]
    return "\n\n".join(f"{m['role'].capitalize()}: {m['content']}" for m in messages)


def prompt_text(prompt: Prompt) -> str:
    """The text a model continues with its response: a string as it is, a conversation's rendering
    followed by ``PROMPT_END``. The exported ``prompt`` field; the reward model's and (without a chat
    template) the generator's input."""
    if isinstance(prompt, str):
        return prompt
    return conversation_text(prompt) + PROMPT_END


def messages_from_prompt_text(text: str) -> list[Message]:
    """The conversation an exported ``prompt`` field stands for: the inverse of `prompt_text` for the
    one-message conversation it is imported as, so export -> import -> export gives the same bytes."""
    return [{"role": "user", "content": text.removesuffix(PROMPT_END)}]


def scored_text(prompt: Prompt, response: str) -> str:
    """The text a reward model scores for one response: the prompt's text, then the response."""
    return prompt_text(prompt) + response


def generation_text(tokenizer, prompt: Prompt) -> str:
    """The text a generator continues: a conversation through the tokenizer's chat template (with the
    assistant turn opened) where it has one, otherwise `prompt_text`."""
    if not isinstance(prompt, str) and getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(list(prompt), add_generation_prompt=True, tokenize=False)
    return prompt_text(prompt)
