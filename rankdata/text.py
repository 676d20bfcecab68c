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

# Who may speak in a conversation: what validation accepts, generation sends, and pages show (role_label).
ROLES = ("system", "user", "assistant")

# Ends a conversation's rendering unless it already ends where a response can start (see `prompt_text`).
PROMPT_END = "\n\n"


def _is_open(text: str) -> bool:
    """Whether a response can follow the text directly: it ends in whitespace, or in a colon (the
    '\n\nAssistant:' that ends every HH-RLHF prompt, whose responses start with a space)."""
    return not text or text[-1].isspace() or text.endswith(":")


def conversation_text(messages: list[Message]) -> str:
    """A conversation as readers see it: a single user message is its bare text (a plain prompt stays
    plain), a longer conversation one ``Role: content`` paragraph per message."""
    if len(messages) == 1 and messages[0]["role"] == "user":
        return messages[0]["content"]
    return "\n\n".join(f"{role_label(m['role'])}: {m['content']}" for m in messages)


def role_label(role: str) -> str:
    """How a role is named to readers: in a conversation's text and on the labeling pages."""
    return role.capitalize()


def prompt_text(prompt: Prompt) -> str:
    """The text a model continues with its response: the exported ``prompt`` field, the reward model's
    and (without a chat template) the generator's input.

    A string is used as it is. A conversation is rendered, then ``PROMPT_END`` follows unless the
    rendering already ends where a response can start: so an imported HH-RLHF prompt exports exactly as
    it came, and "Tell me a joke" + "Why did..." does not become "jokeWhy"."""
    if isinstance(prompt, str):
        return prompt
    text = conversation_text(prompt)
    return text if _is_open(text) else text + PROMPT_END


def messages_from_prompt_text(text: str) -> list[Message]:
    """The conversation an exported ``prompt`` field stands for: the inverse of `prompt_text` for the
    one-message conversation it is imported as, so export -> import -> export gives the same bytes."""
    content = text.removesuffix(PROMPT_END)
    if content == text or _is_open(content):  # prompt_text added no PROMPT_END to this text
        content = text
    return [{"role": "user", "content": content}]


def scored_text(prompt: Prompt, response: str) -> str:
    """The text a reward model scores for one response: the prompt's text, then the response."""
    return prompt_text(prompt) + response


def generation_text(tokenizer, prompt: Prompt) -> str:
    """The text a generator continues: a conversation through the tokenizer's chat template (with the
    assistant turn opened) where it has one, otherwise `prompt_text`."""
    if not isinstance(prompt, str) and getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(list(prompt), add_generation_prompt=True, tokenize=False)
    return prompt_text(prompt)
