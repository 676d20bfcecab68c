"""Local generation with transformers: K candidates per prompt from one shared prefill.

`model.generate(num_return_sequences=K)` copies each prompt K times before the forward pass, so the prompt is
computed K times. Here each (left-padded) batch of prompts is run through the model once, its KV cache is
repeated K times along the batch, and `generate` continues all B*K rows from that cache.

Transformers' continuous batching (`generate_batch` with forked KV blocks) also shares the prefix and runs on
the CPU here, but it draws from one global generator, so a candidate could not be reproduced from its seed
alone, and on this 2-core CPU it took 54 s for 2 prompts x 3 samples of the 2-layer test model, which the
path below samples in well under a second.
"""
import hashlib
import secrets
import threading
from dataclasses import dataclass

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, LogitsProcessor, LogitsProcessorList, StaticCache
from transformers.generation.logits_process import TemperatureLogitsWarper, TopPLogitsWarper

from rankdata.text import generation_text
from worker.generation.bundled import (
    BUNDLED_DISTRIBUTION,
    BUNDLED_GGUF_FILE,
    bundled_model_folder,
    bundled_model_version,
)
from worker.generation.errors import GenerationOutOfMemory, PromptTooLong
from worker.generation.prompts import check_prompts, cut_at_stop, is_conversation


@dataclass(frozen=True)
class LoadedModel:
    model: object
    tokenizer: object
    device: torch.device
    name: str
    revision: str
    context_length: int | None
    eos_token_ids: tuple[int, ...]
    pad_token_id: int


_loaded: dict[tuple, LoadedModel] = {}
_load_lock = threading.Lock()


def model_key(settings):
    """(path or hub id, revision, gguf file): what identifies the weights a worker process holds."""
    if not settings.model:
        return (bundled_model_folder(), None, BUNDLED_GGUF_FILE)
    return (settings.model, settings.revision, settings.gguf_file)


def load_model(settings):
    """The model and tokenizer for `settings`, loaded on first use and kept for the life of the process:
    loading the bundled GGUF (de-quantizing it) takes tens of seconds on a CPU."""
    key = model_key(settings)
    with _load_lock:
        if key not in _loaded:
            _loaded[key] = _load(*key)
        return _loaded[key]


def _load(path, revision, gguf_file):
    if torch.cuda.is_available():
        device, dtype = torch.device("cuda"), torch.bfloat16
    else:
        device, dtype = torch.device("cpu"), torch.float32
    source = {"revision": revision, "gguf_file": gguf_file}
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, **source)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, **source).to(device).eval()
    except torch.OutOfMemoryError as exc:
        raise GenerationOutOfMemory(f"out of memory loading {path}: {exc}") from exc

    if (path, gguf_file) == (bundled_model_folder(), BUNDLED_GGUF_FILE):
        # Named by package, not by this machine's site-packages path.
        name, resolved_revision = f"{BUNDLED_DISTRIBUTION}:{gguf_file}", bundled_model_version()
    else:
        name = f"{path}:{gguf_file}" if gguf_file else path
        resolved_revision = getattr(model.config, "_commit_hash", None) or revision or ""

    eos = model.generation_config.eos_token_id
    eos_ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
    if tokenizer.eos_token_id is not None:
        eos_ids.add(tokenizer.eos_token_id)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else min(eos_ids, default=0)
    return LoadedModel(
        model=model,
        tokenizer=tokenizer,
        device=device,
        name=name,
        revision=resolved_revision,
        context_length=getattr(model.config, "max_position_embeddings", None),
        eos_token_ids=tuple(sorted(eos_ids)),
        pad_token_id=pad,
    )


class PerRowSampler(LogitsProcessor):
    """Draw each row's next token from its own seeded generator and leave that token as the only choice.

    One generator per candidate makes a candidate depend on its seed, prompt and index only, not on which
    other prompts share the batch: a batch split in halves after running out of memory gives the same texts.
    `generate` runs greedily on top of this, so it picks exactly the drawn token."""

    def __init__(self, seeds, device):
        self.generators = [torch.Generator(device=device).manual_seed(seed) for seed in seeds]

    def __call__(self, input_ids, scores):
        probabilities = torch.softmax(scores.float(), dim=-1)
        chosen = torch.cat([
            torch.multinomial(row, 1, generator=generator)
            for row, generator in zip(probabilities, self.generators, strict=True)
        ])
        only_chosen = torch.full_like(scores, float("-inf"))
        only_chosen.scatter_(1, chosen[:, None], 0.0)
        return only_chosen


def candidate_seeds(seed, prompt_ids, k):
    """K seeds for one prompt, derived from the settings seed and the prompt's tokens (not its batch position)."""
    if seed is None:
        return [secrets.randbits(63) for _ in range(k)]
    prompt_digest = hashlib.sha256(",".join(map(str, prompt_ids)).encode()).hexdigest()
    return [
        int.from_bytes(hashlib.sha256(f"{seed}:{prompt_digest}:{index}".encode()).digest()[:8], "big") >> 1
        for index in range(k)
    ]


def repeat_static_cache(cache, k):
    """Repeat each prompt's cached keys and values K times along the batch, in place.

    A StaticCache rather than the DynamicCache (which has `batch_repeat_interleave`): the dynamic one grows
    by concatenation, copying the whole B*K-row cache at every new token, and on this CPU the preallocated
    static one made the 48-token decode of K=8 ~15-20% faster with identical texts. StaticCache has no
    batch repeat of its own, so its layer tensors are replaced here."""
    for layer in cache.layers:
        layer.keys = layer.keys.repeat_interleave(k, dim=0)
        layer.values = layer.values.repeat_interleave(k, dim=0)
        layer.batch_size *= k


