"""Turning (prompt, response) pairs into token ids, and batches of ranking groups into tensors."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import PreTrainedTokenizerBase

from rankdata.text import Prompt, prompt_text, scored_text

from .data import RankingGroup


def encode(tokenizer: PreTrainedTokenizerBase, prompt: Prompt, response: str, max_length: int) -> dict[str, list[int]]:
    """Token ids of the text a reward model scores, ``rankdata.text.scored_text(prompt, response)``, as at
    most ``max_length`` tokens.

    The text is tokenized exactly as TRL's RewardTrainer tokenizes the pairwise export's ``prompt +
    chosen``: with the tokenizer's special tokens and, where it has one, its EOS token appended. A chat
    template is not applied, because the export is plain text (see rankdata.text). When too long, the
    prompt is cut from the left, because the end of the conversation and the whole response are what
    the reward is about; the response is cut (from the right) only once nothing of the prompt is left.
    Needs a fast tokenizer (for the character offsets that tell prompt tokens from response tokens).
    """
    prompt_end = len(prompt_text(prompt))
    text = scored_text(prompt, response)
    response_end = len(text)
    if tokenizer.eos_token and not text.endswith(tokenizer.eos_token):
        text += tokenizer.eos_token  # as TRL does; a special token, so it is never cut
    encoding = tokenizer(text, return_offsets_mapping=True, return_special_tokens_mask=True, verbose=False)
    prompt_tokens, response_tokens = [], []
    for position, ((start, _), special) in enumerate(zip(encoding["offset_mapping"], encoding["special_tokens_mask"])):
        if not special and start < prompt_end:
            prompt_tokens.append(position)
        elif not special and start < response_end:
            response_tokens.append(position)
    # Candidates to drop, in order: prompt tokens from the left, then response tokens from the right.
    drop_order = prompt_tokens + response_tokens[::-1]
    excess = len(encoding["input_ids"]) - max_length
    if excess > len(drop_order):
        raise ValueError(f"max_length={max_length} leaves no room beyond the special tokens")
    dropped = set(drop_order[: max(excess, 0)])
    return {
        key: [value for position, value in enumerate(values) if position not in dropped]
        for key, values in encoding.items()
        if key in ("input_ids", "token_type_ids")
    }


@dataclass
class RankingCollator:
    """Flattens a batch of ranking groups into one padded batch of all their responses.

    Besides the model inputs it returns index tensors over the flat rows: ``row_group`` (group of each
    row), ``winner_rows`` / ``loser_rows`` (one entry per comparison), ``pair_group`` (group of each
    comparison) and ``pair_margin`` (its loss margin), so the loss can gather every comparison from a single
    forward pass.
    """

    tokenizer: PreTrainedTokenizerBase
    max_length: int

    def encode_rows(self, prompts: list[Prompt], responses: list[str]) -> dict[str, torch.Tensor]:
        rows = [encode(self.tokenizer, p, r, self.max_length) for p, r in zip(prompts, responses)]
        longest = max(len(row["input_ids"]) for row in rows)
        batch = {"input_ids": torch.full((len(rows), longest), self.tokenizer.pad_token_id, dtype=torch.long)}
        batch["attention_mask"] = torch.zeros((len(rows), longest), dtype=torch.long)
        if "token_type_ids" in rows[0]:
            batch["token_type_ids"] = torch.zeros((len(rows), longest), dtype=torch.long)
        for index, row in enumerate(rows):  # right padding: the last real token is at attention_mask.sum() - 1
            length = len(row["input_ids"])
            batch["input_ids"][index, :length] = torch.tensor(row["input_ids"])
            batch["attention_mask"][index, :length] = 1
            if "token_type_ids" in batch:
                batch["token_type_ids"][index, :length] = torch.tensor(row["token_type_ids"])
        return batch

    def __call__(self, groups: list[RankingGroup]) -> dict[str, torch.Tensor]:
        prompts, responses, row_group, winners, losers, pair_group, margins = [], [], [], [], [], [], []
        for group_index, group in enumerate(groups):
            first_row = len(responses)
            for winner, loser in group.pairs():
                winners.append(first_row + winner)
                losers.append(first_row + loser)
                pair_group.append(group_index)
            margins.extend(group.pair_margins())
            prompts.extend([group.prompt] * len(group.responses))
            responses.extend(group.responses)
            row_group.extend([group_index] * len(group.responses))
        batch = self.encode_rows(prompts, responses)
        batch["row_group"] = torch.tensor(row_group, dtype=torch.long)
        batch["winner_rows"] = torch.tensor(winners, dtype=torch.long)
        batch["loser_rows"] = torch.tensor(losers, dtype=torch.long)
        batch["pair_group"] = torch.tensor(pair_group, dtype=torch.long)
        batch["pair_margin"] = torch.tensor(margins, dtype=torch.float)
        return batch


MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids", "position_ids", "reward_positions")


def model_inputs(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {key: batch[key].to(device) for key in MODEL_INPUTS if key in batch}
