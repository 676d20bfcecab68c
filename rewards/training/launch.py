"""Training on several devices from a process that is not itself under torchrun (the Celery worker).

``train_on_devices`` writes the run's config and groups to a job file, runs this module under
``torchrun --nproc-per-node N`` (one rank per GPU, or gloo processes on the CPU), relays rank 0's
progress lines to ``on_progress``, and returns the model rank 0 saved. The groups travel as JSON of the
``RankingGroup`` fields, so every rank trains on exactly the caller's split.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections import deque
from dataclasses import asdict, replace
from pathlib import Path

from .checkpoint import load_checkpoint
from .config import RewardConfig
from .data import RankingGroup
from .trainer import ProgressCallback, TrainingResult, train_reward_model

PROGRESS = "rankwise-progress "  # prefix of the progress lines rank 0 prints


def train_on_devices(
    config: RewardConfig,
    train_groups: list[RankingGroup],
    validation_groups: list[RankingGroup],
    processes: int,
    on_progress: ProgressCallback | None = None,
) -> TrainingResult:
    with tempfile.TemporaryDirectory(prefix="rankwise-torchrun-") as folder:
        job, output = Path(folder) / "job.json", Path(folder) / "checkpoint"
        job.write_text(json.dumps({
            "config": asdict(replace(config, output_dir=str(output))),
            "train": [asdict(group) for group in train_groups],
            "validation": [asdict(group) for group in validation_groups],
        }), encoding="utf-8")
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}",
                   "-m", __name__, str(job)]
        errors = deque(maxlen=40)
        with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as child:
            for line in child.stdout:
                if line.startswith(PROGRESS):
                    if on_progress is not None:
                        on_progress(*json.loads(line.removeprefix(PROGRESS)))
                else:
                    errors.append(line)
        if child.returncode != 0:
            raise RuntimeError(f"torchrun with {processes} processes exited with {child.returncode}:\n{''.join(errors)}")
        model, tokenizer, metadata = load_checkpoint(output)
        metrics = dict(metadata["metrics"])
        loss_history = metrics.pop("loss_history")
        return TrainingResult(model, tokenizer, metrics, loss_history, metadata["precision"])


def main(job_path: str) -> None:
    job = json.loads(Path(job_path).read_text(encoding="utf-8"))

    def report(step: int, total_steps: int, loss: float) -> None:
        print(PROGRESS + json.dumps([step, total_steps, loss]), flush=True)

    train_reward_model(
        RewardConfig(**job["config"]),
        [RankingGroup(**row) for row in job["train"]],
        [RankingGroup(**row) for row in job["validation"]],
        on_progress=report,  # called on rank 0 only
    )


if __name__ == "__main__":
    main(sys.argv[1])
