"""Reward-model training from K-wise rankings (pure Python: no Django here).

Names load on first use (PEP 562), so that the web process, which only builds `RankingGroup`s, never
imports torch and transformers: they cost ~300 MB and seconds of start-up in every gunicorn worker."""
import importlib

_EXPORTS = {
    "load_checkpoint": "checkpoint", "save_checkpoint": "checkpoint",
    "RankingCollator": "collate", "encode": "collate",
    "RewardConfig": "config",
    "RankingGroup": "data", "fingerprint": "data", "load_jsonl": "data", "shared_data_dir": "data",
    "split_by_prompt": "data",
    "ranking_loss": "loss",
    "RewardModel": "model", "default_backbone_path": "model", "load_backbone": "model",
    "TrainingResult": "trainer", "evaluate": "trainer", "score": "trainer", "train_reward_model": "trainer",
    "train_on_devices": "launch",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value
