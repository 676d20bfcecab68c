"""Benchmark: Rankwise's K-wise reward trainer against TRL's RewardTrainer.

    python bench/reward_training.py [--speed-steps 6 --hh-steps 100 --max-length 128 ...]

Both sides use the same backbone (default: the packaged all-MiniLM-L6-v2), fp32 on CPU, no gradient
checkpointing, dropout off, fused AdamW, linear decay, the same learning rate, the same number of
comparisons per optimizer step and the same token ids (our prompt-left truncation feeds both, so
TRL drops no example for length).

1. Speed at K=4 and K=9 on synthetic rankings: comparisons per second. We forward each group's K
   responses once; TRL gets every ranking expanded into its C(K, 2) chosen/rejected pairs and
   forwards 2 * C(K, 2) sequences.
2. Quality on the HH harmless pairs (K=2): both train for the same steps on the same prompt split and
   are scored on the same held-out pairs.

Prints one JSON object on the last line.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from pathlib import Path

import torch
from datasets import Dataset
from transformers import AutoModelForSequenceClassification, AutoTokenizer, TrainerCallback
from trl import RewardConfig as TRLRewardConfig
from trl import RewardTrainer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rewards.training import (  # noqa: E402
    RankingGroup,
    RewardConfig,
    default_backbone_path,
    encode,
    load_jsonl,
    shared_data_dir,
    split_by_prompt,
    train_reward_model,
)

WORDS = (
    "the a model answer question helpful harmless because however people data reward rank better worse "
    "explain example safe policy user assistant response training loss gradient token sentence clear "
    "polite refuse detail summary step first second finally code python error fix idea plan"
).split()


def synthetic_groups(count: int, k: int, seed: int) -> list[RankingGroup]:
    rng = random.Random(seed)

    def text(low: int, high: int) -> str:
        return " ".join(rng.choice(WORDS) for _ in range(rng.randint(low, high)))

    return [
        RankingGroup(f"{text(20, 60)}?", [text(15, 50) for _ in range(k)], rng.sample(range(1, k + 1), k))
        for _ in range(count)
    ]


def expand_to_pairs(groups: list[RankingGroup], tokenizer, max_length: int) -> Dataset:
    """TRL's input: every ranking as its C(K, 2) (chosen, rejected) pairs, tokenized like ours."""
    rows = {"chosen_ids": [], "rejected_ids": []}
    for group in groups:
        ids = [encode(tokenizer, group.prompt, response, max_length)["input_ids"] for response in group.responses]
        for winner, loser in group.pairs():
            rows["chosen_ids"].append(ids[winner])
            rows["rejected_ids"].append(ids[loser])
    return Dataset.from_dict(rows)


class StepClock(TrainerCallback):
    def __init__(self):
        self.step_ends: list[float] = []

    def on_step_end(self, args, state, control, **kwargs):
        self.step_ends.append(time.perf_counter())


def train_trl(args, pairs: Dataset, comparisons_per_step: int, steps: int, output_dir: str):
    tokenizer = AutoTokenizer.from_pretrained(args.backbone)
    # TRL's RewardTrainer needs a sequence-classification model: the same MiniLM weights with a fresh
    # one-output head (BERT's pooler over [CLS]), where our model mean-pools under its own fresh head.
    torch.manual_seed(args.seed)
    model = AutoModelForSequenceClassification.from_pretrained(args.backbone, num_labels=1, dtype=torch.float32)
    config = TRLRewardConfig(
        output_dir=output_dir,
        per_device_train_batch_size=comparisons_per_step,
        max_steps=steps,
        learning_rate=args.learning_rate,
        lr_scheduler_type="linear",
        warmup_steps=0,
        weight_decay=0.0,
        max_grad_norm=1.0,
        bf16=False,
        gradient_checkpointing=False,
        disable_dropout=True,
        max_length=None,  # already truncated by `encode`, exactly as our trainer sees it
        use_cpu=True,
        save_strategy="no",
        logging_steps=10_000,
        report_to="none",
        seed=args.seed,
        dataloader_drop_last=True,
    )
    clock = StepClock()
    trainer = RewardTrainer(model=model, args=config, train_dataset=pairs, processing_class=tokenizer, callbacks=[clock])
    trainer.train()
    return trainer.model, clock.step_ends


def train_ours(args, groups: list[RankingGroup], groups_per_step: int, steps: int, validation=()):
    step_ends = []
    config = RewardConfig(
        backbone=args.backbone,
        max_length=args.max_length,
        learning_rate=args.learning_rate,
        groups_per_step=groups_per_step,
        max_steps=steps,
        eval_every=10**9,  # evaluate once, at the end, like the TRL side
        early_stopping_patience=None,
        seed=args.seed,
    )
    result = train_reward_model(config, groups, list(validation), on_progress=lambda *_: step_ends.append(time.perf_counter()))
    # The final evaluation runs after the last step, so it is outside the timed window.
    return result, step_ends


