import itertools

import pytest
import torch
import torch.nn.functional as F

from rewards.training import RankingCollator, RankingGroup, ranking_loss


@pytest.fixture
def collator(minilm_tokenizer):
    return RankingCollator(minilm_tokenizer, max_length=32)


def loss_of(collator, groups, rewards):
    batch = collator(groups)
    return ranking_loss(torch.tensor(rewards, dtype=torch.float64), batch["winner_rows"], batch["loser_rows"], batch["pair_group"])


def group(tiers, prompt="p"):
    return RankingGroup(prompt, [f"response {i}" for i in range(len(tiers))], tiers)


def test_k2_equals_trl_pairwise_loss(collator):
    chosen = torch.tensor([0.3, -1.2, 2.0, 0.0], dtype=torch.float64)
    rejected = torch.tensor([0.1, 0.4, -0.5, 0.0], dtype=torch.float64)
    # Flat rows per group are [chosen, rejected] because the loader gives chosen tier 1, rejected tier 2.
    rewards = torch.stack([chosen, rejected], dim=1).flatten().tolist()
    ours = loss_of(collator, [group([1, 2]) for _ in range(4)], rewards)
    trl = -F.logsigmoid(chosen - rejected).mean()
    assert ours.item() == pytest.approx(trl.item(), abs=1e-6)


def test_k4_is_the_mean_of_its_six_pairwise_terms(collator):
    tiers = [3, 1, 4, 2]
    rewards = [0.5, 1.5, -0.3, 0.9]
    terms = [
        -F.logsigmoid(torch.tensor(rewards[w] - rewards[l], dtype=torch.float64))
        for w, l in itertools.permutations(range(4), 2)
        if tiers[w] < tiers[l]
    ]
    assert len(terms) == 6
    assert loss_of(collator, [group(tiers)], rewards).item() == pytest.approx(torch.stack(terms).mean().item(), abs=1e-9)


def test_ties_give_no_term(collator):
    rewards = [2.0, -1.0, 0.5]  # responses 0 and 1 are tied: their large gap must not matter
    expected = (-F.logsigmoid(torch.tensor(2.0 - 0.5)) - F.logsigmoid(torch.tensor(-1.0 - 0.5))) / 2
    assert loss_of(collator, [group([1, 1, 2])], rewards).item() == pytest.approx(expected.item(), abs=1e-6)


def test_groups_of_different_k_count_equally(collator):
    small, large = group([1, 2]), group([1, 2, 3, 4, 5, 6, 7, 8, 9])
    small_rewards, large_rewards = [0.1, 0.7], [float(r) for r in torch.linspace(-1, 1, 9)]
    small_loss = loss_of(collator, [small], small_rewards)
    large_loss = loss_of(collator, [large], large_rewards)
    together = loss_of(collator, [small, large], small_rewards + large_rewards)
    assert together.item() == pytest.approx((small_loss.item() + large_loss.item()) / 2, abs=1e-9)


def test_fully_tied_group_neither_adds_nor_divides(collator):
    ranked, tied = group([1, 2]), group([1, 1, 1])
    alone = loss_of(collator, [ranked], [0.2, 0.9])
    with_tied = loss_of(collator, [tied, ranked], [5.0, -5.0, 0.0, 0.2, 0.9])
    assert with_tied.item() == pytest.approx(alone.item(), abs=1e-9)


def test_batch_of_only_ties_is_zero_with_a_graph(collator):
    rewards = torch.tensor([1.0, 2.0], requires_grad=True)
    batch = collator([group([1, 1])])
    loss = ranking_loss(rewards, batch["winner_rows"], batch["loser_rows"], batch["pair_group"])
    loss.backward()
    assert loss.item() == 0.0 and rewards.grad.abs().sum().item() == 0.0


def test_pairs_lists_every_ordered_comparison_once():
    assert sorted(RankingGroup("p", ["a", "b", "c", "d"], [2, 1, 2, 3]).pairs()) == [(0, 3), (1, 0), (1, 2), (1, 3), (2, 3)]


def test_a_stated_preference_strength_is_a_margin_on_the_top_pair_only(collator):
    """Llama 2's margin loss: -log sigmoid(r_chosen - r_rejected - m) for tier 1 over tier 2, m = 0 elsewhere."""
    strong = RankingGroup("p", ["a", "b", "c"], [1, 2, 3], top_margin=1.0)
    batch = collator([strong])
    assert batch["pair_margin"].tolist() == [1.0, 0.0, 0.0]  # pairs (0,1), (0,2), (1,2)
    rewards = torch.tensor([0.5, 0.2, -1.0], dtype=torch.float64)
    with_margin = ranking_loss(rewards, batch["winner_rows"], batch["loser_rows"], batch["pair_group"],
                               batch["pair_margin"].double())
    expected = -(F.logsigmoid(torch.tensor(0.3 - 1.0)) + F.logsigmoid(torch.tensor(1.5))
                 + F.logsigmoid(torch.tensor(1.2))) / 3
    assert with_margin.item() == pytest.approx(expected.item(), abs=1e-6)
    # No margin stated: the plain loss.
    plain = collator([RankingGroup("p", ["a", "b", "c"], [1, 2, 3])])
    assert plain["pair_margin"].tolist() == [0.0, 0.0, 0.0]
