"""Saving and loading trained reward models, atomically.

A checkpoint directory holds the backbone (``save_pretrained`` layout), the tokenizer (whose
``model_max_length`` is the training cap), ``reward_head.safetensors`` for the scalar head, and
``rankwise_reward_model.json`` with everything needed to rebuild and audit the model.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

import torch
import transformers
from safetensors.torch import load_file, save_file
from transformers import AutoTokenizer, PreTrainedTokenizerBase

from .config import RewardConfig
from .model import RewardModel

METADATA_FILE = "rankwise_reward_model.json"
HEAD_FILE = "reward_head.safetensors"
FORMAT_VERSION = 1


def save_checkpoint(
    model: RewardModel,
    tokenizer: PreTrainedTokenizerBase,
    config: RewardConfig,
    metrics: dict,
    directory: str | os.PathLike,
    precision: str = "fp32",
) -> Path:
    """Write the checkpoint to a hidden sibling directory, fsync it, then rename it to ``directory``.

    A process killed mid-save leaves at most a hidden ``.NAME.partial-*`` sibling, never a half-written
    ``directory``; an existing checkpoint at ``directory`` stays in place until the new one is complete.
    ``precision`` is the one the model was trained in (``TrainingResult.precision``); weights are saved
    in their own dtype, recorded beside it.
    """
    final = Path(directory).resolve()
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{final.name}.partial-", dir=final.parent))
    try:
        model.backbone.save_pretrained(staging)
        if model.pooling != "sequence_classification":
            save_file({name: t.detach().cpu().contiguous() for name, t in model.head.state_dict().items()}, staging / HEAD_FILE)
        tokenizer.save_pretrained(staging)
        _write_metadata(
            staging / METADATA_FILE,
            {
                "format_version": FORMAT_VERSION,
                "backbone": config.backbone,
                "backbone_model_type": model.backbone.config.model_type,
                "pooling": model.pooling,
                "precision": precision,
                "weights_dtype": str(next(model.parameters()).dtype).removeprefix("torch."),
                "max_length": tokenizer.model_max_length,
                "config": asdict(config),
                "metrics": metrics,
                "data_fingerprint": metrics.get("data_fingerprint"),
                "library_versions": {"torch": torch.__version__, "transformers": transformers.__version__},
                "saved_at": datetime.now(timezone.utc).isoformat(),
            },
        )
        _fsync_tree(staging)
        replaced = None
        if final.exists():
            # Directories cannot be renamed over a non-empty target: move the old one aside first.
            replaced = final.with_name(f".{final.name}.replaced-{uuid.uuid4().hex}")
            os.rename(final, replaced)
        os.rename(staging, final)
        _fsync_directory(final.parent)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if replaced is not None:
        shutil.rmtree(replaced, ignore_errors=True)
    return final


def load_checkpoint(directory: str | os.PathLike) -> tuple[RewardModel, PreTrainedTokenizerBase, dict]:
    """(model in eval mode, tokenizer, metadata) from a directory written by ``save_checkpoint``."""
    directory = Path(directory)
    metadata = json.loads((directory / METADATA_FILE).read_text(encoding="utf-8"))
    if metadata.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{directory}: unsupported checkpoint format {metadata.get('format_version')!r}")
    tokenizer = AutoTokenizer.from_pretrained(directory)
    model = RewardModel.from_pretrained(directory, pooling=metadata["pooling"])
    if model.pooling != "sequence_classification":
        model.head.load_state_dict(load_file(directory / HEAD_FILE, device=str(model.device)))
    model.eval()
    return model, tokenizer, metadata


def _write_metadata(path: Path, metadata: dict) -> None:
    path.write_text(json.dumps(metadata, indent=2, sort_keys=True, default=str), encoding="utf-8")


def _fsync_tree(root: Path) -> None:
    for folder, _, files in os.walk(root):
        for name in files:
            descriptor = os.open(os.path.join(folder, name), os.O_RDONLY)
            try:
                os.fsync(descriptor)
            finally:
                os.close(descriptor)
        _fsync_directory(Path(folder))


def _fsync_directory(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