def comparisons_per_second(step_ends: list[float], comparisons_per_step: int) -> float:
    """Steady-state rate: the first step (allocations, warm-up) is not counted."""
    return comparisons_per_step * (len(step_ends) - 1) / (step_ends[-1] - step_ends[0])


@torch.inference_mode()
def trl_pairwise_accuracy(model, pairs: Dataset, pad_token_id: int, batch_size: int = 32) -> float:
    model.eval()
    correct = 0
    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start : start + batch_size]
        sequences = chunk["chosen_ids"] + chunk["rejected_ids"]
        longest = max(map(len, sequences))
        input_ids = torch.tensor([ids + [pad_token_id] * (longest - len(ids)) for ids in sequences])
        attention_mask = torch.tensor([[1] * len(ids) + [0] * (longest - len(ids)) for ids in sequences])
        rewards = model(input_ids=input_ids, attention_mask=attention_mask).logits.squeeze(-1)
        chosen, rejected = rewards.chunk(2)
        correct += (chosen > rejected).sum().item()
    return correct / len(pairs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default=str(default_backbone_path()))
    parser.add_argument("--max-length", type=int, default=128, help="Tokens per prompt+response, both sides.")
    parser.add_argument("--learning-rate", type=float, default=1e-4)
    parser.add_argument("--speed-ks", type=int, nargs="+", default=[4, 9])
    # 72 = 2 groups of K=9 or 12 of K=4: with a single small group per step the optimizer's fixed
    # cost (AdamW over all 22M parameters, dense embedding gradient) would dominate our side's step.
    parser.add_argument("--speed-comparisons-per-step", type=int, default=72, help="Must be a multiple of C(K, 2).")
    parser.add_argument("--speed-steps", type=int, default=6)
    parser.add_argument("--hh-steps", type=int, default=100, help="0 skips the HH accuracy comparison.")
    parser.add_argument("--hh-pairs-per-step", type=int, default=8)
    parser.add_argument("--hh-validation-pairs", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output-dir", default="/tmp/rankwise-bench-trl")
    args = parser.parse_args()
    tokenizer = AutoTokenizer.from_pretrained(args.backbone)
    report = {"backbone": Path(args.backbone).name, "max_length": args.max_length, "learning_rate": args.learning_rate,
              "torch_threads": torch.get_num_threads(), "speed": {}}

    for k in args.speed_ks:
        pairs_per_group = math.comb(k, 2)
        if args.speed_comparisons_per_step % pairs_per_group:
            raise SystemExit(f"--speed-comparisons-per-step must be a multiple of C({k}, 2) = {pairs_per_group}")
        groups_per_step = args.speed_comparisons_per_step // pairs_per_group
        groups = synthetic_groups(groups_per_step * args.speed_steps, k, seed=args.seed + k)
        _, our_steps = train_ours(args, groups, groups_per_step, args.speed_steps)
        _, trl_steps = train_trl(args, expand_to_pairs(groups, tokenizer, args.max_length), args.speed_comparisons_per_step, args.speed_steps, args.output_dir)
        ours = comparisons_per_second(our_steps, args.speed_comparisons_per_step)
        trl = comparisons_per_second(trl_steps, args.speed_comparisons_per_step)
        report["speed"][f"k{k}"] = {
            "groups_per_step": groups_per_step,
            "comparisons_per_step": args.speed_comparisons_per_step,
            "steps": args.speed_steps,
            "rankwise_comparisons_per_second": round(ours, 2),
            "trl_comparisons_per_second": round(trl, 2),
            "speedup": round(ours / trl, 2),
            "sequences_forwarded_per_step": {"rankwise": groups_per_step * k, "trl": 2 * args.speed_comparisons_per_step},
        }

    if args.hh_steps == 0:
        print(json.dumps(report))
        return
    hh = load_jsonl(shared_data_dir() / "hh_harmless_pairs.jsonl")
    train, validation = split_by_prompt(hh, validation_fraction=0.2, seed=args.seed)
    validation = validation[: args.hh_validation_pairs]
    ours, _ = train_ours(args, train, args.hh_pairs_per_step, args.hh_steps, validation)
    trl_model, _ = train_trl(args, expand_to_pairs(train, tokenizer, args.max_length), args.hh_pairs_per_step, args.hh_steps, args.output_dir)
    trl_accuracy = trl_pairwise_accuracy(trl_model, expand_to_pairs(validation, tokenizer, args.max_length), tokenizer.pad_token_id)
    our_accuracy = ours.metrics["validation_pairwise_accuracy"]
    report["hh_harmless"] = {
        "train_pairs": len(train),
        "validation_pairs": len(validation),
        "steps": args.hh_steps,
        "pairs_per_step": args.hh_pairs_per_step,
        "rankwise_accuracy": round(our_accuracy, 4),
        "trl_accuracy": round(trl_accuracy, 4),
        "accuracy_difference_points": round(100 * (our_accuracy - trl_accuracy), 2),
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
