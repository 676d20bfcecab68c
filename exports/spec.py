"""What an export contains: the dataset, the format, the filters and the split, checked in one place.

The API, the admin, the management command and the Celery task all build an ExportSpec from a plain dict
(the one stored on ExportJob.options), so a bad value fails the same way everywhere: a ValidationError
that names the field.
"""
from dataclasses import asdict, dataclass, field
from datetime import datetime

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.utils.dateparse import parse_datetime

from labeling.models import PromptKind, PromptSource

DATASETS = {
    "sft": "SFT: one row per demonstration, {prompt, completion}",
    "sft_chat": "SFT: one row per demonstration, chat {messages}",
    "pairwise": "RM pairwise: one row per comparison, {prompt, chosen, rejected}",
    "grouped": "RM grouped: one row per ranking, lossless (K-wise, ties, ratings, flags)",
    "ppo": "PPO prompts: prompts with no demonstration",
    "raw": "Raw: every record with its metadata, for audits",
}
FORMATS = {
    "jsonl": "JSON Lines",
    "jsonl.gz": "gzipped JSON Lines",
    "parquet": "Parquet",
    "hf": "Hugging Face datasets folder (save_to_disk), packed as .tar",
}
SPLIT_NAMES = ("train", "validation", "test")


MARGINS = ("likert", "strength")


@dataclass
class Filters:
    since: datetime | None = None
    until: datetime | None = None
    kinds: list = field(default_factory=list)
    sources: list = field(default_factory=list)
    labelers: list = field(default_factory=list)  # usernames
    min_agreement: float | None = None
    exclude_flagged: bool = False
    exclude_reported: bool = False
    # Quality (labeling's Ranking.objects.usable_for_training): by default an RM export leaves out rejected
    # and quarantined rankings and rankings of gold prompts.
    accepted_only: bool = False
    include_quarantined: bool = False
    include_gold: bool = False


@dataclass
class ExportSpec:
    project_id: int
    dataset: str
    format: str = "jsonl"
    filters: Filters = field(default_factory=Filters)
    # {"train": 0.8, "validation": 0.1, "test": 0.1}: shares of prompts; empty means one file.
    split: dict = field(default_factory=dict)
    seed: int = 0
    # Pairwise: "" (no margin column), "likert" (the chosen response's Likert score minus the rejected one's) or
    # "strength" (the labeler's stated preference strength as Llama 2's margin, 0 for pairs it is not about).
    margin: str = ""
    pseudonymize: bool = True

    @property
    def split_names(self):
        return [name for name in SPLIT_NAMES if self.split.get(name)] or [None]

    def to_dict(self):
        data = asdict(self)
        for key in ("since", "until"):
            value = data["filters"][key]
            data["filters"][key] = value.isoformat() if value else None
        return data

    @classmethod
    def from_dict(cls, data):
        """Build and check a spec; a bad value raises ValidationError naming the field."""
        if not isinstance(data, dict):
            raise ValidationError("the export options must be an object")
        errors = {}
        dataset, fmt = data.get("dataset"), data.get("format", "jsonl")
        if dataset not in DATASETS:
            errors["dataset"] = f"must be one of {', '.join(DATASETS)}"
        if fmt not in FORMATS:
            errors["format"] = f"must be one of {', '.join(FORMATS)}"
        project_id = data.get("project_id")
        if not isinstance(project_id, int) or isinstance(project_id, bool):
            errors["project_id"] = "must be a project id"
        filters = _filters(data.get("filters") or {}, errors)
        split = _split(data.get("split") or {}, errors)
        seed = data.get("seed", 0)
        if not isinstance(seed, int) or isinstance(seed, bool):
            errors["seed"] = "must be a whole number"
        if not isinstance(data.get("pseudonymize", True), bool):
            errors["pseudonymize"] = "must be true or false"
        margin = data.get("margin", False)
        # true is the older spelling of "likert".
        margin = {False: "", None: "", True: "likert"}.get(margin, margin) if not isinstance(margin, str) else margin
        if margin not in ("",) + MARGINS:
            errors["margin"] = f"must be false, true or one of {', '.join(MARGINS)}"
        if dataset == "raw" and split:
            errors["split"] = "the raw dataset is for audits and is not split"
        if errors:
            raise ValidationError(errors)
        return cls(project_id=project_id, dataset=dataset, format=fmt, filters=filters, split=split, seed=seed,
                   margin=margin, pseudonymize=data.get("pseudonymize", True))


def _filters(raw, errors):
    if not isinstance(raw, dict):
        errors["filters"] = "must be an object"
        return Filters()
    unknown = set(raw) - set(Filters.__dataclass_fields__)
    if unknown:
        errors["filters"] = f"unknown filters {sorted(unknown)}"
    result = Filters()
    for key in ("since", "until"):
        value = raw.get(key)
        if value in (None, ""):
            continue
        parsed = parse_datetime(value) if isinstance(value, str) else None
        if parsed is None:
            errors[f"filters.{key}"] = "must be an ISO 8601 date and time"
        setattr(result, key, parsed)
    for key, allowed in (("kinds", PromptKind.values), ("sources", PromptSource.values), ("labelers", None)):
        values = raw.get(key) or []
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            errors[f"filters.{key}"] = "must be a list of strings"
            continue
        bad = [v for v in values if allowed is not None and v not in allowed]
        if bad:
            errors[f"filters.{key}"] = f"{bad} not in {', '.join(allowed)}"
        setattr(result, key, values)
    agreement = raw.get("min_agreement")
    if agreement is not None:
        if not isinstance(agreement, (int, float)) or isinstance(agreement, bool) or not 0 <= agreement <= 1:
            errors["filters.min_agreement"] = "must be a number from 0 to 1"
        else:
            result.min_agreement = float(agreement)
    unknown_labelers = sorted(set(result.labelers) - set(
        User.objects.filter(username__in=result.labelers).values_list("username", flat=True)))
    if unknown_labelers:
        errors["filters.labelers"] = f"no such labeler: {', '.join(unknown_labelers)}"
    for key in ("exclude_flagged", "exclude_reported", "accepted_only", "include_quarantined", "include_gold"):
        if not isinstance(raw.get(key, False), bool):
            errors[f"filters.{key}"] = "must be true or false"
        else:
            setattr(result, key, raw.get(key, False))
    return result


def _split(raw, errors):
    if not isinstance(raw, dict) or set(raw) - set(SPLIT_NAMES):
        errors["split"] = f"must be an object with shares for {', '.join(SPLIT_NAMES)}"
        return {}
    if not raw:
        return {}
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 for v in raw.values()):
        errors["split"] = "shares must be non-negative numbers"
        return {}
    if abs(sum(raw.values()) - 1) > 1e-6:
        errors["split"] = f"shares must add up to 1, not {sum(raw.values())}"
        return {}
    return {name: float(raw[name]) for name in SPLIT_NAMES if raw.get(name)}
