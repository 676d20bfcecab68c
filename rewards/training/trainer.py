"""Training a reward model from ranking groups, plus scoring and evaluation."""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from transformers import PreTrainedTokenizerBase

from .checkpoint import save_checkpoint
from .collate import RankingCollator, model_inputs
from .config import RewardConfig
from .data import Prompt, RankingGroup, fingerprint
from .distributed import Ranks, ranks_from_environment
from .loss import ranking_loss
from .model import RewardModel, load_backbone, with_lora
from .precision import autocast, grad_scaler, resolve_precision
from .prefix import SharedPromptCollator


@dataclass
class TrainingResult:
    model: RewardModel
    tokenizer: PreTrainedTokenizerBase
    metrics: dict
    loss_history: list[float]  # training loss of every optimizer step
    precision: str = "fp32"  # what the matrix products ran in: bf16, fp16 or fp32
    checkpoint_dir: str | None = None  # written by rank 0 only
    rank: int = 0  # this process's rank under torchrun


ProgressCallback = Callable[[int, int, float], None]


def train_reward_model(
    config: RewardConfig,
    train_groups: list[RankingGroup],
    validation_groups: list[RankingGroup],
    on_progress: ProgressCallback | None = None,
) -> TrainingResult:
    """Train with the InstructGPT ranking loss, keeping the weights with the best validation accuracy.

    Under ``torchrun`` every rank calls this with the same groups: each optimizer step's groups are split
    across ranks (and across the accumulation passes), DistributedDataParallel averages the gradients,
    losses and metrics are summed over ranks, and only rank 0 writes the checkpoint.
    """
    with ranks_from_environment() as ranks:
        return _train(config, train_groups, validation_groups, on_progress, ranks)


