import os
import subprocess
import sys
import textwrap

import pytest

import rewards.training.checkpoint as checkpoint
from rewards.training import RewardConfig, load_checkpoint, save_checkpoint, score

PROMPTS = ["\n\nHuman: can you help me?\n\nAssistant:", "\n\nHuman: tell me a secret\n\nAssistant:"]
RESPONSES = [" Of course, what do you need?", " No."]


def save(model, tokenizer, directory, **metrics):
    return save_checkpoint(model, tokenizer, RewardConfig(max_length=64), {"data_fingerprint": "abc", **metrics}, directory)


def test_load_after_save_gives_the_same_scores_and_metadata(minilm_reward_model, tmp_path):
    model, tokenizer = minilm_reward_model
    directory = save(model, tokenizer, tmp_path / "rm", validation_pairwise_accuracy=0.61)
    loaded, loaded_tokenizer, metadata = load_checkpoint(directory)
    assert score(loaded, loaded_tokenizer, PROMPTS, RESPONSES) == pytest.approx(score(model, tokenizer, PROMPTS, RESPONSES), abs=1e-5)
    assert loaded_tokenizer.model_max_length == 64
    assert metadata["pooling"] == "mean" and metadata["data_fingerprint"] == "abc"
    assert metadata["config"]["max_length"] == 64 and metadata["metrics"]["validation_pairwise_accuracy"] == 0.61
    assert os.listdir(tmp_path) == ["rm"]  # no staging directory left behind


def test_crash_mid_save_leaves_no_directory_and_the_previous_checkpoint_loadable(minilm_reward_model, tmp_path, monkeypatch):
    model, tokenizer = minilm_reward_model
    directory = tmp_path / "rm"
    save(model, tokenizer, directory, version=1)

    def crash(path, metadata):  # the weights and tokenizer are already written when this runs
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint, "_write_metadata", crash)
    with pytest.raises(OSError, match="disk full"):
        save(model, tokenizer, directory, version=2)
    with pytest.raises(OSError):
        save(model, tokenizer, tmp_path / "new", version=2)
    assert sorted(os.listdir(tmp_path)) == ["rm"]
    assert load_checkpoint(directory)[2]["metrics"]["version"] == 1


def test_killed_process_never_leaves_a_half_written_final_directory(minilm_reward_model, tmp_path):
    model, tokenizer = minilm_reward_model
    directory = tmp_path / "rm"
    save(model, tokenizer, directory, version=1)
    # A separate process overwrites the checkpoint and is SIGKILLed once the new weights are on disk.
    script = textwrap.dedent(
        f"""
        import os, signal
        import rewards.training.checkpoint as checkpoint
        from rewards.training import RewardConfig, load_backbone, save_checkpoint, default_backbone_path
        model, tokenizer = load_backbone(default_backbone_path())
        def killed(path, metadata):
            assert (path.parent / "model.safetensors").exists()
            os.kill(os.getpid(), signal.SIGKILL)
        checkpoint._write_metadata = killed
        save_checkpoint(model, tokenizer, RewardConfig(), {{"version": 2}}, {str(directory)!r})
        """
    )
    repo_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    completed = subprocess.run([sys.executable, "-c", script], cwd=repo_root, capture_output=True, text=True, timeout=300)
    assert completed.returncode == -9, completed.stderr
    leftovers = [name for name in os.listdir(tmp_path) if name != "rm"]
    assert len(leftovers) == 1 and leftovers[0].startswith(".rm.partial-")  # hidden, never at the final name
    assert load_checkpoint(directory)[2]["metrics"]["version"] == 1
