import torch
from transformers import LlamaConfig, LlamaModel

from rankdata.text import scored_text
from rewards.training import RankingCollator, encode, load_backbone, score

RESPONSE = "the whole response must survive truncation intact"


def test_long_prompt_is_cut_from_the_left_and_response_kept_whole(minilm_tokenizer):
    prompt = [{"role": "user", "content": "start of a very long dialogue " + " ".join(f"turn{i}" for i in range(200))
               + " last question?"}]
    ids = encode(minilm_tokenizer, prompt, RESPONSE, max_length=32)["input_ids"]
    text = minilm_tokenizer.decode(ids)
    assert len(ids) == 32
    assert text.startswith("[CLS]") and text.endswith(f"last question? {RESPONSE} [SEP]")
    assert "start" not in text


def test_response_longer_than_the_limit_keeps_its_beginning(minilm_tokenizer):
    response = " ".join(f"word{i}" for i in range(100))
    encoded = encode(minilm_tokenizer, [{"role": "user", "content": "a prompt"}], response, max_length=24)
    assert len(encoded["input_ids"]) == 24
    assert minilm_tokenizer.decode(encoded["input_ids"]).startswith("[CLS] word0 word1")


def test_short_example_is_the_scored_text_untouched(minilm_tokenizer):
    ids = encode(minilm_tokenizer, [{"role": "user", "content": "hello"}], "world", max_length=32)["input_ids"]
    assert ids == minilm_tokenizer(scored_text([{"role": "user", "content": "hello"}], "world"))["input_ids"]
    assert minilm_tokenizer.decode(ids) == "[CLS] hello world [SEP]"


def test_an_eos_token_is_appended_as_trl_does_and_never_cut(minilm_tokenizer):
    tokenizer = minilm_tokenizer.__class__.from_pretrained(minilm_tokenizer.name_or_path)
    tokenizer.eos_token = tokenizer.sep_token
    ids = encode(tokenizer, "a long prompt " * 20, "the answer", max_length=6)["input_ids"]
    assert tokenizer.decode(ids) == "[CLS] prompt the answer [SEP] [SEP]"


def test_chat_messages_are_scored_as_the_exported_plain_text_even_with_a_chat_template(minilm_tokenizer):
    tokenizer = minilm_tokenizer.__class__.from_pretrained(minilm_tokenizer.name_or_path)
    tokenizer.chat_template = "{% for m in messages %}<{{ m['role'] }}> {{ m['content'] }} {% endfor %}"
    messages = [{"role": "user", "content": "old"}, {"role": "assistant", "content": "ok"}, {"role": "user", "content": "why?"}]
    text = tokenizer.decode(encode(tokenizer, messages, "because", max_length=64)["input_ids"])
    assert text == "[CLS] user : old assistant : ok user : why? because [SEP]"


def test_decoder_backbone_pools_the_last_real_token(tmp_path, minilm_tokenizer):
    """A tiny random Llama shows right padding does not change a decoder's rewards."""
    torch.manual_seed(0)
    LlamaModel(LlamaConfig(vocab_size=minilm_tokenizer.vocab_size, hidden_size=32, intermediate_size=64,
                           num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4)).save_pretrained(tmp_path)
    minilm_tokenizer.save_pretrained(tmp_path)
    model, tokenizer = load_backbone(tmp_path)
    assert model.pooling == "last_token"
    prompts, responses = ["short", "a much longer prompt than the other one"], ["yes", "no, not at all"]
    together = score(model, tokenizer, prompts, responses, batch_size=2)
    alone = [score(model, tokenizer, [p], [r])[0] for p, r in zip(prompts, responses)]
    assert torch.allclose(torch.tensor(together), torch.tensor(alone), atol=1e-5)


def test_collator_flattens_groups_into_rows_with_pair_indices(minilm_tokenizer):
    from rewards.training import RankingGroup

    groups = [RankingGroup("p1", ["a", "b"], [2, 1]), RankingGroup("p2", ["c", "d", "e"], [1, 1, 2])]
    batch = RankingCollator(minilm_tokenizer, max_length=16)(groups)
    assert batch["input_ids"].shape[0] == 5
    assert batch["row_group"].tolist() == [0, 0, 1, 1, 1]
    assert list(zip(batch["winner_rows"].tolist(), batch["loser_rows"].tolist())) == [(1, 0), (2, 4), (3, 4)]
    assert batch["pair_group"].tolist() == [0, 1, 1]
