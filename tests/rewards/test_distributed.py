"""DistributedDataParallel under torchrun: two gloo processes on this CPU follow one process's loss curve."""
import json
import os
import subprocess
import sys

import pytest

from rewards.training import RewardConfig, load_checkpoint, load_jsonl, split_by_prompt, train_reward_model

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WORDS = "hello world sea poem gravity child short write explain say".split()


def rankings(path, count=16):
    lines = []
    for i in range(count):
        prompt = " ".join(WORDS[(i + j) % len(WORDS)] for j in range(5 + i % 7))
        responses = [" ".join(WORDS[(i * k + j) % len(WORDS)] for j in range(2 + (i + k) % 5)) for k in range(3)]
        lines.append(json.dumps({"prompt": f"{prompt} {i}", "responses": responses, "tiers": [1, 2, 3]}))
    path.write_text("\n".join(lines))
    return path


def test_two_gloo_processes_match_one_process_with_the_whole_batch(tiny_model_dir, tmp_path):
    data = rankings(tmp_path / "rankings.jsonl")
    flags = {"backbone": str(tiny_model_dir), "max_steps": 3, "groups_per_step": 4, "learning_rate": 1e-3, "max_length": 48}
    completed = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m", "rewards.training",
         "--from-jsonl", str(data), "--output", str(tmp_path / "rm"), "--validation-fraction", "0.25",
         *[part for name, value in flags.items() for part in ("--" + name.replace("_", "-"), str(value))]],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    printed = [line for line in completed.stdout.splitlines() if line.startswith("{")]
    assert len(printed) == 1  # rank 0 reports, rank 1 stays quiet
    two = load_checkpoint(tmp_path / "rm")[2]["metrics"]
    assert sorted(os.listdir(tmp_path)) == ["rankings.jsonl", "rm"]  # one checkpoint, written once

    train, validation = split_by_prompt(load_jsonl(data), 0.25, seed=0)
    one = train_reward_model(RewardConfig(**flags), train, validation)
    assert two["processes"] == 2 and one.metrics["processes"] == 1
    assert two["loss_history"] == pytest.approx(one.loss_history, abs=1e-4)
    assert two["loss_history"][0] != pytest.approx(two["loss_history"][-1], abs=1e-3)
    # Validation is split across the ranks and its counts summed: the same figures as one process.
    assert two["validation_comparisons"] == one.metrics["validation_comparisons"] == 12
    assert two["validation_pairwise_accuracy"] == pytest.approx(one.metrics["validation_pairwise_accuracy"])
    assert two["validation_reward_mean"] == pytest.approx(one.metrics["validation_reward_mean"], abs=1e-4)
