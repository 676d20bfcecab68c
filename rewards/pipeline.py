"""A training run from start to finish, on top of the pure-Python library in rewards.training.

Used by the Celery task and by `manage.py train_reward_model`, so both behave the same. The order of
the steps is what keeps a killed run harmless: the checkpoint directory appears by rename, the version
row is written after the rename, and promotion comes last.
"""
import shutil
import time
import traceback
from dataclasses import asdict, fields
from pathlib import Path

from django.conf import settings
from django.db import transaction

from rewards import data
from rewards.models import RewardModel, RunStatus
from rewards.training import (
    RewardConfig, evaluate, fingerprint, load_checkpoint, load_jsonl, save_checkpoint, score, split_by_prompt,
    train_on_devices, train_reward_model,
)

DEFAULT_VALIDATION_FRACTION = 0.1
# RewardConfig fields an admin may set per run. The backbone comes from settings, not from a request,
# because it is a path on the worker's disk.
TUNABLE = ["max_steps", "epochs", "learning_rate", "weight_decay", "warmup_steps", "groups_per_step",
           "max_length", "eval_every", "early_stopping_patience", "seed"]
PROGRESS_REPORTS_PER_RUN = 50
PROGRESS_MIN_INTERVAL_SECONDS = 2.0


def build_config(hyperparameters):
    """The RewardConfig of a run: library defaults, the configured backbone, then the run's overrides."""
    known = {f.name for f in fields(RewardConfig)}
    overrides = {k: v for k, v in hyperparameters.items() if k in known and k in TUNABLE}
    if settings.RANKWISE_RM_BACKBONE:
        overrides["backbone"] = settings.RANKWISE_RM_BACKBONE
    return RewardConfig(**overrides)


def project_model_dir(project_id):
    return Path(settings.RANKWISE_MODEL_DIR) / f"project-{project_id}"


