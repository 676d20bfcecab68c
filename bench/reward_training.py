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
3. Scaling, on a tiny decoder reward model (a Llama built on the spot, one token per word):
   ``ddp_2proc_loss_max_diff``, the largest gap between the loss curves of two gloo processes under
   torchrun and of one process with the whole batch (same seed); ``prefix_speedup_k8``, training steps
   per second with the shared prompt prefix over plain K-forward training at K=8 with 256-token prompts
   and 64-token responses; ``prefix_score_max_diff``, the largest gap between the two ways' rewards.

Prints one JSON object on the last line.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from datasets import Dataset
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import AutoModelForSequenceClassification, AutoTokenizer, LlamaConfig, LlamaModel, PreTrainedTokenizerFast, TrainerCallback
from trl import RewardConfig as TRLRewardConfig
from trl import RewardTrainer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rewards.training import (  # noqa: E402
    RankingCollator,
    RankingGroup,
    RewardConfig,
    default_backbone_path,
    encode,
    load_backbone,
    load_jsonl,
    shared_data_dir,
    split_by_prompt,
    train_reward_model,
)
from rewards.training.collate import model_inputs  # noqa: E402
from rewards.training.prefix import SharedPromptCollator  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]

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


def word_groups(count: int, k: int, prompt_words: int, response_words: int, seed: int) -> list[RankingGroup]:
    """Rankings of exactly ``prompt_words`` + ``response_words`` tokens per row under ``tiny_decoder``'s tokenizer."""
    rng = random.Random(seed)

    def text(words: int) -> str:
        return " ".join(rng.choice(WORDS) for _ in range(words))

    return [RankingGroup(text(prompt_words), [text(response_words) for _ in range(k)], rng.sample(range(1, k + 1), k)) for _ in range(count)]


def tiny_decoder(directory: Path, seed: int) -> Path:
    """A 2-layer Llama (hidden 512, grouped-query attention) with a one-token-per-word tokenizer, saved with
    save_pretrained. Wide enough that, as in real reward models, the linear layers outweigh attention."""
    vocabulary = {token: index for index, token in enumerate(["<pad>", "</s>", "<unk>", *WORDS])}
    tokenizer = Tokenizer(models.WordLevel(vocabulary, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(vocabulary), hidden_size=512, intermediate_size=2048, num_hidden_layers=2,
                         num_attention_heads=8, num_key_value_heads=2, max_position_embeddings=1024,
                         pad_token_id=fast.pad_token_id, eos_token_id=fast.eos_token_id)
    LlamaModel(config).save_pretrained(directory)
    fast.save_pretrained(directory)
    return directory


def scaling(args, backbone: Path) -> dict:
    """The issue-14 figures: DDP against one process, shared prompt prefix against K forwards."""
    # Two gloo processes under torchrun against one process with the whole batch: same data, seed, steps.
    small = word_groups(16, 4, prompt_words=24, response_words=8, seed=args.seed)
    flags = {"backbone": str(backbone), "max_steps": args.ddp_steps, "groups_per_step": 4, "learning_rate": 1e-3,
             "max_length": 64, "seed": args.seed}
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder) / "rankings.jsonl"
        data.write_text("\n".join(json.dumps({"prompt": g.prompt, "responses": g.responses, "tiers": g.tiers}) for g in small))
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m", "rewards.training",
                   "--from-jsonl", str(data), "--output", f"{folder}/rm", "--validation-fraction", "0",
                   *[part for name, value in flags.items() for part in ("--" + name.replace("_", "-"), str(value))]]
        subprocess.run(command, cwd=REPO_ROOT, check=True, capture_output=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
        two = json.loads((Path(folder) / "rm" / "rankwise_reward_model.json").read_text())["metrics"]["loss_history"]
    one = train_reward_model(RewardConfig(**flags), small, []).loss_history
    report = {"ddp_2proc_loss_max_diff": max(abs(a - b) for a, b in zip(one, two)), "ddp_steps": len(one)}

    # Shared prompt prefix at K=8, 256-token prompts, 64-token responses. The two ways alternate, and each
    # keeps the median of its step times, so that load from other processes falls on both alike. One
    # thread by default: on a machine shared with other jobs, each multi-threaded op waits for its slowest
    # thread, a fixed cost per op that would blur a comparison of two ways with the same ops on fewer tokens.
    threads = torch.get_num_threads()
    torch.set_num_threads(args.prefix_threads)
    groups = word_groups(args.prefix_groups_per_step * args.prefix_steps, 8, prompt_words=256, response_words=64, seed=args.seed)
    step_seconds = {True: [], False: []}
    for _ in range(args.prefix_rounds):
        for shared in (True, False):
            step_ends = []
            config = RewardConfig(backbone=str(backbone), max_length=320, groups_per_step=args.prefix_groups_per_step,
                                  max_steps=args.prefix_steps, shared_prompt=shared, seed=args.seed)
            train_reward_model(config, groups, [], on_progress=lambda *_: step_ends.append(time.perf_counter()))
            step_seconds[shared] += [end - start for start, end in zip(step_ends, step_ends[1:])]
    torch.set_num_threads(threads)
    rates = {shared: 1 / statistics.median(seconds) for shared, seconds in step_seconds.items()}
    model, tokenizer = load_backbone(backbone)
    model.eval()
    with torch.inference_mode():
        plain = model(**model_inputs(RankingCollator(tokenizer, 320)(groups[:4]), model.device))
        packed = model(**model_inputs(SharedPromptCollator(tokenizer, 320)(groups[:4]), model.device))
    report.update({
        "prefix_speedup_k8": round(rates[True] / rates[False], 2),
        "prefix_steps_per_second": {"shared_prompt": round(rates[True], 3), "plain": round(rates[False], 3)},
        "prefix_groups_per_step": args.prefix_groups_per_step,
        "prefix_torch_threads": args.prefix_threads,
        "prefix_score_max_diff": (plain - packed).abs().max().item(),
    })
    return report


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
    parser.add_argument("--speed-ks", type=int, nargs="*", default=[4, 9], help="None given skips the TRL speed comparison.")
    # 72 = 2 groups of K=9 or 12 of K=4: with a single small group per step the optimizer's fixed
    # cost (AdamW over all 22M parameters, dense embedding gradient) would dominate our side's step.
    parser.add_argument("--speed-comparisons-per-step", type=int, default=72, help="Must be a multiple of C(K, 2).")
    parser.add_argument("--speed-steps", type=int, default=6)
    parser.add_argument("--hh-steps", type=int, default=100, help="0 skips the HH accuracy comparison.")
    parser.add_argument("--hh-pairs-per-step", type=int, default=8)
    parser.add_argument("--hh-validation-pairs", type=int, default=300)
    parser.add_argument("--ddp-steps", type=int, default=4)
    parser.add_argument("--prefix-steps", type=int, default=4, help="Steps per run; the first step of a run is not timed.")
    parser.add_argument("--prefix-rounds", type=int, default=2, help="Runs per side, alternating.")
    parser.add_argument("--prefix-threads", type=int, default=1, help="torch threads while timing the prefix comparison.")
    parser.add_argument("--prefix-groups-per-step", type=int, default=2)
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

    with tempfile.TemporaryDirectory() as folder:
        report.update(scaling(args, tiny_decoder(Path(folder), args.seed)))

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