def _train(config, train_groups, validation_groups, on_progress, ranks: Ranks) -> TrainingResult:
    started = time.monotonic()
    torch.manual_seed(config.seed)  # the head's initialisation: the same on every rank
    model, tokenizer = load_backbone(config.backbone, config.pooling, device=ranks.device)
    # The cap travels with the saved tokenizer, so scoring later truncates exactly as training did.
    tokenizer.model_max_length = min(config.max_length, tokenizer.model_max_length)
    if config.disable_dropout:
        for module in model.modules():
            if isinstance(module, torch.nn.Dropout):
                module.p = 0.0
    if config.gradient_checkpointing:
        model.backbone.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    network = with_lora(model, config.lora_rank, config.lora_alpha) if config.lora_rank else model
    precision = resolve_precision(config.precision, ranks.device)

    # All-tied groups have no comparison: forwarding them would cost time and teach nothing.
    trainable = [group for group in train_groups if group.pairs()]
    if not trainable:
        raise ValueError("no training group has a comparison (all empty or fully tied)")
    passes = ranks.world_size * config.gradient_accumulation_steps
    if config.groups_per_step < passes or len(trainable) < passes:
        raise ValueError(
            f"groups_per_step={config.groups_per_step} and {len(trainable)} training groups must each be at least "
            f"{passes} (processes x gradient_accumulation_steps), so that no pass is empty"
        )
    collator = _collator(model, config)(tokenizer, tokenizer.model_max_length)
    # Every rank draws the same global batches (same seed) and takes its own share of each.
    loader = DataLoader(
        trainable, batch_size=config.groups_per_step, shuffle=True, collate_fn=list,
        generator=torch.Generator().manual_seed(config.seed),
    )
    total_steps = config.max_steps or max(1, math.ceil(config.epochs * len(loader)))

    # Mean pooling leaves an encoder's pooler layer out of the graph; every other setup uses all parameters.
    trained = DistributedDataParallel(network, find_unused_parameters=model.pooling == "mean") if ranks.distributed else network
    parameters = [parameter for parameter in network.parameters() if parameter.requires_grad]
    # The fused kernel updates all parameters in one pass: several times faster than the per-tensor loop on CPU.
    optimizer = torch.optim.AdamW(parameters, lr=config.learning_rate, weight_decay=config.weight_decay, fused=True)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _linear_warmup_then_decay(config.warmup_steps, total_steps))
    scaler = grad_scaler(precision, ranks.device)

    loss_history: list[float] = []
    best_accuracy, best_step, best_state, evaluations_without_gain = -1.0, 0, None, 0
    batches = _forever(loader, passes)
    network.train()
    for step in range(1, total_steps + 1):
        global_batch = next(batches)
        shares = _split(global_batch, passes)[ranks.rank :: ranks.world_size]
        step_loss = torch.zeros((), device=ranks.device)
        optimizer.zero_grad(set_to_none=True)
        for index, share in enumerate(shares):
            batch = {name: tensor.to(ranks.device) for name, tensor in collator(share).items()}
            # Gradients are synchronised once per step, on the last pass.
            sync = contextlib.nullcontext() if index == len(shares) - 1 or not ranks.distributed else trained.no_sync()
            with sync:
                with autocast(precision, ranks.device):
                    rewards = trained(**model_inputs(batch, ranks.device))  # every response of the share, in one forward pass
                    loss = ranking_loss(rewards.float(), batch["winner_rows"], batch["loser_rows"], batch["pair_group"],
                                        batch["pair_margin"])
                # The share's weight in the step's mean over groups; DDP's gradient average divides by world_size.
                weight = len(share) / len(global_batch)
                scaler.scale(loss * weight * ranks.world_size).backward()
            step_loss += loss.detach() * weight
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(parameters, config.max_grad_norm)
        scaler.step(optimizer)
        scaler.update()
        scheduler.step()
        loss_history.append(ranks.sum(step_loss).item())
        if on_progress is not None and ranks.is_main:
            on_progress(step, total_steps, loss_history[-1])

        if validation_groups and (step % config.eval_every == 0 or step == total_steps):
            accuracy = evaluate(model, tokenizer, validation_groups, config.eval_batch_size, precision, ranks)["pairwise_accuracy"]
            network.train()
            if accuracy is not None and accuracy > best_accuracy:
                best_accuracy, best_step, evaluations_without_gain = accuracy, step, 0
                best_state = {name: tensor.detach().clone() for name, tensor in network.state_dict().items()}
            else:
                evaluations_without_gain += 1
                if config.early_stopping_patience is not None and evaluations_without_gain >= config.early_stopping_patience:
                    break

    if best_state is not None:
        network.load_state_dict(best_state)
    if network is not model:
        network.merge_and_unload()  # folds the adapters into the backbone's weights: a plain checkpoint
    model.eval()
    metrics = {
        "steps": step,
        "total_steps": total_steps,
        "best_step": best_step or step,
        "final_train_loss": loss_history[-1],
        "train_groups": len(trainable),
        "train_prompts": len({group.prompt_id for group in trainable}),
        "train_comparisons": sum(len(group.pairs()) for group in trainable),
        "data_fingerprint": fingerprint(train_groups),
        "precision": precision,
        "processes": ranks.world_size,
    }
    if validation_groups:
        final = evaluate(model, tokenizer, validation_groups, config.eval_batch_size, precision, ranks)
        metrics.update({f"validation_{name}": value for name, value in final.items()})
        metrics["validation_data_fingerprint"] = fingerprint(validation_groups)
    metrics["elapsed_seconds"] = round(time.monotonic() - started, 2)

    checkpoint_dir = None
    if config.output_dir and ranks.is_main:
        checkpoint_dir = str(save_checkpoint(
            model, tokenizer, config, {**metrics, "loss_history": loss_history}, config.output_dir, precision=precision
        ))
    ranks.barrier()  # no rank leaves (and tears the group down) while rank 0 still writes
    return TrainingResult(model, tokenizer, metrics, loss_history, precision, checkpoint_dir, ranks.rank)


def _collator(model: RewardModel, config: RewardConfig) -> type[RankingCollator]:
    return SharedPromptCollator if config.shared_prompt and model.is_decoder else RankingCollator