def remove_partial_checkpoints(folder):
    """Delete what a killed save left behind: the library stages into hidden `.NAME.partial-*` (and moves
    a replaced checkpoint to `.NAME.replaced-*`). Only one run per project is active, so at the start of
    a run none of these belongs to a live writer."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    leftovers = [p for p in folder.iterdir() if p.name.startswith(".") and (".partial-" in p.name or
                                                                            ".replaced-" in p.name)]
    for path in leftovers:
        shutil.rmtree(path, ignore_errors=True)
    return leftovers


class ProgressReporter:
    """Feeds the library's per-step callback into the run row, a few dozen times per run rather than every
    step (each write is a database round trip), and into an optional extra callback (the CLI's tqdm bar)."""

    def __init__(self, run=None, on_step=None):
        self.run, self.on_step = run, on_step
        self.losses = []
        self.last_write = 0.0

    def __call__(self, step, total_steps, loss):
        self.losses.append(round(float(loss), 5))
        if self.on_step:
            self.on_step(step, total_steps, loss)
        if self.run is None:
            return
        every = max(1, total_steps // PROGRESS_REPORTS_PER_RUN)
        now = time.monotonic()
        if step == total_steps or step == 1 or (step % every == 0 and now - self.last_write >= PROGRESS_MIN_INTERVAL_SECONDS):
            self.last_write = now
            self.run.report_progress(step, total_steps, list(self.losses), f"step {step}/{total_steps} loss {loss:.4f}")


def split_for_run(groups, held_out_prompt_ids, validation_fraction, seed):
    """(train, validation). Prompts the current version validated on stay held out, so the new version
    can be measured on that same set without having trained on it."""
    held_out = set(held_out_prompt_ids)
    fresh = [g for g in groups if g.prompt_id not in held_out]
    train, validation = split_by_prompt(fresh, validation_fraction, seed)
    return train, validation + [g for g in groups if g.prompt_id in held_out]


def execute(run, on_step=None):
    """Run `run` (a queued TrainingRun) to the end. Safe to call twice: a run that is no longer queued
    is left alone. Any error fails the run with its traceback, then propagates."""
    if not run.start():
        return None
    try:
        return _train_and_record(run, on_step)
    except BaseException as exc:  # KeyboardInterrupt and SystemExit too: the row must not stay "running"
        run.fail("".join(traceback.format_exception(exc)))
        raise


def _train_and_record(run, on_step):
    project = run.project
    folder = project_model_dir(project.pk)
    for leftover in remove_partial_checkpoints(folder):
        run.append_log(f"removed unfinished checkpoint {leftover.name} of an earlier run")

    challenged = RewardModel.objects.current(project)
    newest_ranking = data.last_ranking_id(project)
    hyperparameters = {"validation_fraction": DEFAULT_VALIDATION_FRACTION, **run.hyperparameters}
    quality = {name: hyperparameters[name] for name in data.QUALITY_OPTIONS if name in hyperparameters}
    groups = list(data.ranking_groups(project, quality=quality))
    config = build_config(hyperparameters)
    train, validation = split_for_run(groups, challenged.validation_prompt_ids if challenged else [],
                                      hyperparameters["validation_fraction"], config.seed)
    comparisons = sum(len(g.pairs()) for g in train)
    run.record_data(last_ranking_id=newest_ranking, comparisons=comparisons, data_fingerprint=fingerprint(groups))
    run.append_log(f"{len(train)} training rankings ({comparisons} comparisons), {len(validation)} validation "
                   f"rankings; backbone {config.backbone}")
    if not comparisons:
        raise ValueError("no comparisons to train on yet: rankings are missing or all tied")

    result = run_training(config, train, validation, ProgressReporter(run, on_step))
    metrics = _metrics(result, validation)
    if challenged is not None:
        metrics["on_current_validation"] = _duel(result, challenged, validation)
        run.append_log(f"on v{challenged.version}'s validation set: new {metrics['on_current_validation']['new_accuracy']}"
                       f", current {metrics['on_current_validation']['current_accuracy']}")

    checkpoint = save_checkpoint(result.model, result.tokenizer, config, metrics, folder / f"run-{run.pk}",
                                 precision=result.precision)
    with transaction.atomic():
        version = RewardModel.record(
            run, checkpoint_path=str(checkpoint), backbone=config.backbone, hyperparameters=asdict(config),
            metrics=metrics, comparisons=comparisons, prompts=len({g.prompt_id for g in train}),
            data_fingerprint=run.data_fingerprint,
            validation_prompt_ids=sorted({int(g.prompt_id) for g in validation}),
        )
        run.append_log(f"saved version {version.version} to {checkpoint}")
        # Decided in the same transaction as the run's success, so that a finished run always shows its
        # version's promotion decision.
        promoted = version.promote_if_not_worse(challenged)
        run.append_log(f"version {version.version} "
                       f"{'is now current' if promoted else 'was kept as a candidate'}: {version.promotion['reason']}")
        if not run.move_to(RunStatus.SUCCEEDED, step=result.metrics["steps"]):
            # A sweep failed the run while it trained (no progress for too long): it was given up and may be
            # retried, so this result is dropped: no version, no promotion, and no checkpoint left behind.
            transaction.set_rollback(True)
            version = None
    if version is None:
        shutil.rmtree(checkpoint, ignore_errors=True)
    return version


def run_training(config, train_groups, validation_groups, on_progress):
    """In this process, or under torchrun with one process per device of the worker (RANKWISE_TRAINING_DEVICES)."""
    if settings.RANKWISE_TRAINING_DEVICES > 1:
        return train_on_devices(config, train_groups, validation_groups, settings.RANKWISE_TRAINING_DEVICES, on_progress)
    return train_reward_model(config, train_groups, validation_groups, on_progress=on_progress)


def _metrics(result, validation):
    own = {k.removeprefix("validation_"): v for k, v in result.metrics.items() if k.startswith("validation_")}
    return {
        "validation": own,
        "training": {k: v for k, v in result.metrics.items() if not k.startswith("validation_")},
        "loss_history": [round(x, 5) for x in result.loss_history],
        "validation_prompts": len({g.prompt_id for g in validation}),
    }


def _duel(result, challenged, validation):
    """Both versions' accuracy on the challenged version's validation prompts."""
    held_out = {str(pid) for pid in challenged.validation_prompt_ids}
    groups = [g for g in validation if g.prompt_id in held_out]
    old_model, old_tokenizer, _ = load_checkpoint(challenged.checkpoint_path)
    new = evaluate(result.model, result.tokenizer, groups)
    old = evaluate(old_model, old_tokenizer, groups)
    return {"against_version": challenged.version, "comparisons": new["comparisons"],
            "new_accuracy": new["pairwise_accuracy"], "current_accuracy": old["pairwise_accuracy"]}


def score_candidates(reward_model, batch_size=64, chunk_size=512):
    """Store `reward_model`'s reward on every candidate of its project and, when the project ranks by the
    disagreement of the last two versions, the previous version's as `previous_reward` (cleared otherwise,
    so no stale pair is compared later); then reorder its rank slots. Returns how many were scored."""
    from labeling import workflow
    from labeling.models import Candidate, RankOrder

    scorers = [load_checkpoint(reward_model.checkpoint_path)[:2]]
    if reward_model.project.rank_order == RankOrder.DISAGREEMENT:
        previous = reward_model.previous_version()
        if previous is not None:
            scorers.append(load_checkpoint(previous.checkpoint_path)[:2])
    candidates = (Candidate.objects.filter(prompt__project_id=reward_model.project_id)
                  .select_related("prompt").only("id", "text", "prompt__messages").order_by("id"))
    scored, chunk = 0, []
    for candidate in candidates.iterator(chunk_size=chunk_size):
        chunk.append(candidate)
        if len(chunk) == chunk_size:
            scored += _score_chunk(scorers, chunk, batch_size)
            chunk = []
    if chunk:
        scored += _score_chunk(scorers, chunk, batch_size)
    workflow.set_rank_priorities(reward_model.project)
    return scored


def _score_chunk(scorers, candidates, batch_size):
    """The current version's reward, and the previous version's where `scorers` holds it."""
    from labeling.models import Candidate

    conversations, texts = [c.prompt.messages for c in candidates], [c.text for c in candidates]
    rewards = [score(model, tokenizer, conversations, texts, batch_size) for model, tokenizer in scorers]
    previous = rewards[1] if len(rewards) > 1 else [None] * len(candidates)
    for candidate, reward, previous_reward in zip(candidates, rewards[0], previous):
        candidate.reward, candidate.previous_reward = reward, previous_reward
    Candidate.objects.bulk_update(candidates, ["reward", "previous_reward"])
    return len(candidates)


def train_from_jsonl(path, hyperparameters, output_dir, on_step=None):
    """Train on a JSONL file of pairs or K-wise rankings, outside any project; returns (metrics, checkpoint)."""
    hyperparameters = {"validation_fraction": DEFAULT_VALIDATION_FRACTION, **hyperparameters}
    config = build_config(hyperparameters)
    groups = load_jsonl(path)
    train, validation = split_by_prompt(groups, hyperparameters["validation_fraction"], config.seed)
    result = run_training(config, train, validation, ProgressReporter(on_step=on_step))
    metrics = _metrics(result, validation)
    return metrics, save_checkpoint(result.model, result.tokenizer, config, metrics, output_dir, precision=result.precision)
