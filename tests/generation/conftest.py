"""A tiny causal LM written to disk with save_pretrained, so the transformers backend runs for real in
well under a second per call. Nothing here needs Django."""
import pytest

CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "Labelers rank candidate responses from best to worst.",
    "Write a haiku about autumn leaves and cold rain.",
    "user: hello there\nassistant: hi, how can I help?",
]


def build_tiny_model(path, chat_template):
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.train_from_iterator(
        CORPUS * 3,
        trainers.BpeTrainer(vocab_size=300, special_tokens=["<|im_start|>", "<|im_end|>", "<pad>"],
                            initial_alphabet=pre_tokenizers.ByteLevel.alphabet()),
    )
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token="<|im_end|>", pad_token="<pad>")
    fast.chat_template = chat_template
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(fast), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
        eos_token_id=fast.eos_token_id, pad_token_id=fast.pad_token_id, bos_token_id=None,
        # Larger random weights than the training default give peaked next-token distributions, so greedy
        # choices are not near-ties that float rounding between batch shapes could flip.
        initializer_range=0.3,
    )
    LlamaForCausalLM(config).save_pretrained(path)
    fast.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """2-layer Llama, byte-level BPE tokenizer, ChatML-style chat template, 128-token context."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny-chat-llama"), CHAT_TEMPLATE)


@pytest.fixture(scope="session")
def tiny_plain_model_dir(tmp_path_factory):
    """The same tiny model with a tokenizer that has no chat template."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny-plain-llama"), None)