def _split(groups: list, parts: int) -> list[list]:
    """``groups`` cut into ``parts`` consecutive shares whose sizes differ by at most one."""
    bounds = [len(groups) * part // parts for part in range(parts + 1)]
    return [groups[bounds[part] : bounds[part + 1]] for part in range(parts)]


def _linear_warmup_then_decay(warmup_steps: int, total_steps: int) -> Callable[[int], float]:
    """Learning-rate factor: up linearly over warmup_steps, then down linearly to zero (as HF's "linear")."""

    def factor(step: int) -> float:
        return min((step + 1) / max(1, warmup_steps), (total_steps - step) / max(1, total_steps - warmup_steps))

    return factor


def _forever(loader: DataLoader, passes: int):
    """Batches across epochs (each epoch reshuffles), skipping an epoch's last batch if too small to split."""
    while True:
        yield from (batch for batch in loader if len(batch) >= passes)


@torch.inference_mode()
def score(
    model: RewardModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: list[Prompt],
    responses: list[str],
    batch_size: int = 32,
) -> list[float]:
    """Reward of each (prompt, response), truncated like training (tokenizer.model_max_length)."""
    if len(prompts) != len(responses):
        raise ValueError(f"{len(prompts)} prompts but {len(responses)} responses")
    was_training = model.training
    model.eval()
    collator = RankingCollator(tokenizer, tokenizer.model_max_length)
    rewards = []
    for start in range(0, len(prompts), batch_size):
        batch = collator.encode_rows(prompts[start : start + batch_size], responses[start : start + batch_size])
        rewards.extend(model(**model_inputs(batch, model.device)).float().cpu().tolist())
    model.train(was_training)
    return rewards


@torch.inference_mode()
def evaluate(
    model: RewardModel,
    tokenizer: PreTrainedTokenizerBase,
    groups: list[RankingGroup],
    batch_size: int = 32,
    precision: str = "fp32",
    ranks: Ranks | None = None,
) -> dict:
    """Pairwise accuracy (winner scored strictly higher) over every comparison in ``groups``.

    Also splits accuracy by ``labelers_agreed`` (agreed / disagreed / unknown) and reports the mean and
    std of the rewards of all responses. Works for any model, e.g. a new version on an old validation set.
    With ``ranks`` of several processes, each scores its share of the groups and the counts are summed.
    """
    ranks = ranks or Ranks(device=model.device)
    was_training = model.training
    model.eval()
    collator = RankingCollator(tokenizer, tokenizer.model_max_length)
    buckets = {True: 0, False: 1, None: 2}  # agreed, disagreed, unknown
    # Per bucket: correct, counted; then the sum, the sum of squares and the number of rewards.
    tallies = torch.zeros(len(buckets) * 2 + 3, dtype=torch.float64)
    share = groups[ranks.rank :: ranks.world_size]
    for start in range(0, len(share), batch_size):
        chunk = share[start : start + batch_size]
        batch = collator(chunk)
        with autocast(precision, model.device):
            rewards = model(**model_inputs(batch, model.device)).double().cpu()
        tallies[-3:] += torch.stack([rewards.sum(), rewards.square().sum(), torch.tensor(float(rewards.numel()))])
        wins = (rewards[batch["winner_rows"]] > rewards[batch["loser_rows"]]).tolist()
        for won, group_index in zip(wins, batch["pair_group"].tolist()):
            bucket = buckets[chunk[group_index].labelers_agreed]
            tallies[2 * bucket] += won
            tallies[2 * bucket + 1] += 1
    model.train(was_training)
    tallies = ranks.sum(tallies.to(ranks.device)).cpu().tolist()
    correct, counted = tallies[0:6:2], tallies[1:6:2]
    reward_sum, reward_squares, count = tallies[-3:]
    comparisons = int(sum(counted))
    return {
        "pairwise_accuracy": sum(correct) / comparisons if comparisons else None,
        "comparisons": comparisons,
        "groups": len(groups),
        "prompts": len({group.prompt_id for group in groups}),
        "accuracy_by_agreement": {
            name: {"accuracy": correct[b] / counted[b] if counted[b] else None, "comparisons": int(counted[b])}
            for name, b in (("agreed", 0), ("disagreed", 1), ("unknown", 2))
        },
        "reward_mean": reward_sum / count if count else None,
        "reward_std": math.sqrt(max(reward_squares - reward_sum**2 / count, 0.0) / (count - 1)) if count > 1 else None,
    }
