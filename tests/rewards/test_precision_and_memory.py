"""Precision choice, gradient accumulation, gradient checkpointing and LoRA on the CPU paths."""
import pytest
import torch

from rewards.training import RankingGroup, RewardConfig, load_backbone, load_checkpoint, score, train_reward_model
from rewards.training.precision import grad_scaler, resolve_precision

CUDA = torch.device("cuda", 0)
CPU = torch.device("cpu")


def groups(count, k=3):
    return [RankingGroup(f"Say hello to the world number {i}.", [f"hello {i} " * (j + 1) for j in range(k)], list(range(1, k + 1)))
            for i in range(count)]


def tiny(tiny_model_dir, **overrides):
    return RewardConfig(**{"backbone": str(tiny_model_dir), "max_length": 48, "learning_rate": 1e-3, **overrides})


def test_auto_precision_is_fp32_on_cpu_bf16_on_capable_gpus_fp16_on_older_ones(monkeypatch):
    assert resolve_precision("auto", CPU) == "fp32"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: True)
    assert resolve_precision("auto", CUDA) == "bf16"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: False)
    assert resolve_precision("auto", CUDA) == "fp16"
    assert resolve_precision("bf16", CPU) == "bf16" and resolve_precision("fp32", CUDA) == "fp32"  # explicit wins
    with pytest.raises(ValueError, match="precision must be one of"):
        resolve_precision("fp8", CPU)


def test_only_fp16_scales_the_loss():
    assert grad_scaler("fp16", CPU).is_enabled()
    assert not grad_scaler("bf16", CPU).is_enabled() and not grad_scaler("fp32", CPU).is_enabled()


def test_accumulation_gives_the_big_batch_steps(tiny_model_dir):
    """Five groups per step in one pass, or in three passes of 1, 2 and 2 groups: same losses, same weights."""
    data = groups(10)
    one_pass = train_reward_model(tiny(tiny_model_dir, groups_per_step=5, max_steps=2), data, [])
    three_passes = train_reward_model(tiny(tiny_model_dir, groups_per_step=5, max_steps=2, gradient_accumulation_steps=3), data, [])
    assert three_passes.loss_history == pytest.approx(one_pass.loss_history, abs=1e-5)
    assert one_pass.loss_history[0] != pytest.approx(one_pass.loss_history[1], abs=1e-3)  # the weights did move
    expected = one_pass.model.state_dict()
    # The loss ignores a common shift of the rewards, so the head's bias gets a zero gradient plus rounding
    # noise, which Adam's normalisation blows up to steps of the learning rate's size: it is left out.
    assert all(torch.allclose(tensor, expected[name], atol=1e-5)
               for name, tensor in three_passes.model.state_dict().items() if name != "head.bias")


def test_accumulation_needs_a_group_for_every_pass(tiny_model_dir):
    with pytest.raises(ValueError, match="at least 3"):
        train_reward_model(tiny(tiny_model_dir, groups_per_step=2, max_steps=1, gradient_accumulation_steps=3), groups(4), [])


def test_checkpointing_changes_memory_not_results(tiny_model_dir):
    plain = train_reward_model(tiny(tiny_model_dir, groups_per_step=4, max_steps=2), groups(8), [])
    recomputed = train_reward_model(tiny(tiny_model_dir, groups_per_step=4, max_steps=2, gradient_checkpointing=True), groups(8), [])
    assert recomputed.model.backbone.is_activation_checkpointing
    assert recomputed.loss_history == pytest.approx(plain.loss_history, abs=1e-5)


def test_checkpoint_records_the_precision_it_was_trained_in(tiny_model_dir, tmp_path):
    fp32 = train_reward_model(tiny(tiny_model_dir, groups_per_step=2, max_steps=1, output_dir=str(tmp_path / "fp32")), groups(2), [])
    # bf16 autocast exists on the CPU too, so the lower-precision path runs here, not only on a GPU.
    bf16 = train_reward_model(tiny(tiny_model_dir, groups_per_step=2, max_steps=1, precision="bf16", output_dir=str(tmp_path / "bf16")), groups(2), [])
    assert fp32.precision == "fp32" and bf16.precision == "bf16" and bf16.metrics["precision"] == "bf16"
    assert load_checkpoint(fp32.checkpoint_dir)[2]["precision"] == "fp32"
    metadata = load_checkpoint(bf16.checkpoint_dir)[2]
    assert metadata["precision"] == "bf16" and metadata["weights_dtype"] == "float32"  # autocast: fp32 master weights
    assert bf16.loss_history[0] == pytest.approx(fp32.loss_history[0], abs=0.05)  # same model, rounder arithmetic
    assert bf16.loss_history[0] != fp32.loss_history[0]


def test_lora_trains_adapters_and_head_and_saves_a_plain_checkpoint(tiny_model_dir, tmp_path):
    config = tiny(tiny_model_dir, groups_per_step=4, max_steps=2, lora_rank=4, learning_rate=1e-2, output_dir=str(tmp_path / "rm"))
    torch.manual_seed(config.seed)  # as the trainer does before loading: the same fresh head
    untouched, _ = load_backbone(tiny_model_dir)
    result = train_reward_model(config, groups(8), [])
    state, before = result.model.state_dict(), untouched.state_dict()
    assert set(state) == set(before)  # adapters merged away: the same tensors as a model without LoRA
    assert not torch.equal(state["head.weight"], before["head.weight"])
    assert torch.equal(state["backbone.embed_tokens.weight"], before["backbone.embed_tokens.weight"])  # frozen, no adapter
    assert not torch.equal(state["backbone.layers.0.self_attn.q_proj.weight"], before["backbone.layers.0.self_attn.q_proj.weight"])
    loaded, tokenizer, _ = load_checkpoint(result.checkpoint_dir)
    prompts, responses = ["Say hello."] * 2, ["hello", "hello world"]
    assert score(loaded, tokenizer, prompts, responses) == pytest.approx(score(result.model, result.tokenizer, prompts, responses), abs=1e-5)
