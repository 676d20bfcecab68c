"""The transformers backend on a tiny local model: K candidates, batching, seeds, chat template, stop strings,
limits, and one shared prefill per prompt."""
import pytest
import torch

from labeling.generator_settings import SamplingSettings
from rankdata.text import prompt_text
from worker.generation import GenerationOutOfMemory, PromptTooLong, generate, get_backend

PROMPTS = [
    "The quick brown fox",
    "Labelers rank candidate responses from best to worst because",
    "Write",
]
CONVERSATION = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "hello there"},
    {"role": "assistant", "content": "hi, how can I help?"},
    {"role": "user", "content": "Write a haiku about autumn."},
]


def tiny(model_dir, **overrides):
    return SamplingSettings(model=str(model_dir), **{"max_new_tokens": 12, "seed": 7, **overrides})


def test_k_texts_per_prompt_and_the_model_it_records(tiny_model_dir):
    settings = tiny(tiny_model_dir)
    backend = get_backend(settings)

    texts = backend.generate(PROMPTS + [CONVERSATION], 3, settings)

    assert [len(candidates) for candidates in texts] == [3, 3, 3, 3]
    assert all(isinstance(text, str) for candidates in texts for text in candidates)
    assert any(text for candidates in texts for text in candidates)
    assert backend.model_name == str(tiny_model_dir) and backend.revision == ""


def test_the_texts_do_not_contain_the_prompt(tiny_model_dir):
    settings = tiny(tiny_model_dir, temperature=0, max_new_tokens=5)
    backend = get_backend(settings)
    prompt = PROMPTS[1]

    [[text]] = backend.generate([prompt], 1, settings)

    full = backend.loaded.model.generate(
        **backend.loaded.tokenizer(prompt, return_tensors="pt"), do_sample=False, max_new_tokens=5,
        pad_token_id=backend.loaded.pad_token_id,
    )
    assert backend.loaded.tokenizer.decode(full[0], skip_special_tokens=True) == prompt + text


def test_same_seed_same_texts_other_seed_other_texts(tiny_model_dir):
    first = generate(PROMPTS, 4, tiny(tiny_model_dir, seed=11))
    again = generate(PROMPTS, 4, tiny(tiny_model_dir, seed=11))
    other = generate(PROMPTS, 4, tiny(tiny_model_dir, seed=12))

    assert first == again
    assert first != other
    # The K candidates of a prompt are K different draws, not one draw copied.
    assert len(set(first[1])) > 1


def test_no_seed_samples_afresh(tiny_model_dir):
    settings = tiny(tiny_model_dir, seed=None, max_new_tokens=20)
    assert generate(PROMPTS[:1], 4, settings) != generate(PROMPTS[:1], 4, settings)


@pytest.mark.parametrize("temperature", [0, 0.8])
def test_a_batch_of_prompts_of_different_lengths_gives_what_each_gives_alone(tiny_model_dir, temperature):
    # Left padding must not change a prompt's texts; with a seed, neither must the other prompts in the
    # batch (each candidate draws from its own generator), so an out-of-memory retry in halves agrees.
    settings = tiny(tiny_model_dir, temperature=temperature, top_p=0.9)
    prompts = PROMPTS + [CONVERSATION]

    batched = generate(prompts, 3, settings)
    one_by_one = [generate([prompt], 3, settings)[0] for prompt in prompts]
    in_pairs = get_backend(settings).generate(prompts, 3, settings, max_batch_prompts=2)

    assert batched == one_by_one == in_pairs


def test_greedy_gives_k_identical_texts(tiny_model_dir):
    [texts] = generate(PROMPTS[:1], 3, tiny(tiny_model_dir, temperature=0))
    assert len(set(texts)) == 1


def test_a_conversation_goes_through_the_chat_template(tiny_model_dir):
    settings = tiny(tiny_model_dir)
    backend = get_backend(settings)
    tokenizer = backend.loaded.tokenizer

    ids = backend.encode(CONVERSATION)

    rendered = tokenizer.decode(ids)
    assert rendered == (
        "<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nhello there<|im_end|>\n"
        "<|im_start|>assistant\nhi, how can I help?<|im_end|>\n"
        "<|im_start|>user\nWrite a haiku about autumn.<|im_end|>\n<|im_start|>assistant\n"
    )
    # A plain string is raw text to continue, not a chat turn.
    assert tokenizer.decode(backend.encode("hello there")) == "hello there"


def test_without_a_chat_template_a_conversation_is_the_plain_rendering_rewards_and_exports_use(tiny_plain_model_dir):
    settings = tiny(tiny_plain_model_dir)
    backend = get_backend(settings)

    rendered = backend.loaded.tokenizer.decode(backend.encode(CONVERSATION[1:]))

    assert rendered == "User: hello there\n\nAssistant: hi, how can I help?\n\nUser: Write a haiku about autumn.\n\n"
    assert rendered == prompt_text(CONVERSATION[1:])
    assert [len(texts) for texts in backend.generate([CONVERSATION], 2, settings)] == [2]


