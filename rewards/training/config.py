"""Hyperparameters of a reward-model training run."""

from dataclasses import dataclass, field

from .model import default_backbone_path


@dataclass
class RewardConfig:
    backbone: str = field(
        default_factory=lambda: str(default_backbone_path()),
        metadata={"help": "Local path or hub id of the backbone (default: the packaged all-MiniLM-L6-v2)."},
    )
    pooling: str = field(
        default="auto",
        metadata={"help": "auto, mean, last_token or sequence_classification; auto picks from the backbone's config."},
    )
    max_length: int = field(default=256, metadata={"help": "Tokens per prompt+response; prompts are cut from the left."})
    learning_rate: float = field(default=5e-5, metadata={"help": "Peak AdamW learning rate."})
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay."})
    warmup_steps: int = field(default=0, metadata={"help": "Linear warm-up steps before the linear decay to zero."})
    max_grad_norm: float = field(default=1.0, metadata={"help": "Gradient norm clipping."})
    groups_per_step: int = field(
        default=8,
        metadata={"help": "Ranking groups per optimizer step; every response of a group is forwarded once."},
    )
    epochs: float = field(default=1.0, metadata={"help": "Passes over the training groups (ignored if max_steps)."})
    max_steps: int | None = field(default=None, metadata={"help": "Optimizer steps to run; overrides epochs."})
    eval_every: int = field(default=100, metadata={"help": "Evaluate on the validation groups every N steps."})
    early_stopping_patience: int | None = field(
        default=3,
        metadata={"help": "Stop after N evaluations without better validation accuracy (None: never)."},
    )
    eval_batch_size: int = field(default=32, metadata={"help": "Groups per forward pass when evaluating."})
    disable_dropout: bool = field(
        default=True, metadata={"help": "Turn dropout off: rewards should not depend on a random mask (as in TRL)."}
    )
    seed: int = field(default=0, metadata={"help": "Seed for the head's init, the data order and torch."})
    output_dir: str | None = field(default=None, metadata={"help": "Save the best model here as a checkpoint."})
