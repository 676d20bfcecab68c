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
        metadata={
            "help": "Ranking groups (prompts) per optimizer step, whatever the accumulation and the number of "
            "processes; every response of a group is forwarded once."
        },
    )
    gradient_accumulation_steps: int = field(
        default=1,
        metadata={"help": "Forward/backward passes per optimizer step, each over a share of groups_per_step (less memory)."},
    )
    gradient_checkpointing: bool = field(
        default=False, metadata={"help": "Recompute the backbone's activations in the backward pass (less memory, more compute)."}
    )
    precision: str = field(
        default="auto",
        metadata={"help": "auto, bf16, fp16 or fp32. auto: bf16 on GPUs that support it, fp16 with loss scaling on other GPUs, fp32 on the CPU."},
    )
    lora_rank: int = field(
        default=0, metadata={"help": "Train LoRA adapters of this rank on the backbone's linear layers instead of every weight (0: off)."}
    )
    lora_alpha: float = field(default=16.0, metadata={"help": "LoRA scaling numerator (the update is scaled by alpha / rank)."})
    shared_prompt: bool = field(
        default=True,
        metadata={"help": "Decoder backbones: forward each group's prompt once for its K responses (packed sequence)."},
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

    def __post_init__(self):
        if self.gradient_accumulation_steps < 1:
            raise ValueError(f"gradient_accumulation_steps must be at least 1, got {self.gradient_accumulation_steps}")
        if self.lora_rank < 0:
            raise ValueError(f"lora_rank must be 0 (off) or more, got {self.lora_rank}")
