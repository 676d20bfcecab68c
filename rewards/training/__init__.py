"""Reward-model training from K-wise rankings (pure Python: no Django here)."""

from .checkpoint import load_checkpoint, save_checkpoint
from .collate import RankingCollator, encode
from .config import RewardConfig
from .data import RankingGroup, fingerprint, load_jsonl, shared_data_dir, split_by_prompt
from .loss import ranking_loss
from .model import RewardModel, default_backbone_path, load_backbone
from .trainer import TrainingResult, evaluate, score, train_reward_model

__all__ = [
    "RankingCollator",
    "RankingGroup",
    "RewardConfig",
    "RewardModel",
    "TrainingResult",
    "default_backbone_path",
    "encode",
    "evaluate",
    "fingerprint",
    "load_backbone",
    "load_checkpoint",
    "load_jsonl",
    "ranking_loss",
    "save_checkpoint",
    "score",
    "shared_data_dir",
    "split_by_prompt",
    "train_reward_model",
]
