"""Uncertainty order: rank slots of prompts whose candidates the reward model scores closest together come first."""
from labeling import workflow
from labeling.models import Candidate, RankOrder, Task, TaskKind
from tests.conftest import add_ready_prompt


def score(prompt, rewards):
    for candidate, reward in zip(prompt.candidates.order_by("index"), rewards):
        Candidate.objects.filter(pk=candidate.pk).update(reward=reward)


def test_the_smallest_reward_margin_is_ranked_first_and_unscored_prompts_before_all(project, labeler):
    project.rank_order = RankOrder.UNCERTAINTY
    project.save()
    clear, close, unscored = (add_ready_prompt(project, text) for text in ("clear", "close", "unscored"))
    score(clear, [3.0, 0.0, -3.0, 1.5])     # smallest gap 1.5
    score(close, [2.0, 1.9, -1.0, 0.5])     # smallest gap 0.1
    score(unscored, [1.0, None, 0.0, 2.0])  # one candidate not scored yet
    assert workflow.set_rank_priorities(project) == 3
    priorities = dict(Task.objects.filter(kind=TaskKind.RANK).values_list("prompt_id", "priority"))
    assert priorities[clear.pk] == 1.5 and abs(priorities[close.pk] - 0.1) < 1e-9 and priorities[unscored.pk] == 0
    order = []
    while (task := workflow.lease_next(labeler, project, TaskKind.RANK)) is not None:
        order.append(task.prompt_id)
        workflow.skip_task(task.pk, labeler, reason="other")
    assert order == [unscored.pk, close.pk, clear.pk]


def test_a_skipped_slot_keeps_its_place_and_arrival_order_resets_it(project, labeler):
    project.rank_order = RankOrder.UNCERTAINTY
    project.save()
    first, second = add_ready_prompt(project, "first"), add_ready_prompt(project, "second")
    score(first, [1.0, 0.0, -1.0, 2.0])
    score(second, [1.0, 0.99, -1.0, 2.0])
    workflow.set_rank_priorities(project)
    task = workflow.lease_next(labeler, project, TaskKind.RANK)
    assert task.prompt == second
    workflow.skip_task(task.pk, labeler, reason="other")
    replacement = Task.objects.get(prompt=second, state="open")
    assert abs(replacement.priority - 0.01) < 1e-9
    project.rank_order = RankOrder.ARRIVAL
    project.save()
    workflow.set_rank_priorities(project)
    assert set(Task.objects.filter(state="open").values_list("priority", flat=True)) == {0.0}


def score_two_versions(prompt, current, previous):
    for candidate, reward, previous_reward in zip(prompt.candidates.order_by("index"), current, previous):
        Candidate.objects.filter(pk=candidate.pk).update(reward=reward, previous_reward=previous_reward)


def leased_order(project, labeler):
    order = []
    while (task := workflow.lease_next(labeler, project, TaskKind.RANK)) is not None:
        order.append(task.prompt_id)
        workflow.skip_task(task.pk, labeler, reason="other")
    return order


def test_disagreement_of_the_two_versions_orders_the_slots(project, labeler):
    project.rank_order = RankOrder.DISAGREEMENT
    project.save()
    agree, reversed_, half, half_close, unscored = (
        add_ready_prompt(project, text) for text in ("agree", "reversed", "half", "half close", "unscored"))
    score_two_versions(agree, [4.0, 3.0, 2.0, 1.0], [8.0, 6.0, 4.0, 2.0])      # same order: 0 of 6 pairs differ
    score_two_versions(reversed_, [4.0, 3.0, 2.0, 1.0], [1.0, 2.0, 3.0, 4.0])  # 6 of 6 differ
    score_two_versions(half, [4.0, 3.0, 2.0, 1.0], [4.0, 3.0, 1.0, 2.0])       # 1 of 6 differs, margin 1
    score_two_versions(half_close, [4.0, 3.9, 2.0, 1.0], [4.0, 3.0, 1.0, 2.0])  # 1 of 6 differs, margin 0.1
    score_two_versions(unscored, [4.0, 3.0, 2.0, 1.0], [None, 3.0, 2.0, 1.0])
    assert workflow.set_rank_priorities(project) == 5
    priorities = dict(Task.objects.filter(kind=TaskKind.RANK).values_list("prompt_id", "priority"))
    # 1 - share of pairs ordered differently + margin / (1 + margin) / (pairs + 1), by hand:
    assert abs(priorities[reversed_.pk] - (0 + 0.5 / 7)) < 1e-9
    assert abs(priorities[half.pk] - (5 / 6 + 0.5 / 7)) < 1e-9
    assert abs(priorities[half_close.pk] - (5 / 6 + (0.1 / 1.1) / 7)) < 1e-9
    assert abs(priorities[agree.pk] - (1 + 0.5 / 7)) < 1e-9 and priorities[unscored.pk] == 0
    assert leased_order(project, labeler) == [unscored.pk, reversed_.pk, half_close.pk, half.pk, agree.pk]


def test_without_a_previous_version_disagreement_falls_back_to_the_margin(project, labeler):
    project.rank_order = RankOrder.DISAGREEMENT
    project.save()
    clear, close = add_ready_prompt(project, "clear"), add_ready_prompt(project, "close")
    score(clear, [3.0, 0.0, -3.0, 1.5])
    score(close, [2.0, 1.9, -1.0, 0.5])
    workflow.set_rank_priorities(project)
    assert leased_order(project, labeler) == [close.pk, clear.pk]


def test_the_disagreement_order_keeps_the_no_repeat_rule(project, labeler, other_labeler):
    project.rank_order, project.overlap = RankOrder.DISAGREEMENT, 2
    project.save()
    contested, settled = add_ready_prompt(project, "contested"), add_ready_prompt(project, "settled")
    score_two_versions(contested, [4.0, 3.0, 2.0, 1.0], [1.0, 2.0, 3.0, 4.0])
    score_two_versions(settled, [4.0, 3.0, 2.0, 1.0], [4.0, 3.0, 2.0, 1.0])
    workflow.set_rank_priorities(project)
    task = workflow.lease_next(labeler, project, TaskKind.RANK)
    assert task.prompt == contested
    workflow.submit_ranking(task.pk, labeler, ratings=[{"candidate": c, "tier": n, "likert": 4, "flags": []}
                                                       for n, c in enumerate(task.display_order, 1)])
    # The contested prompt's second slot still comes first, but never to the labeler who ranked it.
    assert workflow.lease_next(labeler, project, TaskKind.RANK).prompt == settled
    assert workflow.lease_next(other_labeler, project, TaskKind.RANK).prompt == contested
