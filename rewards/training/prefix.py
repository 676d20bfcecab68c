"""Shared prompt prefix for decoder backbones: one sequence per ranking group instead of K.

The K rows of a group (prompt + response each, as ``RankingCollator`` encodes them) start with the same
prompt tokens. Packed, a group is one row ``prompt, response_1, ..., response_K`` whose attention mask
lets each response's tokens see the prompt and the earlier tokens of that response only, and whose
position ids restart after the prompt for every response. Every token then sees exactly what it sees in
its own unpacked row, so the rewards are the plain ones (within float rounding), while the prompt is
forwarded once per group rather than K times.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .collate import RankingCollator
from .data import RankingGroup


def common_prefix_length(rows: list[list[int]]) -> int:
    """Tokens all ``rows`` start with, leaving each row at least its own last token (where it is pooled)."""
    limit = min(len(row) for row in rows) - 1
    length = 0
    while length < limit and all(row[length] == rows[0][length] for row in rows):
        length += 1
    return length


def pack_groups(batch: dict[str, torch.Tensor], pad_token_id: int) -> dict[str, torch.Tensor]:
    """The model inputs of a flat, right-padded batch (one row per response, ``row_group`` giving each
    row's group) rewritten as one packed row per group; ``reward_positions`` keeps the flat row order."""
    lengths = batch["attention_mask"].sum(dim=1).tolist()
    rows = [ids[:length].tolist() for ids, length in zip(batch["input_ids"], lengths)]
    row_group = batch["row_group"].tolist()
    members: dict[int, list[int]] = {}
    for row, group in enumerate(row_group):
        members.setdefault(group, []).append(row)

    packed_ids, positions, segments, reward_positions = [], [], [], [None] * len(rows)
    for packed_row, group in enumerate(sorted(members)):
        group_rows = [rows[row] for row in members[group]]
        shared = common_prefix_length(group_rows)
        ids, position, segment = list(group_rows[0][:shared]), list(range(shared)), [0] * shared
        for number, (row, tokens) in enumerate(zip(members[group], group_rows), start=1):
            ids += tokens[shared:]
            position += range(shared, len(tokens))
            segment += [number] * (len(tokens) - shared)
            reward_positions[row] = (packed_row, len(ids) - 1)
        packed_ids.append(ids)
        positions.append(position)
        segments.append(segment)

    longest = max(map(len, packed_ids))
    padding = [longest - len(ids) for ids in packed_ids]
    input_ids = torch.tensor([ids + [pad_token_id] * pad for ids, pad in zip(packed_ids, padding)])
    position_ids = torch.tensor([position + [0] * pad for position, pad in zip(positions, padding)])
    # Padding gets segment -1: it sees only itself (a query seeing nothing would give NaN) and nobody sees it.
    segment = torch.tensor([seg + [-1] * pad for seg, pad in zip(segments, padding)])
    query, key = segment.unsqueeze(2), segment.unsqueeze(1)
    causal = torch.ones(longest, longest, dtype=torch.bool).tril()
    visible = causal & (key != -1) & ((query == key) | (key == 0))
    visible |= torch.eye(longest, dtype=torch.bool)
    return {
        "input_ids": input_ids,
        "attention_mask": visible.unsqueeze(1),  # (groups, 1, query, key): True = may attend
        "position_ids": position_ids,
        "reward_positions": torch.tensor(reward_positions, dtype=torch.long),
    }


@dataclass
class SharedPromptCollator(RankingCollator):
    """``RankingCollator`` whose model inputs are packed per group (same index tensors over flat rows)."""

    def __call__(self, groups: list[RankingGroup]) -> dict[str, torch.Tensor]:
        batch = super().__call__(groups)
        return {**batch, **pack_groups(batch, self.tokenizer.pad_token_id)}