def is_out_of_memory(exc):
    if isinstance(exc, torch.OutOfMemoryError):
        return True
    # A failed CPU allocation is a plain RuntimeError.
    return isinstance(exc, RuntimeError) and "can't allocate memory" in str(exc)


class TransformersBackend:
    """Samples with a local transformers model, loaded (once per process) when the backend is made."""

    def __init__(self, settings):
        self.key = model_key(settings)
        self.loaded = load_model(settings)

    @property
    def model_name(self):
        return self.loaded.name

    @property
    def revision(self):
        return self.loaded.revision

    def encode(self, prompt):
        """Token ids of a prompt: a conversation through the chat template (or rankdata's plain rendering
        when the tokenizer has none), a string as raw text to continue."""
        tokenizer = self.loaded.tokenizer
        # A chat template already wrote any BOS token it wants.
        templated = is_conversation(prompt) and bool(tokenizer.chat_template)
        return tokenizer(generation_text(tokenizer, prompt), add_special_tokens=not templated)["input_ids"]

    def generate(self, prompts, k, settings, max_batch_prompts=None):
        """K texts per prompt, without the prompt, cut at the first stop string.

        Prompts go through the model `max_batch_prompts` at a time (all at once by default). Raises
        PromptTooLong before any work if a prompt leaves no room for max_new_tokens, GenerationOutOfMemory
        when the device runs out of memory."""
        if model_key(settings) != self.key:
            raise ValueError(f"these settings name the model {model_key(settings)}, this backend holds {self.key}")
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        token_ids = [self.encode(prompt) for prompt in check_prompts(prompts)]
        limit = self.loaded.context_length
        for index, ids in enumerate(token_ids):
            if not ids:
                raise ValueError(f"prompt {index} is empty: there is nothing to continue")
            if limit is not None and len(ids) + settings.max_new_tokens > limit:
                raise PromptTooLong(index, f"{len(ids)} tokens plus max_new_tokens={settings.max_new_tokens} "
                                           f"exceed the model's context of {limit} tokens")

        step = max_batch_prompts or max(len(token_ids), 1)
        texts = []
        try:
            for start in range(0, len(token_ids), step):
                texts.extend(self._sample_batch(token_ids[start:start + step], k, settings))
        except (torch.OutOfMemoryError, RuntimeError) as exc:
            if not is_out_of_memory(exc):
                raise
            if self.loaded.device.type == "cuda":
                torch.cuda.empty_cache()
            raise GenerationOutOfMemory(str(exc)) from exc
        return texts

    @torch.inference_mode()
    def _sample_batch(self, token_ids, k, settings):
        loaded, model = self.loaded, self.loaded.model
        width = max(len(ids) for ids in token_ids)
        input_ids = torch.full((len(token_ids), width), loaded.pad_token_id, dtype=torch.long)
        attention_mask = torch.zeros((len(token_ids), width), dtype=torch.long)
        for row, ids in enumerate(token_ids):
            input_ids[row, width - len(ids):] = torch.tensor(ids)
            attention_mask[row, width - len(ids):] = 1
        input_ids, attention_mask = input_ids.to(loaded.device), attention_mask.to(loaded.device)

        # Prefill all but the last prompt token once per prompt; `generate` feeds the last token itself, as
        # it expects a cache that is shorter than the ids it is given. Positions skip the left padding the
        # same way `generate` counts them.
        cache = StaticCache(config=model.config, max_cache_len=width + settings.max_new_tokens)
        if width > 1:
            position_ids = (attention_mask.cumsum(-1) - 1).clamp(min=0)
            model(
                input_ids=input_ids[:, :-1],
                attention_mask=attention_mask[:, :-1],
                position_ids=position_ids[:, :-1],
                past_key_values=cache,
                use_cache=True,
                logits_to_keep=1,
            )
            repeat_static_cache(cache, k)

        processors = LogitsProcessorList()
        if settings.temperature > 0:
            if settings.temperature != 1.0:
                processors.append(TemperatureLogitsWarper(settings.temperature))
            if settings.top_p < 1.0:
                processors.append(TopPLogitsWarper(settings.top_p))
            seeds = [seed for ids in token_ids for seed in candidate_seeds(settings.seed, ids, k)]
            processors.append(PerRowSampler(seeds, loaded.device))

        output = model.generate(
            input_ids=input_ids.repeat_interleave(k, dim=0),
            attention_mask=attention_mask.repeat_interleave(k, dim=0),
            past_key_values=cache,
            logits_processor=processors,
            do_sample=False,
            max_new_tokens=settings.max_new_tokens,
            min_new_tokens=settings.max_new_tokens if settings.ignore_eos else None,
            eos_token_id=list(loaded.eos_token_ids) or None,
            pad_token_id=loaded.pad_token_id,
            stop_strings=list(settings.stop) or None,
            tokenizer=loaded.tokenizer if settings.stop else None,
        )
        decoded = loaded.tokenizer.batch_decode(output[:, width:], skip_special_tokens=True)
        texts = [cut_at_stop(text, settings.stop) for text in decoded]
        return [texts[row * k:(row + 1) * k] for row in range(len(token_ids))]
