"""The InstructGPT ranking loss over groups of K ranked responses."""

import torch
import torch.nn.functional as F


def ranking_loss(
    rewards: torch.Tensor, winner_rows: torch.Tensor, loser_rows: torch.Tensor, pair_group: torch.Tensor,
    margins: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean over groups of the mean over each group's comparisons of -log sigmoid(r_winner - r_loser - margin).

    ``rewards`` holds one scalar per flat row (every response of every group, forwarded once);
    ``winner_rows[i]`` beat ``loser_rows[i]`` in group ``pair_group[i]``. Averaging inside a group first
    makes each ranking count once whatever its K, as in InstructGPT, instead of letting a K=9 ranking
    weigh 36 times a K=2 one. Groups without comparisons (all tied) are simply absent from
    ``pair_group``, so they neither add a term nor count in the mean. ``margins`` (one per comparison, 0 where
    none was stated) asks for a larger reward gap where the labeler said one response is much better, as
    Llama 2's reward models do (Touvron et al. 2023, eq. 2).
    """
    if winner_rows.numel() == 0:
        return rewards.sum() * 0.0  # keeps the graph, so a batch of only ties is a harmless no-op step
    gaps = rewards[winner_rows] - rewards[loser_rows]
    pair_losses = -F.logsigmoid(gaps if margins is None else gaps - margins)
    num_groups = int(pair_group.max()) + 1
    loss_per_group = torch.zeros(num_groups, dtype=pair_losses.dtype, device=pair_losses.device)
    loss_per_group = loss_per_group.index_add(0, pair_group, pair_losses)
    pairs_per_group = torch.bincount(pair_group, minlength=num_groups)
    has_pairs = pairs_per_group > 0
    return (loss_per_group[has_pairs] / pairs_per_group[has_pairs]).mean()
