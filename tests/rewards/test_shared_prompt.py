"""Shared prompt prefix: one packed sequence per group gives the plain K-forward rewards."""
import pytest
import torch

from rewards.training import RankingCollator, RankingGroup, RewardConfig, load_backbone, train_reward_model
from rewards.training.collate import model_inputs
from rewards.training.prefix import SharedPromptCollator, common_prefix_length

# String prompts end as exported prompts do (rankdata.text.prompt_text), so the response starts a new token.
GROUPS = [
    RankingGroup("Write a short poem about the sea.\n\n", ["The sea is wide.", "Waves", "Blue water, blue sky, and a gull over the harbour."], [1, 3, 2]),
    RankingGroup([{"role": "user", "content": "Explain gravity to a child."}], ["Things fall down.", "It pulls.", "Mass attracts mass.", "Ask later."], [2, 1, 3, 4]),
    RankingGroup("Say hello to the world.\n\n", ["hello world", "hi"], [1, 2]),
]


@pytest.mark.parametrize("classifier", [False, True], ids=["base-model-and-head", "sequence-classification"])
def test_packed_groups_score_like_one_forward_per_response(classifier, tiny_model_dir, tiny_llama_classifier_dir):
    model, tokenizer = load_backbone(tiny_llama_classifier_dir if classifier else tiny_model_dir)
    model.eval()
    plain_batch = RankingCollator(tokenizer, 64)(GROUPS)
    packed_batch = SharedPromptCollator(tokenizer, 64)(GROUPS)
    with torch.no_grad():
        plain = model(**model_inputs(plain_batch, model.device))
        packed = model(**model_inputs(packed_batch, model.device))
    assert packed.shape == plain.shape == (9,)
    assert packed == pytest.approx(plain, abs=1e-5)
    assert packed_batch["input_ids"].shape[0] == 3  # one row per group
    # Fewer tokens: a packed row ends at its last reward position.
    packed_tokens = sum(max(p for r, p in packed_batch["reward_positions"].tolist() if r == row) + 1 for row in range(3))
    assert packed_tokens < plain_batch["attention_mask"].sum()
    assert all(torch.equal(packed_batch[key], plain_batch[key]) for key in ("winner_rows", "loser_rows", "pair_group"))


def test_the_eager_attention_gets_an_additive_mask(tiny_model_dir):
    model, tokenizer = load_backbone(tiny_model_dir)
    model.eval()
    with torch.no_grad():
        plain = model(**model_inputs(RankingCollator(tokenizer, 64)(GROUPS), model.device))
        model.backbone.config._attn_implementation = "eager"
        packed = model(**model_inputs(SharedPromptCollator(tokenizer, 64)(GROUPS), model.device))
    assert packed == pytest.approx(plain, abs=1e-5)


def test_common_prefix_leaves_every_row_its_last_token():
    assert common_prefix_length([[1, 2, 3, 4], [1, 2, 3, 5], [1, 2, 9]]) == 2
    assert common_prefix_length([[1, 2, 3], [1, 2, 3]]) == 2
    assert common_prefix_length([[7], [7, 8]]) == 0


def test_training_on_packed_groups_follows_the_plain_loss_curve(tiny_model_dir):
    config = {"backbone": str(tiny_model_dir), "max_length": 64, "groups_per_step": 3, "max_steps": 3, "learning_rate": 1e-3}
    packed = train_reward_model(RewardConfig(**config), GROUPS * 2, [])
    plain = train_reward_model(RewardConfig(**config, shared_prompt=False), GROUPS * 2, [])
    assert packed.loss_history == pytest.approx(plain.loss_history, abs=1e-4)
    assert packed.loss_history[0] != pytest.approx(packed.loss_history[-1], abs=1e-3)
