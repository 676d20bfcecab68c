"""Ranking groups: the unit of reward-model training data.

One group is one labeler's ranking of the K responses sampled for one prompt. Rankings of the same
prompt by different labelers are separate groups that share a ``prompt_id``; splits are made by
``prompt_id`` so no prompt is seen on both sides.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from rankdata.agreement import prompt_agreement
from rankdata.comparisons import comparisons
from rankdata.records import read_ranked
from rankdata.text import Prompt


@dataclass
class RankingGroup:
    prompt: Prompt  # plain text, or chat messages [{"role": ..., "content": ...}, ...]
    responses: list[str]
    tiers: list[int]  # one per response; 1 = best, equal tiers = tie
    prompt_id: str = ""  # empty: derived from the prompt, so identical prompts share a split
    labelers_agreed: bool | None = None
    # How much better the labeler said the best response is than the second, as a loss margin (Llama 2's
    # preference strength: 1, 2/3, 1/3 or 0); only the top pair's comparison gets it.
    top_margin: float = 0.0

    def __post_init__(self):
        if len(self.responses) != len(self.tiers):
            raise ValueError(f"{len(self.responses)} responses but {len(self.tiers)} tiers")
        if not all(isinstance(tier, int) and not isinstance(tier, bool) and tier >= 1 for tier in self.tiers):
            raise ValueError(f"tiers must be integers >= 1, got {self.tiers}")
        if not self.prompt_id:
            self.prompt_id = prompt_id_of(self.prompt)

    def pairs(self) -> list[tuple[int, int]]:
        """(winner_index, loser_index) for every pair of responses in different tiers; ties give nothing."""
        return comparisons(self.tiers)

    def pair_margins(self) -> list[float]:
        """The loss margin of each comparison of pairs(): top_margin for tier 1 over tier 2, else 0."""
        return [self.top_margin if (self.tiers[w], self.tiers[l]) == (1, 2) else 0.0 for w, l in self.pairs()]


def prompt_id_of(prompt: Prompt) -> str:
    """Stable id of a prompt's content: the same text or messages always give the same id."""
    canonical = json.dumps(prompt, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def shared_data_dir() -> Path:
    """The project's shared data folder: $RANKWISE_SHARED_DATA, else ../shared/data beside the repo root."""
    override = os.environ.get("RANKWISE_SHARED_DATA")
    if override:
        return Path(override)
    repo_root = Path(__file__).resolve().parents[2]
    return repo_root.parent / "shared" / "data"


def load_jsonl(path: str | os.PathLike) -> list[RankingGroup]:
    """Read ranking groups from JSON lines: whatever rankdata.records.read_ranked reads, which includes
    Rankwise's own K-wise (grouped) and pairwise exports, HH-RLHF pairs and Open-Assistant ranked groups.

    A record's ``prompt_id`` (else its ``id``, the exported prompt's) groups rankings of one prompt. A
    group without ``labelers_agreed`` gets it from the other rankings of its prompt in the file (whether
    every labeler ordered every pair alike; None when ranked once). A bad line raises ValueError naming
    its line number.
    """
    groups, candidates = [], []
    with open(path, encoding="utf-8") as lines:
        for line_number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                ranked = read_ranked(json.loads(line))
                agreed = ranked.record.get("labelers_agreed")
                if agreed is not None and not isinstance(agreed, bool):
                    raise ValueError("'labelers_agreed' must be true, false or null")
                prompt_id = str(ranked.record.get("prompt_id") or ranked.id)
                groups.append(RankingGroup(ranked.prompt, ranked.responses, ranked.tiers, prompt_id, agreed))
            except (ValueError, TypeError) as error:
                raise ValueError(f"{path}, line {line_number}: {error}") from error
            # Rankings of one prompt show its candidates in different orders: match them by index.
            candidates.append(ranked.candidate_fields.get("candidate_indexes") or ranked.responses)
    _fill_in_agreement(groups, candidates)
    return groups


def _fill_in_agreement(groups: list[RankingGroup], candidates: list[list]) -> None:
    by_prompt: dict[str, list[int]] = {}
    for index, group in enumerate(groups):
        by_prompt.setdefault(group.prompt_id, []).append(index)
    for members in by_prompt.values():
        if len(members) < 2 or any(groups[i].labelers_agreed is not None for i in members):
            continue
        rankings = [dict(zip(candidates[i], groups[i].tiers)) for i in members]
        if all(len(ranking) == len(groups[i].tiers) and ranking.keys() == rankings[0].keys()
               for i, ranking in zip(members, rankings)):
            agreement = prompt_agreement(rankings)
            for i in members:
                groups[i].labelers_agreed = agreement == 1.0


def split_by_prompt(
    groups: list[RankingGroup], validation_fraction: float, seed: int = 0
) -> tuple[list[RankingGroup], list[RankingGroup]]:
    """Split into (train, validation) by prompt_id, so no prompt lands on both sides.

    Prompts are ordered by a seeded hash of their id and the first ``validation_fraction`` of them go to
    validation: the result depends only on the seed and the set of prompts, not on the order of ``groups``.
    """
    if not 0.0 <= validation_fraction < 1.0:
        raise ValueError(f"validation_fraction must be in [0, 1), got {validation_fraction}")
    prompt_ids = sorted(
        {group.prompt_id for group in groups}, key=lambda pid: hashlib.sha256(f"{seed}:{pid}".encode()).hexdigest()
    )
    num_validation = round(validation_fraction * len(prompt_ids))
    if validation_fraction > 0 and len(prompt_ids) >= 2:
        num_validation = min(max(num_validation, 1), len(prompt_ids) - 1)
    validation_ids = set(prompt_ids[:num_validation])
    train = [group for group in groups if group.prompt_id not in validation_ids]
    validation = [group for group in groups if group.prompt_id in validation_ids]
    return train, validation


def fingerprint(groups: list[RankingGroup]) -> str:
    """sha256 over the canonical form of the groups; independent of their order."""
    rows = sorted(json.dumps(asdict(group), ensure_ascii=False, sort_keys=True) for group in groups)
    digest = hashlib.sha256()
    for row in rows:
        digest.update(row.encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()