def test_stop_strings_cut_the_text_before_them(tiny_model_dir):
    free = tiny(tiny_model_dir, temperature=0, max_new_tokens=24)
    [[text]] = generate(PROMPTS[:1], 1, free)
    stop = text[8:10]  # whatever the random model wrote, cut inside it
    assert len(stop) == 2 and text.find(stop) >= 0

    [[cut, cut_again]] = generate(PROMPTS[:1], 2, tiny(tiny_model_dir, temperature=0, max_new_tokens=24,
                                                         stop=["never appears", stop]))

    assert cut == cut_again == text[:text.find(stop)]


def test_ignore_eos_generates_exactly_max_new_tokens(tiny_model_dir, monkeypatch):
    settings = tiny(tiny_model_dir, max_new_tokens=16, ignore_eos=True)
    backend = get_backend(settings)
    model = backend.loaded.model
    real_generate, lengths = model.generate, []

    def recording_generate(**kwargs):
        output = real_generate(**kwargs)
        lengths.append(output.shape[1] - kwargs["input_ids"].shape[1])
        return output

    monkeypatch.setattr(model, "generate", recording_generate)
    backend.generate(PROMPTS, 2, settings)

    assert lengths == [16]


def test_a_prompt_too_long_for_the_context_is_named(tiny_model_dir):
    settings = tiny(tiny_model_dir, max_new_tokens=40)
    long_prompt = "the lazy dog " * 40  # far more than 128 - 40 tokens

    with pytest.raises(PromptTooLong) as error:
        generate([PROMPTS[0], long_prompt, PROMPTS[1]], 2, settings)

    assert error.value.prompt_index == 1
    assert "prompt 1 is too long" in str(error.value) and "context of 128 tokens" in str(error.value)


def test_running_out_of_memory_raises_a_distinct_error(tiny_model_dir, monkeypatch):
    settings = tiny(tiny_model_dir)
    backend = get_backend(settings)

    def out_of_memory(**kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(backend.loaded.model, "generate", out_of_memory)

    with pytest.raises(GenerationOutOfMemory) as error:
        backend.generate(PROMPTS, 2, settings)
    assert isinstance(error.value, MemoryError)
    assert isinstance(error.value.__cause__, torch.OutOfMemoryError)


def test_the_model_is_loaded_once_per_process(tiny_model_dir):
    first = get_backend(tiny(tiny_model_dir, seed=1))
    second = get_backend(tiny(tiny_model_dir, seed=2, temperature=0.5))
    assert first.loaded is second.loaded


def test_settings_for_another_model_are_refused(tiny_model_dir, tiny_plain_model_dir):
    backend = get_backend(tiny(tiny_model_dir))
    with pytest.raises(ValueError, match="this backend holds"):
        backend.generate(PROMPTS, 2, tiny(tiny_plain_model_dir))


def test_each_prompt_is_prefilled_once_not_k_times(tiny_model_dir):
    """Count the tokens every forward pass feeds the model: the prompt tokens go in once per prompt, and
    the K candidates only ever feed one token at a time. Plain generate(num_return_sequences=K) is shown
    for contrast: it feeds each prompt K times."""
    k, new_tokens = 4, 6
    settings = tiny(tiny_model_dir, max_new_tokens=new_tokens, ignore_eos=True)
    backend = get_backend(settings)
    model, tokenizer = backend.loaded.model, backend.loaded.tokenizer
    prompts = PROMPTS[:2]
    width = max(len(tokenizer(p)["input_ids"]) for p in prompts)
    calls = []
    hook = model.get_input_embeddings().register_forward_hook(
        lambda module, inputs, output: calls.append(tuple(inputs[0].shape)))
    try:
        backend.generate(prompts, k, settings)
        ours, calls[:] = list(calls), []
        model.generate(**tokenizer(prompts, return_tensors="pt", padding=True, padding_side="left"),
                       do_sample=True, num_return_sequences=k, max_new_tokens=new_tokens,
                       min_new_tokens=new_tokens, pad_token_id=backend.loaded.pad_token_id)
        plain = list(calls)
    finally:
        hook.remove()

    # One prefill of all but the last prompt token for the two prompts, then single tokens for 2*K rows.
    assert ours[0] == (2, width - 1)
    assert ours[1:] == [(2 * k, 1)] * new_tokens
    assert plain[0] == (2 * k, width)
    prompt_tokens_ours = sum(rows * length for rows, length in ours[:1]) + 2 * k
    prompt_tokens_plain = plain[0][0] * plain[0][1]
    assert prompt_tokens_plain > 3 * prompt_tokens_ours
